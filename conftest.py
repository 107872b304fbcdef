"""Root conftest: its presence makes pytest put the repository root on sys.path (rootdir-relative imports), so the
harness's tests and benchmarks can import `fixtures.incidents` and `tests.support` without installing them.

The deployverify plugin itself is registered through the `pytest11` entry point, not here, so `pytest checks/` works
the same inside this repository and in a user's.
"""
