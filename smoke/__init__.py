"""The smoke suite."""

import sys

# Shipped as deployverify.smoke (pyproject's package-dir). pytest collects this folder by path, so in a
# checkout its modules are named smoke.*, and in an installed wheel deployverify.smoke.*. One process must never hold
# both names, or every module-level table would exist twice: the engine finds this folder with find_spec and never
# imports it.
_OTHER = "deployverify.smoke" if __name__ == "smoke" else "smoke"
if _OTHER in sys.modules:
    raise ImportError(f"{__name__} is already imported as {_OTHER}: import it under one name only")
