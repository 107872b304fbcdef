"""DV230 when the probe's image cannot run the function's runtime (an `--image` or target `image:` for another
Python): one failure quoting the image, the interpreter it lacks and the runtime's own image; the checks that read
the probe are blocked by DV230, never errors carrying Docker's text. The healthy pairing still passes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.broken_image import image_with_unrunnable_python311, image_without_python311
from tests.support.env import TEST_IMAGE, require_bwrap, require_docker
from tests.support.gate_run import GateRun, run_gate

REPO = Path(__file__).resolve().parents[3]
BAD = REPO / "fixtures" / "bad-bundles"
sys.path.insert(0, str(BAD))
from make_imports import complete  # noqa: E402 - the fixture generator lives beside the fixtures

# DV001 too: the machine has Docker and the image; a wrong image is DV230's one failure, not a missing prerequisite.
BLOCKED_BY_DV230 = ("DV001", "DV211", "DV212", "DV220", "DV221")


def gate(tmp_path: Path, runtime: str, image: str, *, ci: str = "") -> GateRun:
    """The namespace_handler bundle gated on `runtime` with `image` forced; CI unset unless `ci`: a fallback
    would pass."""
    bundle = complete(BAD / "namespace_handler", tmp_path / "bundle")
    return run_gate(["--bundle", str(bundle), "--handler", "src/app.handler", "--runtime", runtime, "--image", image,
                     "-k", " or ".join(("DV230", *BLOCKED_BY_DV230))],
                    tmp_path / "report", env={"DV_CACHE_DIR": str(tmp_path / "cache"), "CI": ci})


def assert_blocked_by_dv230(run: GateRun) -> None:
    for check in BLOCKED_BY_DV230:
        assert (run.status(check), run.message(check)) == ("skip", "blocked by DV230"), check
    assert "APIError" not in run.output
    assert "Traceback" not in run.output
    assert run.code == 1


@pytest.mark.dv_outcomes("DV230:fail")
@pytest.mark.parametrize("ci", ["", "true"])
def test_an_image_without_the_runtimes_python_fails_dv230_once(tmp_path: Path, ci: str) -> None:
    require_docker()
    run = gate(tmp_path, "python3.14", TEST_IMAGE, ci=ci)
    assert run.status("DV230") == "fail"
    message = run.message("DV230")
    assert message == (
        f"image `{TEST_IMAGE}` cannot run the function's runtime python3.14: it has no /var/lang/bin/python3.14; "
        "probe in the runtime's image (--image public.ecr.aws/lambda/python:3.14, or that as the target's "
        "`image:`), or drop --image and the target's `image:` to get it by default")
    assert_blocked_by_dv230(run)


@pytest.mark.dv_outcomes("DV230:fail")
def test_a_present_image_for_another_runtime_is_not_replaced_by_a_fallback(tmp_path: Path) -> None:
    """The host can run python3.11 in bubblewrap, but the image was chosen and is wrong: that is the finding, not a
    lower-fidelity pass that hides the wrong setting."""
    require_docker()
    require_bwrap()
    with image_without_python311() as image:
        run = gate(tmp_path, "python3.11", image)
    assert run.status("DV230") == "fail"
    assert run.message("DV230").startswith(
        f"image `{image}` cannot run the function's runtime python3.11: its /var/lang/bin/python3.11 links to "
        "/usr/bin/python3.11, which it does not have; probe in the runtime's image (--image "
        "public.ecr.aws/lambda/python:3.11")
    assert_blocked_by_dv230(run)


@pytest.mark.dv_outcomes("DV230:fail")
def test_an_interpreter_the_engine_will_not_start_fails_dv230_once(tmp_path: Path) -> None:
    """What a look at the file system does not catch (an executable file that is no program) fails after the start,
    inside the container: one DV230 failure naming the image and the error, with the probe's checks blocked."""
    require_docker()
    with image_with_unrunnable_python311() as image:
        run = gate(tmp_path, "python3.11", image)
    assert run.status("DV230") == "fail"
    message = run.message("DV230")
    assert message.startswith(f"the import probe failed in Docker container of `{image}`: the probe exited 1 "
                              "without a report")
    assert "exec /var/lang/bin/python3.11: exec format error" in message
    assert message.endswith(f"the interpreter in `{image}` is for another CPU (or no program): use the runtime's "
                            "image for this host's architecture, or enable emulation (binfmt / qemu-user-static)")
    assert "\n" not in message
    for check in BLOCKED_BY_DV230[1:]:  # DV001 passes: the machine has Docker and the image
        assert (run.status(check), run.message(check)) == ("skip", "blocked by DV230"), check
    assert "APIError" not in run.output
    assert "Traceback" not in run.output


@pytest.mark.dv_outcomes("DV230:pass")
def test_the_runtimes_own_image_passes(tmp_path: Path) -> None:
    require_docker()
    run = gate(tmp_path, "python3.11", TEST_IMAGE)
    assert run.status("DV230") == "pass", run.message("DV230")
    assert f"Docker container of `{TEST_IMAGE}`" in run.evidence("DV230")
    for check in ("DV001", "DV211", "DV220", "DV221"):
        assert run.status(check) == "pass", f"{check}: {run.message(check)}"


@pytest.mark.dv_outcomes("DV230:fail")
def test_an_image_that_cannot_be_had_is_one_line_in_the_engines_words(tmp_path: Path) -> None:
    """Not here and not pullable (no registry answers): one line with what the engine said, without the SDK's
    request URL; python3.14 has no host interpreter either, so no fallback runs."""
    require_docker()
    run = gate(tmp_path, "python3.14", "deployverify/no-such-image:0")
    assert run.status("DV230") == "fail"
    message = run.message("DV230")
    assert "image `deployverify/no-such-image:0` is not present and cannot be pulled (" in message
    assert "http+docker://" not in message
    assert "\n" not in message
    assert "Traceback" not in run.output
    for check in BLOCKED_BY_DV230[1:]:  # DV001 is the missing prerequisite itself: a skip on a laptop
        assert (run.status(check), run.message(check)) == ("skip", "blocked by DV230"), check
