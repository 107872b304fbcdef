"""The database as the worker reaches it, and the test user's seed, against the real Postgres (a scratch database)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
import pytest

from deployverify.pipeline import db, seed
from deployverify.pipeline.secret_keys import KeyRead
from deployverify.pipeline.secrets import FetchedSecret
from deployverify.target.model import Secret, Seed
from tests.support.smoke_env import REPO, Database

pytest_plugins = ("tests.support.smoke_fixtures",)

SPEC = Secret(id="app/db", name="database", aliases={"database": ("dbname", "db_name")})
TEST_USER_SQL = REPO / "fixtures" / "seed" / "test_user.sql"


def secret(scratch: Database, **changes: object) -> FetchedSecret:
    values = {**scratch.secret(), **changes}
    return FetchedSecret(spec=SPEC, values={k: v for k, v in values.items() if v is not None})


def read(*keys: str) -> KeyRead:
    return KeyRead(keys=keys, path=Path("db.py"), line=62, function="db.connection_params", optional=False)


# -- connecting as the worker does -------------------------------------------------------------------------------------


def test_plan_connects_and_reports_the_server(scratch_database: Database) -> None:
    plan = db.connection_plan(secret(scratch_database), [read("host"), read("database", "dbname", "db_name")])
    conn = db.connect(plan)
    try:
        assert db.server_version(conn).split(".")[0].isdigit()
        assert plan.sources["dbname"] == "database"
        assert plan.params["application_name"] == "deployverify"
    finally:
        conn.close()


def test_plan_uses_the_key_the_code_reads_and_fails_like_the_worker(scratch_database: Database) -> None:
    # The incident: the code reads `dbname`, the secret stores `database`.
    with pytest.raises(db.ConnectionSettingsError) as caught:
        db.connection_plan(secret(scratch_database), [read("dbname")])

    assert "`dbname`" in str(caught.value)
    assert "`database`" in str(caught.value)  # named among the keys present
    assert scratch_database.name not in str(caught.value)


def test_plan_without_code_reads_accepts_any_spelling(scratch_database: Database) -> None:
    values = secret(scratch_database, database=None, db_name=scratch_database.name)
    assert db.connection_plan(values).sources["dbname"] == "db_name"


@pytest.mark.parametrize(("changes", "fix"), [
    ({"password": "wrong-pw-3c1d"}, "password"),
    ({"database": "dv_no_such_db"}, "does not exist"),
    ({"port": 1}, "unreachable"),
])
def test_connection_errors_say_what_to_fix_without_values(scratch_database: Database,
                                                          changes: dict[str, object], fix: str) -> None:
    values = secret(scratch_database, **changes)
    plan = db.connection_plan(values)
    with pytest.raises(psycopg2.OperationalError) as caught:
        db.connect(plan)

    assert fix in db.fix_for(caught.value)
    assert "wrong-pw-3c1d" not in db.describe_error(caught.value)


def test_table_columns_and_owner_column(scratch_database: Database) -> None:
    with scratch_database.connect() as conn:
        columns = db.table_columns(conn, "documents")
        assert columns is not None
        assert {"id", "status", "document_type", "confidence", "fields", "error", "run_id"} <= columns
        assert db.table_columns(conn, "no_such_table") is None
        assert db.foreign_key_to(conn, "documents", "users") == "user_id"


def test_headroom_counts_connections(scratch_database: Database) -> None:
    with scratch_database.connect() as conn, scratch_database.connect():
        room = db.headroom(conn)
    assert room.active >= 2
    assert room.maximum > room.active
    assert room.free == room.maximum - room.reserved - room.active


@pytest.mark.parametrize(("active", "maximum", "crowded"), [(10, 100, False), (80, 100, False), (81, 100, True)])
def test_headroom_warns_above_80_percent(active: int, maximum: int, crowded: bool) -> None:
    assert db.Headroom(active=active, maximum=maximum, reserved=3).crowded is crowded


# -- the seed ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def conn(scratch_database: Database):  # type: ignore[no-untyped-def]
    connection = scratch_database.connect()
    yield connection
    connection.close()


def users(conn: object, email: str) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT id, run_id FROM users WHERE email = %s", (email,))
        return list(cur.fetchall())


def test_seeding_twice_leaves_one_user_and_the_same_state(conn: object) -> None:
    spec = Seed(email="seed-twice@test.com", sql=TEST_USER_SQL)
    first = seed.run_seed(conn, spec, "dv-run-a")  # type: ignore[arg-type]
    state = seed.snapshot(conn, spec, "dv-run-a")  # type: ignore[arg-type]
    second = seed.run_seed(conn, spec, "dv-run-a")  # type: ignore[arg-type]

    assert first.id == second.id
    assert first.created_by_run
    assert seed.snapshot(conn, spec, "dv-run-a") == state  # type: ignore[arg-type]
    assert users(conn, spec.email) == [(first.id, "dv-run-a")]


def test_seed_runs_in_one_transaction(conn: object, tmp_path: Path) -> None:
    script = tmp_path / "broken.sql"
    script.write_text("INSERT INTO users (email, run_id) VALUES (%(email)s, %(run_id)s);\n"
                      "INSERT INTO no_such_table VALUES (1);\n")
    with pytest.raises(psycopg2.Error):
        seed.run_seed(conn, Seed(email="half-seeded@test.com", sql=script), "dv-run-b")  # type: ignore[arg-type]

    assert users(conn, "half-seeded@test.com") == []


def test_removal_keeps_users_the_run_did_not_create(conn: object) -> None:
    spec = Seed(email="existing@test.com", sql=TEST_USER_SQL)
    seed.run_seed(conn, spec, "dv-earlier-run")  # type: ignore[arg-type]
    mine = seed.run_seed(conn, spec, "dv-run-c")  # type: ignore[arg-type]

    removed = seed.remove_run_rows(conn, spec, "dv-run-c")  # type: ignore[arg-type]

    assert not mine.created_by_run
    assert removed == {"users": 0}
    assert users(conn, spec.email) == [(mine.id, "dv-earlier-run")]


def test_removal_of_a_user_still_owning_documents_waits_for_them(conn: object) -> None:
    spec = Seed(email="busy@test.com", sql=TEST_USER_SQL)
    user = seed.run_seed(conn, spec, "dv-run-d")  # type: ignore[arg-type]
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("INSERT INTO documents (user_id, s3_key, run_id) VALUES (%s, 'k', 'dv-run-d') RETURNING id",
                    (user.id,))
        document = cur.fetchone()[0]

    kept = seed.remove_run_rows(conn, spec, "dv-run-d", guard_table="documents",  # type: ignore[arg-type]
                                guard_column="user_id")
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("DELETE FROM documents WHERE id = %s", (document,))
    removed = seed.remove_run_rows(conn, spec, "dv-run-d", guard_table="documents",  # type: ignore[arg-type]
                                   guard_column="user_id")

    assert (kept, removed) == ({"users": 0}, {"users": 1})
    assert users(conn, spec.email) == []


def test_seed_without_the_user_is_an_input_error(conn: object, tmp_path: Path) -> None:
    script = tmp_path / "nothing.sql"
    script.write_text("INSERT INTO documents (s3_key, run_id) SELECT 'x', %(run_id)s WHERE false;")
    with pytest.raises(seed.SeedError) as caught:
        seed.run_seed(conn, Seed(email="nobody@test.com", sql=script), "dv-run-e")  # type: ignore[arg-type]
    assert "email" in str(caught.value)


def test_seeded_tables_are_read_from_the_script() -> None:
    script = TEST_USER_SQL.read_text() + '\n-- INSERT INTO commented_out\ninsert into public."Profiles" (x) values (1);'
    assert seed.seeded_tables(script) == ["users", 'public."Profiles"']
    assert json.dumps(seed.seeded_tables(seed.DEFAULT_SQL)) == '["users"]'
