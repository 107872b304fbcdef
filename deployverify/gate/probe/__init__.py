"""Run code the way Lambda would: the Lambda image in Docker, else bubblewrap, else a plain host process.

Use `select_sandbox(target, require_image=...)` to get a `Selection` (the sandbox and why it was chosen), then:

    from deployverify.gate.probe import Spec, select_sandbox

    chosen = select_sandbox(target)
    spec = Spec(argv=("{python}", "-c", "import app"), bundle=bundle_dir, layers=layer_dirs,
                env=lambda_environment(...), network="none")
    done = chosen.sandbox.run(spec, timeout_s=60)          # Completed(code, stdout, stderr, seconds, timed_out)

A long-lived process (e.g. awslambdaric's bootstrap against a local Runtime API server) uses `start` with the
host's network; the handle streams merged stdout/stderr and can feed stdin, and `stop()` always cleans up:

    spec = Spec(argv=("/var/runtime/bootstrap",) if chosen.kind == "docker" else
                ("{python}", "-m", "awslambdaric", "app.handler"),
                bundle=bundle_dir, env={**lambda_env, "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"},
                network="host", stdin=False)
    running = chosen.sandbox.start(spec)
    try:
        for line in running.lines(): ...
    finally:
        running.stop()

Placeholders in argv and env values ({python}, {task}, {opt}, {site}, {runtime}, {tools}) are filled with each
sandbox's real paths (/var/task in Docker and bubblewrap, a scratch copy in the plain sandbox). External programs go
through one adapter each: docker through deployverify/lambda_image/docker.py (shared with the local stack), bwrap
and python through `base.run_process` / `base.ProcessRunning`, all with timeouts.
"""

from deployverify.gate.probe.sandbox import Completed, Running, Sandbox, SandboxUnavailable, Spec
from deployverify.gate.probe.selection import Selection, select_sandbox

__all__ = ["Completed", "Running", "Sandbox", "SandboxUnavailable", "Selection", "Spec", "select_sandbox"]
