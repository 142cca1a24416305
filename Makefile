# The two commands: `make run` (whole product with demo data) and `make test` (whole suite).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-pgbouncer faults venv services tools migrate seed static lock lint check bench soak soak-poll fuzz clean

$(STAMP): requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	@touch $(STAMP)

venv: $(STAMP)

.env:
	cp .env.example .env

services:
	@scripts/services.sh

# Debian packages the suite needs (docker-compose, chromium, chromium-driver); installs only what is missing.
tools:
	@scripts/ensure_tools.sh

migrate: venv services .env
	$(PY) manage.py migrate --noinput

# The demo fleet matches what seed_demo_history fills with a month of history in well under a
# minute (and what the simulator plays live); `make seed DEMO_MINERS=1500` for a bigger, slower one.
DEMO_MINERS ?= 50
seed: migrate
	$(PY) manage.py seed_demo --if-empty --miners $(DEMO_MINERS)
	$(PY) manage.py seed_demo_history --if-empty

# The Dockerfile runs `make venv` and `make static` too, so the image is built the same way.
static: venv
	$(PY) manage.py collectstatic --noinput -v0

run: seed static
	@scripts/run.sh

test: venv services tools
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole API suite again with every web-side connection through PgBouncer in transaction pooling
# mode (scripts/test_pgbouncer.py; docs/DEPLOYMENT.md "PgBouncer"). PYTEST_ARGS replaces the suite list.
test-pgbouncer: venv services tools
	$(PY) scripts/test_pgbouncer.py $(PYTEST_ARGS)

# The fault matrix (docs/OPERATIONS.md "Fault matrix"): the short versions (also in `make test`) and the
# long variants (`soak`, minutes each), against the suite's own PostgreSQL cluster and redis-server.
faults: venv services
	$(PY) -m pytest hashinsight/tests/faults -m "fault or soak" -rA $(PYTEST_ARGS)

# Lint, format and types (pyproject.toml), then Django's deploy checks under production-like settings.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

check: lint
	ENV_FILE= DEBUG=False SECRET_KEY=check-only-$$(date +%s)-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx DATABASE_URL=postgres://postgres@127.0.0.1/hashinsight \
	  ALLOWED_HOSTS=example.com CELERY_BROKER_URL=redis://127.0.0.1:6379/1 COLLECTOR_KEY_KEK=$$($(PY) -c "import secrets; print(secrets.token_hex(32))") $(PY) manage.py check --deploy --fail-level WARNING

# Every bench/*.py in turn (each makes and drops its own scratch database); results in bench/results/.
# bench/_*.py are shared helpers (bench/_harness.py), not benches; the soak has its own target.
bench: venv services
	@status=0; for f in bench/*.py; do case "$${f##*/}" in _*|soak.py) continue;; esac; echo "== $$f"; $(PY) $$f || status=1; done; exit $$status

# Sustained ingest soak, ≥ 10 minutes (bench/soak.py): `make soak SOAK_ARGS="--minutes 20"`. The
# 100-collector command poll run: `make soak-poll` (bench/command_poll_bench.py --mode fleet).
SOAK_ARGS ?=
soak: venv services
	$(PY) bench/soak.py $(SOAK_ARGS)

soak-poll: venv services
	$(PY) bench/command_poll_bench.py --mode fleet --collectors 100 --minutes 10

# Schemathesis over /api/schema/, every operation as anonymous, customer, NOC and collector token
# (hashinsight/tests/test_fuzz_schema.py; the suite runs it with 3 examples per operation). Every
# failure, with its request as curl and the answer, goes to FUZZ_REPORT. docs/SECURITY.md "Fuzzing".
# Each failure is written the moment it is found; FUZZ_PROGRESS gets a line per operation started.
# FUZZ_OPERATIONS="/api/admin/v1/audit,/api/client/" fuzzes only the operations whose label holds one;
# one persona: PYTEST_ARGS="-k noc".
FUZZ_EXAMPLES ?= 50
FUZZ_REPORT ?= var/fuzz-report.txt
FUZZ_PROGRESS ?= var/fuzz-progress.txt
FUZZ_OPERATIONS ?=
fuzz: venv services
	@mkdir -p $(dir $(FUZZ_REPORT)) $(dir $(FUZZ_PROGRESS)) && rm -f $(FUZZ_REPORT) $(FUZZ_PROGRESS)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_REPORT=$(FUZZ_REPORT) FUZZ_PROGRESS=$(FUZZ_PROGRESS) FUZZ_OPERATIONS="$(FUZZ_OPERATIONS)" \
	  $(PY) -m pytest hashinsight/tests/test_fuzz_schema.py -p no:logging -rA $(PYTEST_ARGS); \
	  status=$$?; [ -s $(FUZZ_REPORT) ] && echo "failures: $(FUZZ_REPORT)"; exit $$status

lock:
	$(PYTHON) -m venv /tmp/hi-lock && /tmp/hi-lock/bin/pip install -q -r requirements.in && \
	  { echo '# Generated: pip freeze of a venv built from requirements.in (Python 3.11). Regenerate with `make lock`.'; /tmp/hi-lock/bin/pip freeze; } > requirements.lock

clean:
	rm -rf $(VENV) var
