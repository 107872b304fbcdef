"""Units of work the worker runs, one module per task."""
