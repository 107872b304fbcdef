"""The checks suite."""

import sys

# Shipped as deployverify.checks (pyproject's package-dir). pytest collects this folder by path, so in a
# checkout its modules are named checks.*, and in an installed wheel deployverify.checks.*. One process must never hold
# both names, or every module-level table would exist twice: the engine finds this folder with find_spec and never
# imports it.
_OTHER = "deployverify.checks" if __name__ == "checks" else "checks"
if _OTHER in sys.modules:
    raise ImportError(f"{__name__} is already imported as {_OTHER}: import it under one name only")
