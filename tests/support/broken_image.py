"""A local image derived from the test image whose python3.11 interpreter is a dangling link: an image that is
present and runs, but cannot run the python3.11 runtime. Built offline (no registry) and removed afterwards."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.env import TEST_IMAGE

# /var/lang/bin/python3.11 links to /usr/bin/python3.11 in the test image; removing the target leaves the link.
DOCKERFILE = f"FROM {TEST_IMAGE}\nRUN rm /usr/bin/python3.11\n"


@contextmanager
def image_without_python311() -> Iterator[str]:
    import docker

    engine = docker.from_env(timeout=300)
    tag = f"deployverify/test-no-python311:{secrets.token_hex(4)}"
    engine.images.build(fileobj=io.BytesIO(DOCKERFILE.encode()), tag=tag, rm=True, pull=False)
    try:
        yield tag
    finally:
        engine.images.remove(tag, force=True)
