#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing (apt-get update only then):
#   docker-compose   validates docker-compose.yml (`docker-compose config`; no Docker engine needed)
#   chromium, chromium-driver   browser tests (Playwright/Selenium drive Debian's chromium)
#   libpango-1.0-0, libpangoft2-1.0-0, fonts-dejavu-core   WeasyPrint (SLA report PDFs) and its font
#   nginx   in front of gunicorn (deploy/nginx): `make run`, the mTLS and slow-client tests
#   pgbouncer   transaction pooling in front of PostgreSQL (deploy/pgbouncer): its test, `make test-pgbouncer`
# Idempotent and quiet when everything is present; used by `make test` and .ci/run.
set -euo pipefail

PACKAGES=(docker-compose chromium chromium-driver libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core nginx pgbouncer)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "ensure_tools: missing ${missing[*]} and apt-get is not available; install them by hand" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "ensure_tools: missing ${missing[*]}; run as root or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi

echo "ensure_tools: installing ${missing[*]}"
# Another apt run (a parallel session, unattended-upgrades) may hold the dpkg lock: wait for it.
"${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
