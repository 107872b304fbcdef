"""Modules shared by the backend API and the workers that run beside it."""
