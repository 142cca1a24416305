"""The downtime definitions (docs/DOWNTIME.md), as printed into every SLA report and evidence pack."""

from pathlib import Path

from django.conf import settings

DEFINITIONS_PATH = Path(settings.BASE_DIR) / "docs" / "DOWNTIME.md"
DEFINITIONS_VERSION = "downtime-definitions.v1"
DEFINITIONS_TEXT = DEFINITIONS_PATH.read_text(encoding="utf-8")
