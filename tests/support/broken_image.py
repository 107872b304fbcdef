"""Local images derived from the test image that are present and run, but cannot run the python3.11 runtime.
Built offline (no registry is needed: the base is the local test image) and removed afterwards."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from tests.support.env import TEST_IMAGE

# /var/lang/bin/python3.11 links to /usr/bin/python3.11 in the test image; removing the target leaves the link.
WITHOUT_PYTHON311 = "RUN rm /usr/bin/python3.11"
# An executable file that is no program: it passes a look at the file system, and the engine refuses to start it.
UNRUNNABLE_PYTHON311 = ("RUN rm /var/lang/bin/python3.11 && echo 'not a program' > /var/lang/bin/python3.11 "
                        "&& chmod 755 /var/lang/bin/python3.11")


@contextmanager
def derived_image(name: str, step: str) -> Iterator[str]:
    import docker

    engine = docker.from_env(timeout=300)
    tag = f"deployverify/test-{name}:{secrets.token_hex(4)}"
    dockerfile = f"FROM {TEST_IMAGE}\n{step}\n"
    engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True, pull=False)
    try:
        yield tag
    finally:
        engine.images.remove(tag, force=True)


def image_without_python311() -> AbstractContextManager[str]:
    return derived_image("no-python311", WITHOUT_PYTHON311)


def image_with_unrunnable_python311() -> AbstractContextManager[str]:
    return derived_image("unrunnable-python311", UNRUNNABLE_PYTHON311)
