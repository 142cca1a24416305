"""core.replica.statement_writes: which statements a replica-scoped request sent to the primary
count as a write (then a replica failure is not run again, core/replica.py). A `WITH` query is a
read unless it says INSERT, UPDATE, DELETE or MERGE; the SLA report's own CTEs are reads."""

import pytest
from psycopg2 import sql as pg_sql

from core.replica import statement_writes
from hosting.reports.sla_sql import _DAYS_SQL
from hosting.selectors.downtime import _SUMMARY_SQL

READS = [
    "SELECT 1",
    '(SELECT "a" FROM t) UNION (SELECT "a" FROM u)',
    "SAVEPOINT s1",
    "SET LOCAL statement_timeout = 5",
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "  with recursive t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT n FROM t",
    "WITH w AS (SELECT updated_at, deleted, inserted_by FROM hosting_workorder) SELECT * FROM w",
    "(WITH x AS (SELECT 1) SELECT * FROM x)",
    _DAYS_SQL,
    _SUMMARY_SQL,
]
WRITES = [
    "INSERT INTO t VALUES (1)",
    'UPDATE "hosting_evidencepack" SET "status" = %s',
    "DELETE FROM t",
    "WITH gone AS (DELETE FROM t WHERE id = 1 RETURNING id) SELECT count(*) FROM gone",
    "WITH new AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM new",
    "with x as (select 1) update t set a = 1 from x",
    "WITH src AS (SELECT 1 AS id) MERGE INTO t USING src ON t.id = src.id WHEN NOT MATCHED THEN INSERT VALUES (1)",
    "WITH x AS (SELECT id FROM t FOR UPDATE) SELECT * FROM x",  # a row lock: counted as a write (the safe side)
    "CREATE TABLE t (a int)",
    "TRUNCATE t",
    "COPY t FROM STDIN",
    pg_sql.SQL("SELECT 1"),  # composed SQL: not read as text, counted as a write
]


@pytest.mark.parametrize("statement", READS)
def test_reads_and_read_only_ctes_are_not_writes(statement):
    assert statement_writes(statement) is False


@pytest.mark.parametrize("statement", WRITES)
def test_writes_and_data_modifying_ctes_are_writes(statement):
    assert statement_writes(statement) is True
