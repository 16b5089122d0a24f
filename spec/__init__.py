"""The specification files Python and Go both read (the Go package of this folder embeds
them): the bundle manifest's JSON Schema and the ordered list of bundle checks."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


def _read(name: str) -> Any:
    return json.loads(resources.files(__name__).joinpath("bundle", name).read_text())


@cache
def manifest_schema() -> dict[str, Any]:
    """bundle/manifest.schema.json (JSON Schema draft 2020-12)."""
    return _read("manifest.schema.json")


@cache
def bundle_checks() -> dict[str, Any]:
    """bundle/checks.json: ``checks`` (ordered, each with ``name``) and ``limits``."""
    return _read("checks.json")


def check_names() -> list[str]:
    return [c["name"] for c in bundle_checks()["checks"]]
