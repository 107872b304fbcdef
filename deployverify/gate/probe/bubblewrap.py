"""bubblewrap: the host's CPython (same version as the runtime) in a namespace laid out like Lambda.

The bundle is bound read-only at the literal /var/task, layers at /opt, /tmp is a tmpfs, the network is unshared
(unless the spec asks for the host's), and only the interpreter's prefix and the system libraries are visible: the
host's site-packages and home are not, so a module the bundle lacks cannot be found by accident. The runtime-included
SDK (boto3, botocore, ...) is bound from the harness's own environment into /var/lang/lib/pythonX.Y/site-packages.
Lower fidelity than the image: the host's OS libraries and interpreter build, and file permissions are not enforced
(the user namespace maps Lambda's uid onto the caller).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from deployverify.gate.probe.host_python import HostPython, find_host_python, host_sdk_packages
from deployverify.gate.probe.sandbox import (
    Completed,
    ProcessRunning,
    SandboxUnavailable,
    Spec,
    fill_spec,
    merged_layers,
    run_process,
    scratch_dir,
)
from deployverify.lambda_image.runtimes import interpreter_path

TOOLS_MOUNT = "/var/deployverify"
_SYSTEM = ("/usr",)
_LINKS = (("usr/lib", "/lib"), ("usr/lib64", "/lib64"), ("usr/bin", "/bin"), ("usr/sbin", "/sbin"))
_PASSWD = "root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n"  # noqa: S105 - /etc/passwd lines
_GROUP = "root:x:0:\nsbx_user1051:x:990:\n"


def bwrap_problem() -> str | None:
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    done = run_process(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--uid", "993", "true"], env=None, cwd=None,
                       timeout_s=20)
    if done.code != 0:
        return f"bwrap cannot create a sandbox here: {done.stderr.decode(errors='replace').strip()[:200]}"
    return None


class BubblewrapSandbox:
    kind = "bubblewrap"
    fidelity = ("a bubblewrap namespace with Lambda's paths and read-only bundle, but the host's CPython build and "
                "OS libraries")

    def __init__(self, python: HostPython) -> None:
        self.host = python

    def describe(self) -> str:
        return f"bubblewrap with host CPython {self.host.version} ({self.host.executable})"

    @property
    def python(self) -> str:
        return interpreter_path(self.host.version)  # bound at Lambda's own path inside the sandbox

    def _argv(self, spec: Spec, scratch: Path) -> list[str]:
        site = f"/var/lang/lib/python{self.host.version}/site-packages"
        argv, env = fill_spec(spec, {"python": self.python, "task": "/var/task", "opt": "/opt", "site": site,
                                     "runtime": "/var/runtime", "tools": TOOLS_MOUNT})
        (scratch / "passwd").write_text(_PASSWD)
        (scratch / "group").write_text(_GROUP)
        command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--uid", "993", "--gid", "990"]
        if spec.network == "host":
            command.append("--share-net")
        for folder in _SYSTEM:
            command += ["--ro-bind", folder, folder]
        for target, link in _LINKS:
            command += ["--symlink", target, link]
        for prefix in self.host.prefixes:
            if not str(prefix).startswith("/usr/"):
                command += ["--ro-bind", str(prefix), str(prefix)]
        # The interpreter's own site-packages (and Debian's dist-packages) hold the host's packages: hide them, so a
        # module the bundle lacks cannot be found by accident.
        version = self.host.version
        hidden = [p / "lib" / f"python{version}" / "site-packages" for p in self.host.prefixes]
        hidden += [Path("/usr/lib/python3/dist-packages"), Path(f"/usr/local/lib/python{version}/dist-packages"),
                   Path(f"/usr/lib/python{version}/site-packages"),
                   Path(f"/usr/local/lib/python{version}/site-packages")]
        for site_dir in dict.fromkeys(hidden):
            if site_dir.is_dir():
                command += ["--tmpfs", str(site_dir)]
        for name in ("ld.so.cache", "localtime"):
            if Path("/etc", name).exists():
                command += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        command += ["--ro-bind", str(scratch / "passwd"), "/etc/passwd",
                    "--ro-bind", str(scratch / "group"), "/etc/group",
                    "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                    "--size", str(spec.tmp_mb * 1024 * 1024), "--tmpfs", "/var/lang",
                    "--symlink", str(self.host.executable), self.python,
                    "--ro-bind", str(spec.bundle.resolve()), "/var/task"]
        for name, path in host_sdk_packages().items():
            command += ["--ro-bind", str(path), f"{site}/{path.name if path.is_file() else name}"]
        command += ["--dir", "/var/runtime", "--remount-ro", "/var/lang"]
        opt = merged_layers(spec.layers, scratch)
        if opt is not None:
            command += ["--ro-bind", str(opt.resolve()), "/opt"]
        if spec.tools is not None:
            command += ["--ro-bind", str(spec.tools.resolve()), TOOLS_MOUNT]
        command += ["--chdir", "/var/task", "--clearenv"]
        for key, value in env.items():
            command += ["--setenv", key, value]
        return [*command, *argv]

    def run(self, spec: Spec, timeout_s: float) -> Completed:
        scratch = scratch_dir("bwrap")
        try:
            return run_process(self._argv(spec, scratch), env={}, cwd=None, timeout_s=timeout_s)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def start(self, spec: Spec) -> ProcessRunning:
        scratch = scratch_dir("bwrap")
        try:
            return ProcessRunning(self._argv(spec, scratch), env={}, cwd=None, stdin=spec.stdin, cleanup=scratch)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise


def connect(python_version: str) -> BubblewrapSandbox:
    problem = bwrap_problem()
    if problem:
        raise SandboxUnavailable(problem)
    return BubblewrapSandbox(find_host_python(python_version))
