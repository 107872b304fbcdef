"""How messages name a layer: by its folder, which the user chose, except for a public layer the gate rebuilt.

A public layer (Powertools) that cannot be downloaded is rebuilt into the cache under a hash-named folder
(`4f2364572accf1def8c24ff3/python/...`), a name the user never wrote. Its marker file records the ARN it stands for;
the layer's own name and version from that ARN (`AWSLambdaPowertoolsPythonV3-python314-arm64:33`) is what the user
wrote in the template.
"""

from __future__ import annotations

import json
from pathlib import Path

# Written by public_layers.py beside the rebuilt layer's python/ folder.
REBUILT_LAYER_MARKER = "deployverify-layer.json"


def layer_name(layer: Path) -> str:
    try:
        arn = json.loads((layer / REBUILT_LAYER_MARKER).read_text(encoding="utf-8"))["arn"]
    except (OSError, ValueError, KeyError, TypeError):
        return layer.name
    _, found, name = str(arn).partition(":layer:")
    return name if found and name else layer.name
