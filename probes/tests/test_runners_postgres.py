"""`postgres` probes against the real PostgreSQL of the test run, as a read-only role of the test's own."""

import uuid

import pytest
from django.db import connection

from probes.runners import Target, run_batch, run_probe

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def reader():
    """A login role that may read and even write a scratch table: only the probe's transaction stops writes."""
    if connection.vendor != "postgresql":
        pytest.skip("postgres probes need PostgreSQL: set DATABASE_URL (CI does).")
    name, password = f"probe_ro_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS probe_scratch (n integer)")
        cursor.execute(f"CREATE ROLE {name} LOGIN PASSWORD %s", [password])
        cursor.execute(f"GRANT SELECT, INSERT ON probe_scratch, django_migrations TO {name}")
    settings = connection.settings_dict
    dsn = f"postgresql://{name}:{password}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    yield dsn, password
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {name}")
        cursor.execute(f"DROP ROLE {name}")
        cursor.execute("DROP TABLE IF EXISTS probe_scratch")


def pg(query, *expect, **fields):
    return {"type": "postgres", "dsn": "{{ secrets.DATABASE_URL }}", "query": query, "expect": list(expect), **fields}


def test_a_query_is_judged_and_a_write_is_refused(reader):
    dsn, password = reader
    target = Target("http://127.0.0.1", secrets={"DATABASE_URL": dsn})
    results = run_batch(
        {
            "count": pg("SELECT count(*) FROM django_migrations", "[VALUE] > 0", "[ROW_COUNT] == 1", "[CONNECT_TIME] < 5000"),
            "rows": pg("SELECT app, name FROM django_migrations WHERE app = 'probes' ORDER BY name",
                       '[ROWS][0][0] == "probes"', "len([ROWS]) >= 1"),
            "write": pg("INSERT INTO probe_scratch VALUES (1)", "[ROW_COUNT] == 0"),
            "slow": pg("SELECT pg_sleep(5)", "[ROW_COUNT] == 1", timeout=1),
        },
        target,
    )
    assert results["count"].status == "passed", results["count"].message
    assert results["rows"].status == "passed", results["rows"].message
    assert results["write"].status == "error"
    assert "read-only transaction" in results["write"].message
    assert results["slow"].status == "error" and "statement timeout" in results["slow"].message
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM probe_scratch")
        assert cursor.fetchone()[0] == 0
    for observation in results.values():
        assert password not in str(observation.as_dict())


def test_a_database_outside_the_environment_is_refused(reader):
    dsn, _ = reader
    target = Target("https://app.example.com", secrets={"DATABASE_URL": dsn})
    obs = run_probe(pg("SELECT 1", "[VALUE] == 1"), target)
    assert obs.status == "error" and "is not one of this environment's hosts" in obs.message
