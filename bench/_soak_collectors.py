"""One group of the soak's simulated collectors (bench/soak.py): the product's own simulator,
`manage.py simulate_fleet`, unchanged, with each upload's latency and outcome also written as a
JSON line to --out (the command prints only a cycle's median and max). Not a bench itself.

    .venv/bin/python bench/_soak_collectors.py --out FILE -- <simulate_fleet arguments>
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hashinsight.settings")


def main() -> None:
    split = sys.argv.index("--")
    out_path = sys.argv[sys.argv.index("--out") + 1]
    args = sys.argv[split + 1 :]

    import django

    django.setup()
    from verification.management.commands import simulate_fleet

    out = open(out_path, "a", buffering=1)

    class Recorded(simulate_fleet.Command):
        def _line(self, run, mode, records, sent, replayed, took):
            every = sent + replayed
            out.write(
                json.dumps(
                    {
                        "at": time.time(),
                        "site": run.site.code,
                        "mode": mode,
                        "records": len(records),
                        "uploads": [[s.latency, s.ok, s.chunk.records, s.count("accepted")] for s in every],
                        "cycle_sec": took,
                    }
                )
                + "\n"
            )
            return super()._line(run, mode, records, sent, replayed, took)

    Recorded().run_from_argv(["manage.py", "simulate_fleet", *args])


if __name__ == "__main__":
    main()
