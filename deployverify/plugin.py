"""The pytest plugin: loads the target, runs checks as tests, turns each into one Result, writes the reports.

Results are built where a check runs (an xdist worker or the only process) and travel to the controller in
`report.user_properties`, so `-n N` gives the same report as a serial run.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from deployverify.canary import history
from deployverify.core import check as dv
from deployverify.core import progress, redact, registry, retries
from deployverify.core.errors import DeployVerifyError
from deployverify.core.results import Result, RunReport, Severity, Status, merge_result
from deployverify.core.run_ids import new_run_id, now_iso
from deployverify.run_context import MODES, RunContext
from deployverify.target import Target, load_target, target_from_bundle

RUN_KEY = pytest.StashKey[RunContext]()
COLLECTOR_KEY = pytest.StashKey["Collector"]()
_PHASES = pytest.StashKey[list[tuple[str, str, Any]]]()
_RECORDING = pytest.StashKey[tuple[dv.Recorder, Any, float]]()
_STARTED = pytest.StashKey[float]()
_RETRIES = pytest.StashKey[dict[tuple[str, str], int]]()
RESULT_PROPERTY = "deployverify_result"
FUNCTION_PARAM = "dv_function"  # the gate suite's parameter naming the function a check item is about


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("deployverify", "deployverify target and report")
    group.addoption("--dv-target", metavar="FILE", help="deployverify.yaml describing the worker")
    group.addoption("--dv-bundle", metavar="DIR", help="an already built bundle folder (no target file)")
    group.addoption("--dv-handler", metavar="MODULE.FUNC", help="handler, with --dv-bundle")
    group.addoption("--dv-runtime", metavar="pythonX.Y", default=None, help="runtime, with --dv-bundle")
    group.addoption("--dv-image", metavar="IMAGE", default=None, help="Lambda image to probe in")
    group.addoption("--dv-require-image", action="store_true", help="fail instead of falling back to a sandbox")
    group.addoption("--dv-mode", choices=MODES, default=None, help="gate, smoke or canary (default: from the suite)")
    group.addoption("--dv-report-dir", metavar="DIR", default=None, help="default reports/out/<run-id>")
    group.addoption("--dv-run-id", metavar="ID", default=None, help="tag for everything the run creates")


def _load(config: pytest.Config) -> Target | None:
    option = config.getoption
    if option("dv_target"):
        target = load_target(option("dv_target"))
    elif option("dv_bundle"):
        if not option("dv_handler"):
            raise DeployVerifyError("--dv-bundle needs --dv-handler MODULE.FUNC")
        target = target_from_bundle(option("dv_bundle"), option("dv_handler"), option("dv_runtime") or "python3.12")
    else:
        return None
    if option("dv_image"):
        from dataclasses import replace

        target = replace(target, image=option("dv_image"))
    return target


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dv_check(id): the deployverify check this test implements")
    config.addinivalue_line("markers", "canary: runs only in canary mode")
    try:
        target = _load(config)
    except DeployVerifyError as exc:
        raise pytest.UsageError(str(exc)) from None
    if target is None:
        return
    worker = getattr(config, "workerinput", None)
    run_id = worker["dv_run_id"] if worker else (config.getoption("dv_run_id") or new_run_id())
    mode = config.getoption("dv_mode") or "gate"
    report_dir = Path(config.getoption("dv_report_dir") or Path("reports") / "out" / run_id)
    info = RunContext(run_id=run_id, mode=mode, target=target, report_dir=report_dir.resolve(),
                   started_at=worker["dv_started_at"] if worker else now_iso(),
                   require_image=bool(config.getoption("dv_require_image")))
    config.stash[RUN_KEY] = info
    config.stash[_STARTED] = time.perf_counter()
    progress.attach(config.pluginmanager.getplugin("capturemanager"))
    if worker is None:
        config.stash[COLLECTOR_KEY] = Collector(info)
    redact.install_logging_filter()
    redact.register_environment(os.environ)  # before any check can echo the environment
    _stop_on_sigterm()


def _stop_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled, a pod stopped) unwinds like Ctrl-C: pytest's KeyboardInterrupt path runs every
    fixture's `finally`, so the run's rows, objects and messages are removed; the default action would drop them."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(number: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one unwind; a second TERM must not cut the cleanup short
        raise KeyboardInterrupt(f"stopped by {signal.Signals(number).name}")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, interrupt)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    info = node.config.stash.get(RUN_KEY, None)
    if info is not None:
        node.workerinput["dv_run_id"] = info.run_id
        node.workerinput["dv_started_at"] = info.started_at


def pytest_itemcollected(item: pytest.Item) -> None:
    check_id = _check_id(item)
    if check_id is not None:
        item.extra_keyword_matches.add(check_id)  # so `-k DV222` (or `-k "DV1 or DV20"`) selects checks by id


NO_TARGET = "no deployverify target: pass --dv-target FILE or --dv-bundle DIR --dv-handler M.F"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    info = config.stash.get(RUN_KEY, None)
    if info is None and dv.in_ci() and any(_check_id(item) is not None for item in items):
        # Every check would skip and pytest would exit 0: a gate that verified nothing must not look green in CI.
        raise pytest.UsageError(f"{NO_TARGET} (CI=true: running the checks without a target is an error)")
    if info is None or info.mode == "canary":
        return
    kept = [item for item in items if item.get_closest_marker("canary") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def run_context(config: pytest.Config) -> RunContext | None:
    """The run's context, for suite hooks that run before fixtures exist (pytest_generate_tests); None without a
    target. Fixtures take `dv_run` instead."""
    return config.stash.get(RUN_KEY, None)


@pytest.fixture(scope="session")
def dv_run(request: pytest.FixtureRequest) -> RunContext:
    info = run_context(request.config)
    if info is None:
        pytest.skip(NO_TARGET)
    return info


@pytest.fixture(scope="session")
def target(dv_run: RunContext) -> Target:
    return dv_run.target


def _check_id(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("dv_check")
    return str(marker.args[0]) if marker else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    if _check_id(item) is None:
        yield
        return
    recorder, token = dv.start_recording()
    item.stash[_RECORDING] = (recorder, token, time.perf_counter())
    item.stash[_RETRIES] = retries.snapshot()
    item.stash[_PHASES] = []
    try:
        yield
    finally:
        dv.stop_recording(token)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    check_id = _check_id(item)
    if check_id is None:
        return
    _redact_report(report)
    item.stash[_PHASES].append((call.when, report.outcome, call.excinfo))
    if call.when == "teardown":
        recorder, _, started = item.stash[_RECORDING]
        # What botocore (and the database connect) retried while this check and the fixtures it set up ran.
        recorder.evidence.extend(retries.lines_since(item.stash[_RETRIES]))
        result = build_result(check_id, item.stash[_PHASES], recorder, time.perf_counter() - started,
                              function=checked_function(item))
        report.user_properties.append((RESULT_PROPERTY, json.dumps(result.to_dict())))
        _finished_here[check_id] = _worse(_finished_here.get(check_id), result.status.value)


# Check id -> worst status among the items this process finished so far: what a check about other checks (the
# canary's migration phases) can see of its own run. Under xdist a process sees only its own items.
_finished_here: dict[str, str] = {}


def _worse(have: str | None, new: str) -> str:
    rank = {"error": 3, "fail": 2, "pass": 1, "skip": 0}
    return new if have is None or rank.get(new, 0) > rank.get(have, 0) else have


def statuses_so_far() -> dict[str, str]:
    return dict(_finished_here)


def _redact_report(report: pytest.TestReport) -> None:
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        report.longrepr = redact.redact(str(report.longrepr))
    report.sections = [(title, redact.redact(body)) for title, body in report.sections]


def checked_function(item: pytest.Item) -> str | None:
    """The function a check item is about: the gate parametrises its checks by function (`dv_function`)."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(FUNCTION_PARAM) if callspec is not None else None
    return str(value) if value is not None else None


