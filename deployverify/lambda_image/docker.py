"""The Lambda image through the Docker engine: the one adapter for the Docker SDK.

The gate's probe sandbox (gate/probe/docker_sandbox.py: one-shot and long-lived probe commands) and the local
stack (local/function_runtime.py: a long-lived execution environment) both run the Lambda image through this module
and never call the SDK themselves. Every container it makes runs as Lambda's user, with a read-only root filesystem,
a tmpfs /tmp (Lambda's only writable folder) and a memory limit; what differs between its users (mounts, network,
entrypoint, labels) is theirs to say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from deployverify.core.errors import EnvironmentMissing

LAMBDA_USER = "993:990"  # sbx_user1051, the user Lambda runs function code as
TASK_ROOT = "/var/task"
API_TIMEOUT_S = 60
PULL_TIMEOUT_S = 600
PING_TIMEOUT_S = 10


def client(timeout_s: float = API_TIMEOUT_S) -> Any:
    """A Docker SDK client with a timeout on every call; it does not check that the engine answers."""
    import docker

    return docker.from_env(timeout=int(timeout_s))


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def connected_client() -> Any:
    """A client whose engine answered a ping, or EnvironmentMissing saying why there is none."""
    try:
        engine = client()
        engine.ping()
    except Exception as exc:
        raise EnvironmentMissing(f"no Docker engine: {type(exc).__name__}: {_first_line(exc)}") from None
    return engine


def engine_problem() -> str | None:
    """None when the Docker engine answers; otherwise why not, in one line."""
    try:
        client(PING_TIMEOUT_S).ping()
    except Exception as exc:
        return f"the Docker engine is not reachable ({type(exc).__name__}: {_first_line(exc)})"
    return None


def ensure_image(image: str, *, pull: bool = True) -> str | None:
    """None when `image` is present (pulling it if needed and allowed); otherwise why it cannot be used."""
    import docker.errors

    try:
        client().images.get(image)
        return None
    except docker.errors.ImageNotFound:
        if not pull:
            return f"image `{image}` is not present and pulling is off"
    except Exception as exc:
        return f"cannot inspect image `{image}`: {type(exc).__name__}: {exc}"
    try:
        client(PULL_TIMEOUT_S).images.pull(image)
    except Exception as exc:
        return f"image `{image}` is not present and cannot be pulled ({_engine_says(exc)})"
    return None


def _engine_says(exc: Exception) -> str:
    """What the engine said, without the SDK's "500 Server Error for http+docker://..." wrapping; one line."""
    said = str(getattr(exc, "explanation", None) or exc or type(exc).__name__)
    line = said.splitlines()[0] if said.strip() else type(exc).__name__
    return line if len(line) <= 240 else line[:239] + "…"


def local_image_problem(image: str) -> str | None:
    """Why the local stack cannot run `image` (None when it can). Never pulls: a pull is the user's decision."""
    try:
        engine = connected_client()
    except EnvironmentMissing as exc:
        return exc.detail
    try:
        import docker.errors

        engine.images.get(image)
    except docker.errors.ImageNotFound:
        return f"image {image} is not on this machine (docker pull {image}, or set DV_IMAGE)"
    except Exception as exc:
        return f"cannot inspect image {image}: {type(exc).__name__}"
    return None


def image_id(image: str) -> str | None:
    """The image's content id (changes when the image is rebuilt under the same tag); None when it cannot be read."""
    try:
        return str(client().images.get(image).id)
    except Exception:
        return None


def image_architecture(image: str) -> str | None:
    """The image's CPU as Docker names it (amd64, arm64); None when it cannot be read."""
    try:
        return str(client().images.get(image).attrs.get("Architecture") or "") or None
    except Exception:
        return None


def image_entrypoint(image: str) -> list[str]:
    """The image's own entrypoint (a Lambda base image's /lambda-entrypoint.sh starts the runtime)."""
    found = connected_client().images.get(image)
    return list(found.attrs.get("Config", {}).get("Entrypoint") or [])


_SYMLINK = 1 << 27  # Go's os.ModeSymlink, in the mode the engine reports for a path
_DIRECTORY = 1 << 31  # os.ModeDir
_MAX_LINKS = 8


def executable_problem(image: str, path: str) -> str | None:
    """None when `path` is an executable file in `image` (following links); otherwise what is wrong, in words.

    Reads the image's file system through a container that is created and never started (nothing in the image
    runs, ~0.1-0.3 s): the engine answers "not found" as a typed 404, so no error text is parsed. A check that
    cannot be made at all (the engine failing) returns None: the command that needs the file reports that itself.
    """
    import docker.errors

    try:
        engine = client()
        # Labelled like the probe's containers, so a run killed between create and remove leaves a findable one.
        container = engine.containers.create(image, entrypoint=[path], command=[], network_disabled=True,
                                             network_mode="none", labels={"deployverify": "interpreter-check"})
    except docker.errors.ImageNotFound:
        return f"image `{image}` is not on this machine"
    except Exception:
        return None
    try:
        return _executable_in(container, path)
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)


