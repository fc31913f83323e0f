"""The configuration file (SPEC §5): models, loading, validation (R41) and the JSON Schema.

``load(path)`` reads a YAML file or folder, ``validate(data)`` checks data already read; both
return a :class:`Config` or raise one :class:`~unirouter.errors.ConfigError` listing every issue.
"""

from __future__ import annotations

from typing import Any

from unirouter.config import model
from unirouter.config.load import load, validate
from unirouter.config.model import Config

__all__ = ["Config", "json_schema", "load", "model", "validate"]

#: The JSON Schema dialect pydantic generates.
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the configuration file, generated from the models (SPEC §5)."""
    return {"$schema": SCHEMA_DIALECT, **Config.model_json_schema()}
