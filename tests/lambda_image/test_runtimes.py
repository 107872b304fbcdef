"""deployverify.lambda_image.runtimes: the per-runtime facts other checks read."""

from __future__ import annotations

import pytest

from deployverify.core.errors import TargetError
from deployverify.lambda_image.runtimes import RUNTIMES, lambda_environment, runtime_info


@pytest.mark.parametrize(("runtime", "python", "glibc", "sdk_dir"), [
    ("python3.8", "3.8", "2.26", "/var/runtime"),
    ("python3.10", "3.10", "2.26", "/var/runtime"),
    ("python3.11", "3.11", "2.26", "/var/lang/lib/python3.11/site-packages"),
    ("python3.12", "3.12", "2.34", "/var/lang/lib/python3.12/site-packages"),
    ("python3.14", "3.14", "2.34", "/var/lang/lib/python3.14/site-packages"),
])
def test_runtime_table(runtime: str, python: str, glibc: str, sdk_dir: str) -> None:
    info = runtime_info(runtime)
    assert (info.python, info.glibc, info.sdk_dir) == (python, glibc, sdk_dir)
    path = info.sys_path()
    assert path[0] == "/var/task"
    assert path.index("/var/task") < path.index(f"/opt/python/lib/python{python}/site-packages") \
        < path.index("/opt/python") < path.index(sdk_dir)


def test_every_runtime_from_3_8_to_3_14() -> None:
    assert list(RUNTIMES) == [f"python3.{minor}" for minor in range(8, 15)]


def test_unknown_runtime_is_an_input_error() -> None:
    with pytest.raises(TargetError, match=r"python3\.7"):
        runtime_info("python3.7")


def test_environment_reserved_names_win() -> None:
    env = lambda_environment("python3.11", "app.handler", function_name="worker", memory_mb=1024,
                             region="eu-west-1", user_env={"AWS_REGION": "spoofed", "TZ": ":Europe/Paris", "X": "1"})
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["TZ"] == ":Europe/Paris"  # not reserved: a function may set it
    assert (env["_HANDLER"], env["AWS_LAMBDA_FUNCTION_NAME"], env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == \
        ("app.handler", "worker", "1024")
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["X"] == "1"
