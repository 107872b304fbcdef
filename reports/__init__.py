"""Report renderers: one small module per format, each a pure function of a `RunReport`."""

# Shipped as deployverify.reports (pyproject's package-dir). Imported as plain `reports` (the repository root on
# sys.path) its modules would exist twice under two names, with two copies of every module-level table.
if __name__ != "deployverify.reports":
    raise ImportError(f"import deployverify.reports, not {__name__}: this folder ships inside the deployverify package")
