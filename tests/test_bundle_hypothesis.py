"""Property test over manifest loading: whatever the manifest holds (a random JSON value at a
random place, random bytes, a truncation, a flipped byte), bundle.load and check_goldens either
accept the bundle or raise a BundleError naming a check of spec/bundle/checks.json; nothing
else escapes and nothing hangs.

Examples per strategy: DWCP_HYPOTHESIS_EXAMPLES (default 40, about 15 s in all); a longer run:
    DWCP_HYPOTHESIS_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_bundle_hypothesis.py
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwcp_ml import spec
from dwcp_ml.export import bundle

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = int(os.environ.get("DWCP_HYPOTHESIS_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=10), derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KEEP = "pba"  # the one model of the test bundle: small ONNX, fast golden


def _small_bundle() -> tuple[Path, dict[str, Any]]:
    """golden/bundle reduced to one model, so an accepted manifest loads in milliseconds."""
    work = Path(tempfile.mkdtemp(prefix="dwcp-hyp-"))
    atexit.register(shutil.rmtree, work, True)
    manifest = json.loads((REPO / "golden/bundle/manifest.json").read_text())
    manifest["models"] = [m for m in manifest["models"] if m["name"] == KEEP]
    (work / "golden").mkdir()
    shutil.copyfile(REPO / "golden/bundle" / f"{KEEP}.onnx", work / f"{KEEP}.onnx")
    shutil.copyfile(REPO / "golden/bundle/golden" / f"{KEEP}.json", work / "golden" / f"{KEEP}.json")
    drift = manifest["models"][0].get("drift")  # the optional drift reference, where named
    if drift:
        (work / "drift").mkdir()
        shutil.copyfile(REPO / "golden/bundle" / drift, work / drift)
    return work, manifest


WORK, MANIFEST = _small_bundle()


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for k, v in items:
        out += _paths(v, prefix + (k,))
    return out


PATHS = _paths(MANIFEST)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _outcome(data: bytes) -> str:
    (WORK / "manifest.json").write_bytes(data)
    try:
        loaded = bundle.load(WORK)
        refusal = bundle.first_refusal(loaded, bundle.check_goldens(loaded))
    except bundle.BundleError as exc:
        refusal = exc
    if refusal is None:
        return "accepted"
    assert refusal.check in spec.check_names(), refusal
    assert str(refusal).startswith(f"{refusal.check}: ")
    return refusal.check


def test_the_small_bundle_is_valid() -> None:
    assert _outcome(json.dumps(MANIFEST).encode()) == "accepted"


@SETTINGS
@given(st.sampled_from(PATHS), JSON_VALUES, st.booleans())
def test_random_value_at_random_path(path: tuple[Any, ...], value: Any, delete: bool) -> None:
    manifest = json.loads(json.dumps(MANIFEST))
    node = manifest
    for k in path[:-1]:
        node = node[k]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    _outcome(json.dumps(manifest).encode())  # NaN and Infinity are written as literals


@SETTINGS
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _outcome(data)


RAW = json.dumps(MANIFEST, indent=2).encode()


@SETTINGS
@given(st.integers(0, len(RAW)), st.integers(0, len(RAW) - 1), st.integers(0, 255))
def test_truncated_or_one_byte_changed(cut: int, at: int, byte: int) -> None:
    _outcome(RAW[:cut])
    changed = bytearray(RAW)
    changed[at] = byte
    _outcome(bytes(changed))


@pytest.mark.parametrize("text", [b"[" * 100_000, b'{"a":' * 50_000, b"1" * 5000, b"-" * 10, b"\xef\xbb\xbf{}"])
def test_hostile_texts(text: bytes) -> None:
    assert _outcome(text) in {"manifest.json", "manifest.schema"}
