"""pip install ships every package, suite and template; the console script and pytest plugin are registered."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapped = {pkg: Path(folder) for pkg, folder in config["package-dir"].items()}
    found = {"deployverify." + ".".join(p.parent.relative_to(ROOT / "deployverify").parts)
             for p in (ROOT / "deployverify").rglob("__init__.py")}
    found = {name.rstrip(".") for name in found}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert all((ROOT / folder / "__init__.py").exists() for folder in mapped.values())


def test_entry_points_registered() -> None:
    assert any(ep.name == "deployverify" and ep.value == "deployverify.plugin"
               for ep in entry_points(group="pytest11"))
    assert any(ep.name == "deployverify" for ep in entry_points(group="console_scripts"))


def test_help_and_checks_commands() -> None:
    help_text = subprocess.run([sys.executable, "-m", "deployverify.cli", "--help"], capture_output=True, text=True,
                               check=True).stdout
    for command in ("gate", "smoke", "canary", "init", "checks"):
        assert command in help_text
    listing = subprocess.run([sys.executable, "-m", "deployverify.cli", "checks"], capture_output=True, text=True,
                             check=True).stdout
    assert "DV101  The bundle builds" in listing
    assert "DV220  Every first-party module imports" in listing


def test_usage_errors_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "gate", "--bundle", "/nonexistent/dir",
                           "--handler", "app.handler"], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "--bundle /nonexistent/dir: is not a folder" in done.stderr
    assert "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "deployverify.cli", "frobnicate"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 2