def _executable_in(container: Any, path: str) -> str | None:
    import posixpath

    import docker.errors

    here = path
    for _ in range(_MAX_LINKS):
        try:
            stream, stat = container.get_archive(here)
            for _chunk in stream:  # drain it: the connection goes back to the pool
                pass
        except docker.errors.NotFound:
            return f"it has no {path}" if here == path else f"its {path} links to {here}, which it does not have"
        except Exception:
            return None
        mode = int(stat.get("mode", 0))
        target = str(stat.get("linkTarget") or "")
        if mode & _SYMLINK and target:
            here = posixpath.normpath(posixpath.join(posixpath.dirname(here), target))
            continue
        if mode & _DIRECTORY or not mode & 0o111:
            return f"its {path} is not an executable file"
        return None
    return f"its {path} is a chain of more than {_MAX_LINKS} links"


def lambda_tmpfs(size: str, *, nosuid: bool = False) -> dict[str, str]:
    options = "rw,exec,nosuid" if nosuid else "rw,exec"
    return {"/tmp": f"{options},size={size},mode=1777"}


class LambdaContainer:
    """One container of the Lambda image run as Lambda's user: every SDK call on it goes through here."""

    def __init__(self, container: Any) -> None:
        self._container = container

    @classmethod
    def create(cls, image: str, *, argv: list[str], env: dict[str, str], volumes: dict[str, dict[str, str]],
               memory_mb: int, tmpfs: dict[str, str], name: str, labels: dict[str, str], network: str,
               user: str = LAMBDA_USER, stdin_open: bool = False, pids_limit: int | None = None,
               start: bool = False, command: list[str] | None = None) -> LambdaContainer:
        """Create (and with start=True also start) a container. `argv` is the entrypoint; `command` its arguments
        (argv[1:] when not given). network: "host" shares the host's loopback, "none" has no network at all."""
        networking: dict[str, Any] = ({"network_mode": "host"} if network == "host"
                                      else {"network_disabled": True, "network_mode": "none"})
        limits: dict[str, Any] = {} if pids_limit is None else {"pids_limit": pids_limit}
        engine = connected_client() if start else client()
        arguments = dict(
            entrypoint=argv if command is not None else [argv[0]],
            command=command if command is not None else argv[1:], environment=env, volumes=volumes,
            working_dir=TASK_ROOT, user=user, read_only=True, tmpfs=tmpfs, mem_limit=f"{memory_mb}m",
            memswap_limit=f"{memory_mb}m", labels=labels, name=name, detach=True, **limits, **networking)
        if start:
            return cls(engine.containers.run(image, **arguments))
        return cls(engine.containers.create(image, stdin_open=stdin_open, **arguments))

    @property
    def id(self) -> str:
        return str(self._container.id)

    def start(self) -> None:
        self._container.start()

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Its exit status once it exits; None when it is still running after `timeout_s` or the engine is gone."""
        import requests

        try:
            result = self._container.wait() if timeout_s is None else self._container.wait(timeout=timeout_s)
            return int(result.get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return None

    def kill(self) -> None:
        self._container.kill()

    def output(self) -> tuple[bytes, bytes]:
        """Its stdout and stderr so far."""
        return (self._container.logs(stdout=True, stderr=False), self._container.logs(stdout=False, stderr=True))

    def follow(self) -> Iterator[bytes]:
        """Its merged output as it comes, until it exits."""
        yield from self._container.logs(stream=True, follow=True, stdout=True, stderr=True)

    def attach_stdin(self) -> Any:
        """A socket to its standard input (the container must have been created with stdin_open=True)."""
        return self._container.attach_socket(params={"stdin": 1, "stream": 1})

    def exit_code(self) -> int | None:
        """Its exit status when it has exited, else None; asks the engine afresh."""
        self._container.reload()
        if self._container.status in ("exited", "dead"):
            return int(self._container.attrs["State"]["ExitCode"])
        return None

    def remove(self) -> None:
        # Already gone (removed by a concurrent cleanup) is fine: the point is that it does not outlive its user.
        with contextlib.suppress(Exception):
            self._container.remove(force=True)

    def max_memory_mb(self) -> int | None:
        """Its peak memory, read from the cgroup (v1 or v2) the engine put it in; None where none is readable."""
        ident = self.id
        for path in (f"/sys/fs/cgroup/memory/docker/{ident}/memory.max_usage_in_bytes",
                     f"/sys/fs/cgroup/system.slice/docker-{ident}.scope/memory.peak",
                     f"/sys/fs/cgroup/docker/{ident}/memory.peak"):
            try:
                return max(1, int(Path(path).read_text().strip()) // (1024 * 1024))
            except (OSError, ValueError):
                continue
        return None


def _labelled(labels: dict[str, str]) -> list[Any]:
    try:
        engine = connected_client()
    except EnvironmentMissing:
        return []
    filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
    return list(engine.containers.list(all=True, filters=filters))


def remove_containers(labels: dict[str, str]) -> int:
    """Remove every container carrying these labels (running or not); how many were removed."""
    removed = 0
    for container in _labelled(labels):
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # noqa: S112 - a container that went away by itself is what we wanted
            continue
    return removed


def list_containers(labels: dict[str, str]) -> list[str]:
    """The names of the containers carrying these labels, running or not."""
    return [str(c.name) for c in _labelled(labels)]
