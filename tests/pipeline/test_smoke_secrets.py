"""Secrets: fetching (against a moto server), redaction, JSON Schema validation, and the keys the code reads."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from deployverify.core import redact
from deployverify.pipeline.secret_keys import collect_key_reads, reads_for_secret
from deployverify.pipeline.secrets import FetchedSecret, SecretUnreadable, fetch, json_schema, suggest_key, validate
from deployverify.target.model import Secret
from fixtures.incidents.materialize import materialize
from tests.support.smoke_env import EXAMPLE, aws_client

pytest_plugins = ("tests.support.smoke_fixtures",)

DATABASE = Secret(id="app/database", name="database", env="DB_SECRET_ID",
                  required=("host", "port", "username", "password", "database"),
                  aliases={"database": ("dbname", "db_name")},
                  types={"host": "string", "port": "integer", "username": "string", "database": "string"})
GOOD = {"host": "db.internal", "port": 5432, "username": "worker", "password": "pw-1f0c9a7e77", "database": "credmate"}


def fetched(values: dict[str, object], spec: Secret = DATABASE) -> FetchedSecret:
    return FetchedSecret(spec=spec, values=values)


# -- fetching ----------------------------------------------------------------------------------------------------------


def test_fetch_parses_and_registers_secret_values_for_redaction(moto_url: str) -> None:
    client = aws_client("secretsmanager", moto_url)
    value = {**GOOD, "password": "pw-b7d21c0e5f", "nested": {"token": "tok-93e1aa04"}}
    client.create_secret(Name="t1/database", SecretString=json.dumps(value))

    secret = fetch(client, Secret(id="t1/database", name="database"))

    assert secret.keys == ("database", "host", "nested", "password", "port", "username")
    for leaked in ("pw-b7d21c0e5f", "tok-93e1aa04"):
        assert redact.redact(f"dsn with {leaked} inside") == "dsn with *** inside"
    # identifiers (host, user name, database name) stay readable: masking them would blank out the reports
    assert redact.redact("on db.internal") == "on db.internal"


@pytest.mark.parametrize(("create", "reason"), [
    (None, "ResourceNotFoundException"),
    ("not json at all: pw-77aa01", "not JSON"),
    ('["a", "list"]', "JSON array, not an object"),
])
def test_unreadable_secret_says_why_without_its_value(moto_url: str, create: str | None,
                                                      reason: str) -> None:
    client = aws_client("secretsmanager", moto_url)
    name = f"t2/{abs(hash(reason))}"
    if create is not None:
        client.create_secret(Name=name, SecretString=create)

    with pytest.raises(SecretUnreadable) as caught:
        fetch(client, Secret(id=name, name="db"))

    assert reason in caught.value.reason
    assert "pw-77aa01" not in str(caught.value)
    assert caught.value.fix


# -- schema ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("values", "problems"), [
    (GOOD, []),
    ({**{k: v for k, v in GOOD.items() if k != "database"}, "dbname": "credmate"}, []),  # an alias satisfies it
    ({k: v for k, v in GOOD.items() if k != "database"},
     ["lacks `database` (accepted spellings: `dbname`, `db_name`)"]),
    ({k: v for k, v in GOOD.items() if k != "password"}, ["lacks `password`"]),
    ({**GOOD, "port": "5432"}, ["has `port` as a string, the schema says an integer"]),
    ({"host": 7}, ["lacks `port`", "lacks `username`", "lacks `password`",
                   "lacks `database` (accepted spellings: `dbname`, `db_name`)",
                   "has `host` as an integer, the schema says a string"]),
])
def test_schema_problems_name_keys_never_values(values: dict[str, object], problems: list[str]) -> None:
    found = validate(fetched(values))

    assert sorted(p.problem for p in found) == sorted(problems)
    for problem in found:
        for value in ("credmate", "pw-1f0c9a7e77", "db.internal", "5432"):
            assert value not in problem.problem + problem.fix


def test_schema_is_json_schema_with_alias_alternatives() -> None:
    schema = json_schema(DATABASE)

    assert {"anyOf": [{"required": ["database"]}, {"required": ["dbname"]}, {"required": ["db_name"]}]} \
        in schema["allOf"]
    assert schema["properties"]["dbname"] == schema["properties"]["database"] == {"type": "string"}
    jsonschema.validate({**GOOD, "database": None, "dbname": "x"} | {"database": "y"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({k: v for k, v in GOOD.items() if k != "database"} | {"db_name": 7}, schema)


@pytest.mark.parametrize(("key", "values", "suggested"), [
    ("dbname", GOOD, "database"),  # a declared alias
    ("user", GOOD, "username"),  # a common spelling
    ("pasword", GOOD, "password"),  # a typo
    ("region", GOOD, None),
])
def test_suggested_key(key: str, values: dict[str, object], suggested: str | None) -> None:
    assert suggest_key(fetched(values), key) == suggested


# -- what the code reads -----------------------------------------------------------------------------------------------


def modules(root: Path) -> list[tuple[str, Path]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join(parts), path))
    return found


def reads_of(tmp_path: Path, files: dict[str, str]) -> list[tuple[tuple[str, ...], bool]]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return [(r.keys, r.optional) for r in collect_key_reads(modules(tmp_path))]


FETCH = """
    import json
    import boto3

    def load(secret_id):
        resp = boto3.client("secretsmanager").get_secret_value(SecretId=secret_id)
        return json.loads(resp["SecretString"])
