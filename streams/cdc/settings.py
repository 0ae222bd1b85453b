"""Where the stream worker finds the mapping files: RAGSTREAM_CDC__MAPPINGS, a JSON list of files or
folders (the same files `ragstream connectors apply` took), e.g. '["connectors/examples/articles.yaml"]'.

Read through `settings.cdc.mappings` once ragstream.settings has that section, else from the
environment, so both spellings mean the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ragstream.streams.cdc.exceptions import InvalidMapping

ENV_VAR = "RAGSTREAM_CDC__MAPPINGS"


def mapping_paths(settings: Any = None, environ: Mapping[str, str] = os.environ) -> list[Path]:
    section = getattr(settings, "cdc", None)
    if section is not None:
        return [Path(p) for p in getattr(section, "mappings", ())]
    raw = environ.get(ENV_VAR, "").strip()
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidMapping(
            f"{ENV_VAR} must be a JSON list of paths, e.g. '[\"mappings/articles.yaml\"]'"
        ) from exc
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise InvalidMapping(f"{ENV_VAR} must be a JSON list of paths, not {raw!r}")
    return [Path(p) for p in value]
