"""Database rows as the worker sees them."""