def build_result(check_id: str, phases: list[tuple[str, str, Any]], recorder: dv.Recorder, duration: float,
                 function: str | None = None) -> Result:
    spec = registry.spec(check_id)
    result = Result(id=check_id, title=spec.title, status=Status.PASS, duration_s=duration,
                    evidence=list(recorder.evidence), findings=list(recorder.findings), function=function)
    for when, outcome, excinfo in phases:
        if excinfo is None or (when == "teardown" and result.status is not Status.PASS):
            continue
        exc = excinfo.value
        if isinstance(exc, dv.CheckFailed):
            result.status, result.message = Status.FAIL, exc.message
            result.evidence.extend(exc.evidence)
            result.findings.extend(exc.findings)
        elif outcome == "skipped" or isinstance(exc, pytest.skip.Exception):
            result.status, result.message = Status.SKIP, str(getattr(exc, "msg", exc))
        elif isinstance(exc, AssertionError) and when == "call":
            result.status, result.message = Status.FAIL, (str(exc).splitlines() or ["assertion failed"])[0]
            result.evidence.append(str(exc))
        else:
            result.status = Status.ERROR
            result.message = f"check crashed in {when}: {type(exc).__name__}: {exc}".splitlines()[0]
            result.evidence.append("".join(traceback.format_exception(exc)))
        break
    if result.status is Status.PASS and not result.message:
        warnings = [f for f in result.findings if f.severity is Severity.WARNING]
        if warnings:
            result.message = f"{len(warnings)} warning(s): {warnings[0].message}"
    result.message = redact.redact(result.message)
    result.evidence = redact.redact_all(result.evidence)
    return result


