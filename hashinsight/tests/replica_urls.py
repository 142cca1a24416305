"""The project's URLs plus one page under /portal/ (so in the replica scope) for
replica_write_scenario.py: it sends one statement to the primary — a write, a data-modifying CTE or a
read-only CTE, by `?mode=` — then, on its first run, reads from a replica whose backend the scenario
has just terminated. RUNS counts the runs of each mode: 2 means ReplicaReadMiddleware ran it again."""

from collections import Counter

from django.db import connections
from django.http import HttpResponse
from django.urls import path

from hashinsight.urls import urlpatterns as project_urlpatterns
from tenants.models import Miner

RUNS: Counter = Counter()
PRIMARY_SQL = {
    "insert": "INSERT INTO replica_probe (note) VALUES (%s)",
    "cte_write": "WITH n AS (INSERT INTO replica_probe (note) VALUES (%s) RETURNING id) SELECT id FROM n",
    "cte_read": "WITH n AS (SELECT count(*) AS c FROM replica_probe WHERE note <> %s) SELECT c FROM n",
}
# Set by the scenario: called between the primary statement and the replica read of a first run.
BEFORE_REPLICA_READ: list = []


def primary_then_replica(request):
    mode = request.GET["mode"]
    RUNS[mode] += 1
    first = not getattr(request, "_replica_probe_ran", False)
    request._replica_probe_ran = True
    with connections["default"].cursor() as cur:
        cur.execute(PRIMARY_SQL[mode], [mode])
    if first:
        for hook in BEFORE_REPLICA_READ:
            hook()
    miners = list(Miner.objects.order_by("miner_id").values_list("miner_id", flat=True))  # the router's pick
    return HttpResponse(",".join(miners), content_type="text/plain")


urlpatterns = [path("portal/tests/primary-then-replica", primary_then_replica), *project_urlpatterns]
