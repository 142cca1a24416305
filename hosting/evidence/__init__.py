"""Evidence packs (docs/EVIDENCE_PACK.md): a zip built in bounded memory, file by file, streamed
from server-side cursors; verify_pack.py goes into every pack as its standalone verify.py."""

GENERATOR = "hashinsight.evidence-pack"
GENERATOR_VERSION = "1.0"
FORMAT = "hashinsight.evidence-pack.v1"
