"""What each Lambda Python runtime gives code: interpreter, OS and glibc, sys.path order, bundled SDK, environment.

Sources (AWS documentation, Lambda developer guide):
- "Lambda runtimes" (lambda-runtimes.html): identifier, Python version and operating system of each runtime;
  python3.8-3.11 run on Amazon Linux 2, python3.12 and later on Amazon Linux 2023.
- Amazon Linux 2 ships glibc 2.26; Amazon Linux 2023 ships glibc 2.34 ("Comparing AL2 and AL2023", AL2023 guide).
- "Deploy Python Lambda functions with container images" (python-image.html), "Dependency search path and
  runtime-included libraries": the task root is searched first; for Python 3.11 and later the runtime-included
  libraries live in /var/lang/lib/python3.x/site-packages, which has precedence over /var/runtime; for 3.8-3.10 they
  live in /var/runtime, which has precedence over /var/lang/lib/python3.x/site-packages.
- "Working with layers for Python Lambda functions" (python-layers.html) and "Packaging your layer content": layers
  are extracted to /opt; /opt/python/lib/python3.x/site-packages and /opt/python are on the path, after /var/task.
- "Defined runtime environment variables" (configuration-envvars.html): the reserved variables built by
  `lambda_environment` below.
- The runtime's bootstrap (aws-lambda-base-images, /var/runtime/bootstrap.py) inserts the task root and the two
  layer folders at the front of sys.path, runs `site.addsitedir` on each (so their .pth files count), and sets
  PYTHONPATH to LAMBDA_RUNTIME_DIR for child processes.
- The runtime-included SDK ("Runtime-included SDK versions"): boto3, botocore and their dependencies
  (s3transfer, jmespath, python-dateutil, six, urllib3), plus awslambdaric and its dependencies (simplejson,
  snapshot-restore-py for the newer runtimes).
"""

from __future__ import annotations

from dataclasses import dataclass

from deployverify.core.errors import TargetError

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
OPT = "/opt"
LANG_DIR = "/var/lang"

AL2 = "Amazon Linux 2"
AL2023 = "Amazon Linux 2023"
GLIBC = {AL2: "2.26", AL2023: "2.34"}

# Import names of the runtime-included SDK (boto3 and its dependencies) and of the runtime interface client.
SDK_MODULES: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
SDK_DISTRIBUTIONS: tuple[str, ...] = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six",
                                      "urllib3")
RIC_MODULES: tuple[str, ...] = ("awslambdaric", "simplejson", "snapshot_restore_py")


@dataclass(frozen=True)
class RuntimeInfo:
    name: str            # the runtime identifier, e.g. "python3.11"
    python: str          # "3.11"
    os: str              # AL2 or AL2023
    deprecated: bool = False

    @property
    def glibc(self) -> str:
        return GLIBC[self.os]

    @property
    def glibc_tuple(self) -> tuple[int, int]:
        major, minor = self.glibc.split(".")
        return int(major), int(minor)

    @property
    def python_tuple(self) -> tuple[int, int]:
        major, minor = self.python.split(".")
        return int(major), int(minor)

    @property
    def cpython_tag(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def interpreter(self) -> str:
        """The runtime's python in its Lambda image (the probe and the local stack start it there)."""
        return interpreter_path(self.python)

    @property
    def sdk_dir(self) -> str:
        """Where the runtime-included boto3 and awslambdaric live."""
        if self.python_tuple >= (3, 11):
            return f"{LANG_DIR}/lib/python{self.python}/site-packages"
        return RUNTIME_DIR

    @property
    def preinstalled_modules(self) -> tuple[str, ...]:
        return SDK_MODULES + RIC_MODULES

    def layer_paths(self) -> tuple[str, ...]:
        return (f"{OPT}/python/lib/python{self.python}/site-packages", f"{OPT}/python")

    def stdlib_paths(self) -> tuple[str, ...]:
        nodot = self.python.replace(".", "")
        return (f"{LANG_DIR}/lib/python{nodot}.zip", f"{LANG_DIR}/lib/python{self.python}",
                f"{LANG_DIR}/lib/python{self.python}/lib-dynload")

    def sys_path(self) -> tuple[str, ...]:
        """sys.path as Lambda builds it, task root first (see the module docstring for the sources)."""
        site_packages = f"{LANG_DIR}/lib/python{self.python}/site-packages"
        if self.python_tuple >= (3, 11):
            return (TASK_ROOT, *self.layer_paths(), site_packages, RUNTIME_DIR, *self.stdlib_paths())
        return (TASK_ROOT, *self.layer_paths(), RUNTIME_DIR, *self.stdlib_paths(), site_packages)

    def search_roots(self) -> tuple[str, ...]:
        """The sys.path entries user code can populate (bundle and layers), in Lambda's order."""
        return (TASK_ROOT, *self.layer_paths())


def interpreter_path(python_version: str) -> str:
    return f"{LANG_DIR}/bin/python{python_version}"


RUNTIMES: dict[str, RuntimeInfo] = {
    info.name: info
    for info in (
        RuntimeInfo("python3.8", "3.8", AL2, deprecated=True),
        RuntimeInfo("python3.9", "3.9", AL2),
        RuntimeInfo("python3.10", "3.10", AL2),
        RuntimeInfo("python3.11", "3.11", AL2),
        RuntimeInfo("python3.12", "3.12", AL2023),
        RuntimeInfo("python3.13", "3.13", AL2023),
        RuntimeInfo("python3.14", "3.14", AL2023),
    )
}


def runtime_info(name: str) -> RuntimeInfo:
    try:
        return RUNTIMES[name]
    except KeyError:
        known = ", ".join(RUNTIMES)
        raise TargetError(f"{name!r} is not a Lambda Python runtime; use one of {known}", where="runtime") from None


DEFAULT_REGION = "us-east-1"
DEFAULT_MEMORY_MB = 128


def lambda_environment(runtime: str, handler: str, *, function_name: str = "function",
                       memory_mb: int | None = None, region: str | None = None,
                       user_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment Lambda gives the function process: the function's own variables, then the reserved ones.

    Reserved variables (AWS_*, _HANDLER, LAMBDA_*) win: Lambda rejects a function that sets them. LANG, TZ, PATH,
    LD_LIBRARY_PATH and PYTHONPATH are defaults a function may override. Credentials are the caller's to add: the
    gate's probe adds obviously fake ones (gate/probe/run_probe.py OFFLINE_AWS_ENV), never the host's.
    """
    info = runtime_info(runtime)
    area = region or DEFAULT_REGION
    memory = str(memory_mb or DEFAULT_MEMORY_MB)
    env = {
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": f"{LANG_DIR}/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": f"{LANG_DIR}/lib:/lib64:/usr/lib64:{RUNTIME_DIR}:{RUNTIME_DIR}/lib:{TASK_ROOT}:"
                           f"{TASK_ROOT}/lib:/opt/lib",
        "PYTHONPATH": RUNTIME_DIR,
    }
    env.update(user_env or {})
    env.update({
        "_HANDLER": handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{info.name}",
        "AWS_REGION": area,
        "AWS_DEFAULT_REGION": area,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]deployverify",
        "LAMBDA_TASK_ROOT": TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
    })
    return env
