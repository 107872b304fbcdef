"""The adapter answers whether an image holds an executable file (the runtime's interpreter), reading the real
image's file system through the real Docker engine, without running anything in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deployverify.lambda_image.docker import executable_problem
from tests.support.broken_image import image_without_python311
from tests.support.env import TEST_IMAGE, require_docker


@pytest.fixture(scope="module")
def broken_image() -> Iterator[str]:
    require_docker()
    with image_without_python311() as tag:
        yield tag


def test_the_images_own_interpreter_is_there() -> None:
    require_docker()
    assert executable_problem(TEST_IMAGE, "/var/lang/bin/python3.11") is None  # a link to /usr/bin/python3.11


def test_an_interpreter_the_image_lacks_is_named() -> None:
    require_docker()
    assert executable_problem(TEST_IMAGE, "/var/lang/bin/python3.14") == "it has no /var/lang/bin/python3.14"


def test_a_link_to_nothing_is_named_with_its_target(broken_image: str) -> None:
    assert executable_problem(broken_image, "/var/lang/bin/python3.11") == (
        "its /var/lang/bin/python3.11 links to /usr/bin/python3.11, which it does not have")


def test_a_file_that_is_not_executable_is_named() -> None:
    require_docker()
    assert executable_problem(TEST_IMAGE, "/etc/os-release") == (
        "its /etc/os-release is not an executable file")


def test_an_image_that_is_not_here_is_said_in_one_line() -> None:
    require_docker()
    problem = executable_problem("deployverify/no-such-image:0", "/var/lang/bin/python3.11")
    assert problem == "image `deployverify/no-such-image:0` is not on this machine"
