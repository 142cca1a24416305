"""Build one pack into a zip file on disk, section by section, reporting progress; the manifest
(written last) hashes every other file, verify.py included."""

import hashlib
import tempfile
from pathlib import Path

from django.utils import timezone

from hosting.definitions import DEFINITIONS_TEXT, DEFINITIONS_VERSION
from hosting.evidence import FORMAT, GENERATOR, GENERATOR_VERSION
from hosting.evidence.context import BuildContext
from hosting.evidence.sections_audit import audit_files
from hosting.evidence.sections_downtime import downtime_files, interval_file, metric_files
from hosting.evidence.sections_security import security_files
from hosting.evidence.sections_timeline import (
    alert_file,
    command_file,
    coverage_file,
    dark_file,
    maintenance_file,
    work_order_files,
)
from hosting.evidence.zipout import PackZip, ts

VERIFY_SOURCE = (Path(__file__).parent / "verify_pack.py").read_bytes()


def _manifest(ctx: BuildContext, pz: PackZip, figures: dict, tier: str, dark: int, chains: list[dict]) -> dict:
    return {
        "format": FORMAT,
        "generator": {"name": GENERATOR, "version": GENERATOR_VERSION},
        "generated_at": ts(ctx.now),
        "scope": {
            "tenant": {"slug": ctx.tenant.slug, "name": ctx.tenant.name},
            "site": {"code": ctx.site.code, "name": ctx.site.name, "timezone": ctx.site.timezone},
            "miners": len(ctx.miner_pks),
            "requested_by": ctx.user.get_username(),
        },
        "period": {
            "from": ts(ctx.start),
            "to": ts(ctx.end),
            "minutes": round((ctx.end - ctx.start).total_seconds() / 60.0, 3),
            "figures_until": ts(ctx.until),
        },
        "definitions": {"version": DEFINITIONS_VERSION, "file": "definitions.md"},
        "metrics_tier": tier,
        "summary": {**figures, "collector_dark_periods": dark},
        "files": [e.as_manifest() for e in pz.entries],
        "audit_chains": chains,
        "verify": "python3 verify.py  (standard library only; prints PASS or FAIL with the break)",
    }


def build_pack_zip(ctx: BuildContext) -> tuple[Path, str, int]:
    """Write the pack to a temporary file; returns (path, sha256 of the zip, size in bytes). The
    caller stores it and removes the file."""
    handle = tempfile.NamedTemporaryFile(prefix="evidence-", suffix=".zip", delete=False)
    path = Path(handle.name)
    try:
        with handle:
            pz = PackZip(handle)
            ctx.progress(5, "definitions")
            pz.text("definitions.md", DEFINITIONS_TEXT)
            pz.text("verify.py", VERIFY_SOURCE)
            ctx.progress(10, "downtime by miner and by site")
            figures = downtime_files(pz, ctx)
            ctx.progress(20, "downtime intervals")
            interval_file(pz, ctx)
            ctx.progress(30, "alerts, work orders, commands, maintenance")
            alert_file(pz, ctx)
            work_order_files(pz, ctx)
            command_file(pz, ctx)
            maintenance_file(pz, ctx)
            ctx.progress(40, "collector dark periods and upload coverage")
            dark = dark_file(pz, ctx)
            coverage_file(pz, ctx)
            ctx.progress(50, "metric snapshots")
            tier = metric_files(pz, ctx)
            ctx.progress(75, "edge security attestation")
            security_files(pz, ctx)
            ctx.progress(80, "audit chains")
            chains = audit_files(pz, ctx)
            ctx.progress(95, "manifest")
            pz.json("manifest.json", _manifest(ctx, pz, figures, tier, dark, chains))
            pz.entries.pop()  # the manifest lists the others, not itself
            pz.close()
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
        return path, digest.hexdigest(), size
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def build_context(pack, *, progress=None, now=None) -> BuildContext:
    return BuildContext(
        user=pack.requested_by,
        tenant=pack.tenant,
        site=pack.site,
        start=pack.period_start,
        end=pack.period_end,
        now=now or timezone.now(),
        progress=progress or (lambda pct, step: None),
    )
