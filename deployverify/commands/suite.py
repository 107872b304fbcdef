"""gate, smoke and canary: load the target (input errors exit 2 here, before pytest), then run the suite."""

from __future__ import annotations

import argparse
import importlib.util
from importlib import resources
from pathlib import Path

import pytest

from deployverify.core.errors import DeployVerifyError
from deployverify.core.run_ids import new_run_id
from deployverify.target import load_target, target_from_bundle

SUITES = {"gate": ("deployverify.checks",), "smoke": ("deployverify.smoke",), "canary": ("deployverify.smoke",)}
_EXIT = {pytest.ExitCode.OK: 0, pytest.ExitCode.TESTS_FAILED: 1}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("-c", "--config", metavar="FILE", help="target file (deployverify.yaml)")
    if name == "gate":
        parser.add_argument("--bundle", metavar="DIR", help="an already built bundle folder; no target file needed")
        parser.add_argument("--handler", metavar="MODULE.FUNC", help="the handler, with --bundle")
        parser.add_argument("--runtime", metavar="pythonX.Y", default="python3.12", help="with --bundle")
    if name in ("smoke", "canary"):
        parser.add_argument("--local", action="store_true",
                            help="against the local stack (deployverify local up): its endpoint, dummy keys, region")
    parser.add_argument("--image", metavar="IMAGE", help="Lambda image to run the probe in")
    parser.add_argument("--require-image", action="store_true",
                        help="fail rather than fall back to a sandbox when the image cannot run")
    parser.add_argument("--report-dir", metavar="DIR", help="where reports go (default reports/out/<run-id>)")
    parser.add_argument("--run-id", metavar="ID", help="tag for everything the run creates (default generated)")
    parser.add_argument("-n", dest="workers", metavar="N", help="run checks in N processes (pytest-xdist)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="only checks matching EXPR (pytest -k)")
    parser.add_argument("-v", "--verbose", action="store_true", help="pytest's full output and tracebacks")


def pytest_args(args: argparse.Namespace) -> list[str]:
    mode = args.command
    bundle = getattr(args, "bundle", None)
    if args.config and bundle:
        raise DeployVerifyError("use either -c FILE or --bundle DIR --handler M.F, not both")
    if args.config:
        load_target(args.config)  # input errors surface here, as one line and exit 2
        target_args = ["--dv-target", args.config]
    elif bundle:
        if not args.handler:
            raise DeployVerifyError("--bundle needs --handler MODULE.FUNC")
        target_from_bundle(bundle, args.handler, args.runtime)
        target_args = ["--dv-bundle", bundle, "--dv-handler", args.handler, "--dv-runtime", args.runtime]
    else:
        default = Path("deployverify.yaml")
        from deployverify.sam.reader import default_template

        template = default_template(Path("."))
        if not default.exists() and mode == "gate" and template.exists():
            default = target_from_template(template)
        if not default.exists():
            alternative = " or --bundle DIR --handler M.F" if mode == "gate" else ""
            raise DeployVerifyError(f"no target: pass -c FILE{alternative}"
                                    " (or run `deployverify init` to write deployverify.yaml)")
        load_target(default)
        target_args = ["--dv-target", str(default)]
    run_id = args.run_id or new_run_id()
    argv = [*suite_paths(mode), *target_args, "--dv-mode", mode, "--dv-run-id", run_id,
            "-c", str(suite_ini()), "--rootdir", suite_root(mode), "-p", "no:cacheprovider"]
    if args.image:
        argv += ["--dv-image", args.image]
    if args.require_image:
        argv.append("--dv-require-image")
    if args.report_dir:
        argv += ["--dv-report-dir", args.report_dir]
    if args.workers:
        argv += ["-n", args.workers]
    if args.keyword:
        argv += ["-k", args.keyword]
    argv += ["-v", "--tb=short"] if args.verbose else ["--tb=no", "-q", "-rN"]
    return argv


# Written beside template.yaml (so its paths and build inputs are the application's folder) and rewritten each run.
GENERATED_TARGET = ".deployverify.generated.yaml"


def target_from_template(template: Path) -> Path:
    """The gate in a SAM application's folder without deployverify.yaml: the target `init` would write, every
    function in its own code, regenerated from the template on each run."""
    from deployverify.commands.init import starter
    from deployverify.sam.application import load_application

    app = load_application(template)
    generated = template.parent / GENERATED_TARGET
    generated.write_text(starter(app, template.resolve().parent), encoding="utf-8")
    print(f"no deployverify.yaml: checking every function of {template} (target written to {generated})")
    return generated


def shipped_folder(package: str) -> Path:
    """Where a shipped suite folder is, without importing it (pytest imports it, under the name it chooses)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DeployVerifyError(f"{package} is not installed: reinstall deployverify")
    return Path(next(iter(spec.submodule_search_locations)))


def suite_paths(mode: str) -> list[str]:
    return [str(shipped_folder(package)) for package in SUITES[mode]]


def suite_root(mode: str) -> str:
    """The suites' parent folder, so node ids read `checks/test_build.py::...`."""
    return str(Path(suite_paths(mode)[0]).parent)


def suite_ini() -> Path:
    return Path(str(resources.files("deployverify").joinpath("suite.ini")))


def run(args: argparse.Namespace) -> int:
    if getattr(args, "local", False):
        from deployverify.local.stack_environment import apply_environment

        apply_environment()
    code = pytest.main(pytest_args(args))
    return _EXIT.get(pytest.ExitCode(code) if isinstance(code, int) else code, 2)
