"""The specification files Python and Go both read (the Go package of this folder embeds
them): the bundle manifest's JSON Schema and the ordered list of bundle checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class FamilyContract:
    """The per-family part of the manifest schema: the feature schema a family's models
    take, the thresholds its manifest entry must carry, and its output width."""

    family: str
    schema: str
    required_thresholds: tuple[str, ...]
    optional_thresholds: tuple[str, ...]
    output_width: int


def _family_rule(family: str) -> dict[str, Any]:
    model = manifest_schema()["$defs"]["model"]
    for rule in model["allOf"]:
        if rule["if"]["properties"].get("family", {}).get("const") == family:
            return rule["then"]["properties"]
    raise KeyError(f"the manifest schema has no rule for family {family!r}")


@cache
def family_contract(family: str) -> FamilyContract:
    rule = _family_rule(family)
    thresholds = rule["thresholds"]
    required = tuple(thresholds["required"])
    optional = tuple(k for k in thresholds["properties"] if k not in required)
    width = rule["outputs"]["items"]["properties"]["shape"]["prefixItems"][1]["const"]
    return FamilyContract(family, rule["schema"]["const"], required, optional, width)
