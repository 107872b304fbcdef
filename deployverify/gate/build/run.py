"""Run one build command and turn its failure into a BuildError that quotes the command and its last lines.

Its own module because both build.py (any build command) and sam_template.py (`sam build` of one function when the
template's shared build failed) run commands, and sam_template.py sits below build.py.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from deployverify.core.errors import BuildError
from deployverify.core.redact import redact
from deployverify.gate.build.cached import BUILD_TIMEOUT_S
from deployverify.gate.build.cross import sam_missing_interpreter, sam_missing_interpreter_advice

# What to install when a build program is missing, so the error says more than "not found".
_INSTALL_HINTS = {
    "sam": "install the AWS SAM CLI (`pip install aws-sam-cli`, or see https://docs.aws.amazon.com/serverless-"
           "application-model/latest/developerguide/install-sam-cli.html), or build with bundle.command instead",
    "bash": "install bash",
}


def run_build(command: list[str], cwd: Path, output: Path, shown: str | None = None) -> str:
    """Run `command`; return the tail of its output, or raise BuildError. `shown` is how errors name the command
    (default: the command itself), for a command whose arguments are scratch paths the user never runs."""
    # SAM would otherwise send telemetry, a network call the gate must not make.
    env = {**os.environ, "DV_BUNDLE_OUTPUT": str(output), "SAM_CLI_TELEMETRY": "0"}
    shown = shown or shlex.join(command)
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                              check=False)
    except FileNotFoundError:
        hint = _INSTALL_HINTS.get(command[0], f"install `{command[0]}` or fix the build definition")
        raise BuildError(f"`{command[0]}` is not installed (needed for `{shown}`): {hint}", command=shown, code=127,
                         tail=f"{command[0]}: command not found; {hint}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"`{shown}` did not finish in {BUILD_TIMEOUT_S}s", command=shown, code=-9,
                         tail=f"killed after {BUILD_TIMEOUT_S}s") from None
    tail = redact("\n".join((done.stderr or done.stdout).strip().splitlines()[-15:]))
    missing_runtime = sam_missing_interpreter(f"{done.stdout}\n{done.stderr}") if done.returncode else None
    cause = None
    if missing_runtime:
        # The cause is the host, not the code: that is the line DV101 quotes, and the tail ends with it.
        cause = sam_missing_interpreter_advice(missing_runtime)
        tail = f"{tail}\n{cause}"
    if done.returncode != 0:
        error = BuildError("", command=shown, code=done.returncode, tail=tail, cause=cause)
        error.args = (f"`{shown}` exited {done.returncode}: {error.cause}\nits output ends:\n{tail}",)
        raise error
    return tail