class Collector:
    """On the controller: one Result per check id and function, parametrised items merged, worst status wins."""

    def __init__(self, info: RunContext) -> None:
        self.info = info
        self.results: dict[tuple[str, str | None], Result] = {}

    def add(self, result: Result) -> None:
        have = self.results.get((result.id, result.function))
        if have is None:
            self.results[(result.id, result.function)] = result
            return
        merge_result(have, result)

    def run(self) -> RunReport:
        target = self.info.target
        return RunReport(run_id=self.info.run_id, target=target.name, mode=self.info.mode,
                   started_at=self.info.started_at, finished_at=now_iso(), checks=list(self.results.values()))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "teardown":
        return
    collector = _collector
    if collector is None:
        return
    for name, value in report.user_properties:
        if name == RESULT_PROPERTY:
            collector.add(Result.from_dict(json.loads(str(value))))


_collector: Collector | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _collector
    _collector = session.config.stash.get(COLLECTOR_KEY, None)
    _finished_here.clear()  # `deployverify demo` runs several sessions in one process: each sees only its own
    _built.clear()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _collector
    collector, _collector = _collector, None
    if collector is None or not collector.results:
        return
    from deployverify.reports.render import write_reports

    run = collector.run()
    try:
        run.history = history.record(run, collector.info.target.history)
    except Exception as exc:
        print(f"deployverify: run history not written to {collector.info.target.history}: "
              f"{type(exc).__name__}: {redact.redact(str(exc))}", file=sys.stderr)
    paths = write_reports(run, collector.info.report_dir)
    session.config.stash[_WRITTEN] = (run, paths)
    if collector.info.mode == "canary":
        _publish_canary_result(collector.info, run, time.perf_counter() - session.config.stash[_STARTED])


def _publish_canary_result(info: RunContext, run: RunReport, duration_s: float) -> None:
    """The canary's own 1/0 and duration, so an alarm pages on a failed or a missing canary; a failure to publish is
    said, never raised (the report is already written)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from deployverify.aws.session import client
    from deployverify.canary.publish import publish_result

    passed = not any(r.status in (Status.FAIL, Status.ERROR) for r in run.checks)
    namespace = info.target.canary.metric.namespace
    try:
        publish_result(client("cloudwatch", info.target), info.target, passed, duration_s)
    except (ClientError, BotoCoreError, DeployVerifyError) as exc:
        progress.say(f"could not publish the canary's result to CloudWatch `{namespace}`: {exc}")
        return
    progress.say(f"canary result published to CloudWatch `{namespace}`: Success={int(passed)}, "
                 f"DurationSeconds={duration_s:.1f}")


_WRITTEN = pytest.StashKey[tuple[RunReport, dict[str, Path]]]()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    written = config.stash.get(_WRITTEN, None)
    if written is None:
        return
    run, paths = written
    from deployverify.reports.terminal import summary_lines

    terminalreporter.section(f"deployverify {run.mode}: {run.target}")
    for line in summary_lines(run):
        terminalreporter.write_line(line)
    from deployverify.reports.annotations import enabled, run_annotations

    if enabled():  # GitHub Actions shows these on the pull request's diff
        for line in run_annotations(run):
            terminalreporter.write_line(redact.redact(line))
    terminalreporter.write_line(f"report: {paths['html']}")


@pytest.fixture(scope="session")
def build_outcome(target: Target, dv_run: RunContext) -> Any:
    """The built bundle, or the error that stopped the build; DV101 reports the error, the rest are blocked by it."""
    from deployverify.core.errors import BuildError, BundleError
    from deployverify.gate.build.build import ensure_built
    from deployverify.gate.build.remote_layers import with_remote_layers

    # Functions with the same bundle get the same outcome, built once per process. Functions of one SAM template
    # share one `sam build`; when it fails, each gets its own outcome, found once for the run (the run id).
    bundle = target.bundle
    # The same code built for another runtime or architecture is another bundle (other wheels, other .so files).
    key = (bundle, target.runtime, target.architecture)
    if key not in _built:
        try:
            built = ensure_built(target, dv_run.cache_dir, application=dv_run.target, run_id=dv_run.run_id)
            _built[key] = with_remote_layers(built, bundle, target, dv_run.cache_dir)
        except (BuildError, BundleError) as exc:
            _built[key] = exc
    return _built[key]


_built: dict[Any, Any] = {}


@pytest.fixture(scope="session")
def built_bundle(build_outcome: Any) -> Any:
    if isinstance(build_outcome, Exception):
        dv.blocked("DV101", str(build_outcome).splitlines()[0])
    return build_outcome
