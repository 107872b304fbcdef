"""The target file: schema, line-aware loading, `${VAR}` interpolation, and the typed model."""

from deployverify.target.loader import load_target, target_from_bundle
from deployverify.target.model import Target

__all__ = ["Target", "load_target", "target_from_bundle"]