"""


@pytest.mark.parametrize(("files", "expected"), [
    pytest.param({"app.py": FETCH + """
    def connect():
        s = load("x")
        return s["host"], s.get("dbname"), s.get("port", 5432)
    """}, [(("host",), False), (("dbname",), False), (("port",), True)], id="subscript-get-default"),
    pytest.param({"app.py": FETCH + """
    def connect():
        s = load("x")
        return s.get("database") or s.get("dbname") or s.get("db_name")
    """}, [(("database", "dbname", "db_name"), False)], id="or-alternatives"),
    pytest.param({"app.py": FETCH + """
    KEYS = ("database", "dbname")

    def connect():
        s = load("x")
        for key in KEYS:
            if key in s:
                return s[key]
    """}, [(("database", "dbname"), False)], id="loop-over-constant"),
    pytest.param({"app.py": FETCH + """
    def first(secret, keys):
        for key in keys:
            if secret.get(key):
                return secret.get(key)

    def connect():
        s = load("x")
        return first(s, ("username", "user")), first(s, ("sslmode",)) or "prefer"
    """}, [(("username", "user"), False), (("sslmode",), True)], id="helper-with-caller-keys"),
    pytest.param({"pkg/__init__.py": "", "pkg/secrets.py": FETCH, "pkg/db.py": """
    from .secrets import load

    class Db:
        def params(self, secret):
            return {"host": secret["host"]}

        def connect(self):
            return self.params(load("x"))
    """}, [(("host",), False)], id="relative-import-and-method"),
    pytest.param({"app.py": """
    import json, os

    def settings():
        return json.loads(os.environ["SETTINGS"])["host"]
    """}, [], id="json-that-is-not-a-secret"),
])
def test_key_reads(tmp_path: Path, files: dict[str, str], expected: list[tuple[tuple[str, ...], bool]]) -> None:
    assert sorted(reads_of(tmp_path, files)) == sorted(expected)


def test_healthy_example_reads_the_database_name_under_any_spelling() -> None:
    reads = collect_key_reads(modules(EXAMPLE / "apps" / "worker-tasks" / "src"))

    required = {r.keys for r in reads if not r.optional}
    assert required == {("host",), ("username",), ("password",), ("database", "dbname", "db_name")}
    assert all(not validate(fetched(GOOD)) for _ in reads)
    assert all(any(k in GOOD for k in r.keys) for r in reads if not r.optional)


def test_secret_key_mismatch_variant_reads_dbname_which_the_secret_lacks(tmp_path: Path) -> None:
    root = materialize("secret_key_mismatch", tmp_path / "variant") / "apps" / "worker-tasks" / "src"
    reads = reads_for_secret(collect_key_reads(modules(root)), "DB_SECRET_ID", "docworker/dev/database", 1)

    missing = [r for r in reads if not r.optional and not any(k in GOOD for k in r.keys)]
    assert [(r.keys, r.where(root)) for r in missing] == [(("dbname",), "db.py:62")]
    assert suggest_key(fetched(GOOD), "dbname") == "database"


def test_reads_are_matched_to_the_secret_their_module_fetches(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text(textwrap.dedent(FETCH + """
    ENV = "DB_SECRET_ID"
    def f():
        return load(ENV)["host"]
    """))
    (tmp_path / "two.py").write_text(textwrap.dedent(FETCH + """
    ENV = "API_SECRET_ID"
    def g():
        return load(ENV)["token"]
    """))
    reads = collect_key_reads(modules(tmp_path))

    assert [r.keys for r in reads_for_secret(reads, "DB_SECRET_ID", "db", 2)] == [("host",)]
    assert [r.keys for r in reads_for_secret(reads, "API_SECRET_ID", "api", 2)] == [("token",)]
