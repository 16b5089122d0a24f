"""The ordered bundle checks of spec/bundle/checks.json, as Python runs them.

Each check runs over every model in manifest order before the next one starts; the first
refusal raises a BundleError whose ``check`` is the spec's name. ``LOAD_CHECKS`` are what
``bundle.load`` runs (manifest.read .. golden.read); golden.features and golden.output need the
recomputation and run in ``bundle.check_goldens``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import onnxruntime as ort

from dwcp_ml import feature_core as fc
from dwcp_ml import spec
from dwcp_ml.spec import runtime
from dwcp_ml.spec.model import ML_OPSET, OPSET, PLACEMENT_SCHEMA, schema_hash

from . import safe_files
from .golden_checks import DriftData, GoldenData, parse_drift, parse_golden

FORMAT = "dwcp-ml-bundle/1"
MANIFEST = "manifest.json"
OPSETS = {"ai.onnx": OPSET, "ai.onnx.ml": ML_OPSET}
# Stamped dwcp.* metadata key -> the manifest entry's field it must equal.
META_KEYS = {"model": "name", "version": "version", "schema_hash": "schema_hash"}
# Checks whose refusal means "made for another runtime or feature schema", not "damaged".
_MISMATCH = {"feature_core.version", "onnxruntime.version", "opset", "schema_hash", "onnx.metadata"}


class BundleError(Exception):
    """A bundle cannot be used. ``check`` names the refusing check of checks.json (None for
    errors of writing a bundle); the message is "<check>: <detail>", files named relative to
    the bundle directory."""

    def __init__(self, detail: str, *, check: str | None = None) -> None:
        super().__init__(f"{check}: {detail}" if check else detail)
        self.check = check
        self.detail = detail


class CorruptBundleError(BundleError):
    """A file is missing, unsafe, malformed or does not match its recorded sha256."""


class MismatchError(BundleError):
    """The bundle was made for another feature schema, feature core or ONNX Runtime."""


def refuse(check: str, detail: str) -> BundleError:
    cls = MismatchError if check in _MISMATCH else CorruptBundleError
    return cls(detail, check=check)


def limits() -> dict[str, int]:
    return spec.bundle_checks()["limits"]


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(spec.manifest_schema())


@cache
def _relpath() -> re.Pattern[str]:
    return re.compile(spec.bundle_checks()["relpath_pattern"])


@dataclass
class State:
    """What the checks learn, in order: later checks read what earlier ones established."""

    directory: Path
    require_ort: bool
    trusted_keys: object | None
    signed_by: str | None = None  # the trusted key id that verified model.sig
    dir_fd: int = -1
    raw_manifest: bytes = b""
    manifest: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # bundle-relative name -> bytes
    sessions: dict[int, ort.InferenceSession] = field(default_factory=dict)  # model index
    goldens: dict[int, GoldenData] = field(default_factory=dict)
    drifts: dict[int, DriftData] = field(default_factory=dict)  # models that name one

    @property
    def models(self) -> list[dict[str, Any]]:
        return self.manifest["models"]


def _manifest_read(s: State) -> None:
    try:
        s.dir_fd = safe_files.open_directory(s.directory)
    except OSError:
        raise refuse("manifest.read", "the bundle is not a directory that can be opened; is "
                     "it a dwcp-ml bundle?") from None
    try:
        s.raw_manifest = safe_files.read(s.dir_fd, MANIFEST, limits()["manifest_bytes"])
    except safe_files.UnsafeFileError as exc:
        raise refuse("manifest.read", str(exc)) from None


def _manifest_json(s: State) -> None:
    try:
        value = safe_files.strict_json(s.raw_manifest, limits()["json_depth"])
    except safe_files.StrictJSONError as exc:
        raise refuse("manifest.json", str(exc)) from None
    if not isinstance(value, dict):
        raise refuse("manifest.json", f"the top level is a {type(value).__name__}, not an object")
    s.manifest = value


def _where(path: Any) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _manifest_schema(s: State) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(s.manifest))
    if error is not None:
        message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
        raise refuse("manifest.schema", f"{_where(error.absolute_path)}: {message}")


# Manifest keys naming a file -> the key of its sha256; "drift" is optional.
FILE_KEYS = {"file": "sha256", "golden": "golden_sha256", "drift": "drift_sha256"}


def _named_files(s: State) -> list[tuple[int, str, str]]:
    """(model index, manifest key, name) of every named file, in manifest order."""
    return [(i, key, str(m[key])) for i, m in enumerate(s.models) for key in FILE_KEYS
            if key in m]


def _files_inside(s: State) -> None:
    for i, key, name in _named_files(s):
        if not _relpath().fullmatch(name):
            raise refuse("files.inside", f"models[{i}].{key} {name[:200]!r} is not a relative "
                         "name inside the bundle (no '..', no leading '/' or '.')")


def _files_regular(s: State) -> None:
    try:
        safe_files.check_tree(s.dir_fd, limits()["bundle_files"])
        for _, _, name in _named_files(s):
            if name not in s.files:
                s.files[name] = safe_files.read(s.dir_fd, name, limits()["file_bytes"])
    except safe_files.UnsafeFileError as exc:
        raise refuse("files.regular", str(exc)) from None


def _files_sha256(s: State) -> None:
    for i, key, name in _named_files(s):
        want = s.models[i][FILE_KEYS[key]]
        got = hashlib.sha256(s.files[name]).hexdigest()
        if got != want:
            raise refuse("files.sha256", f"{name}: sha256 {got} does not match the manifest's "
                         f"{want}: the file was changed or truncated after the bundle was written")


def _signature(s: State) -> None:
    if s.trusted_keys is None:
        return
    from . import signing  # only with trusted keys: model-signing is a heavy import

    try:
        s.signed_by = signing.verify_signature(s.directory, s.trusted_keys)
    except Exception as exc:  # noqa: BLE001 - signing's error (any type) carries .check
        if getattr(exc, "check", None) != "signature":
            raise
        raise refuse("signature", str(exc)) from None


def _models_unique(s: State) -> None:
    seen: dict[str, int] = {}
    for i, m in enumerate(s.models):
        if m["name"] in seen:
            raise refuse("models.unique", f"model name {m['name']!r} appears twice "
                         f"(models[{seen[m['name']]}] and models[{i}])")
        seen[m["name"]] = i


def _feature_core_version(s: State) -> None:
    if s.manifest["feature_core_version"] != fc.VERSION:
        raise refuse("feature_core.version",
                     f"made with feature core {s.manifest['feature_core_version']}, this is "
                     f"{fc.VERSION}: features would differ; retrain or use a matching dwcp-ml")


def _onnxruntime_version(s: State) -> None:
    if s.require_ort and s.manifest["onnxruntime_version"] != runtime.VERSION:
        raise refuse("onnxruntime.version",
                     f"verified with ONNX Runtime {s.manifest['onnxruntime_version']}, this is "
                     f"{runtime.VERSION}: golden predictions are only bit-exact on the same build")


def _opset(s: State) -> None:
    if s.manifest["opset"] != OPSETS:
        raise refuse("opset", f"manifest opset {s.manifest['opset']}, this runtime serves {OPSETS}")
    for m in s.models:
        opsets = onnx_opsets(s.files[m["file"]])
        for domain, version in (opsets or {}).items():
            if domain not in OPSETS or version > OPSETS[domain]:
                raise refuse("opset", f"{m['file']} imports opset {domain[:64]!r} {version}; the "
                             f"bundle format allows {OPSETS}")


def params_from(d: dict[str, Any]) -> fc.Params | fc.PlacementParams:
    if d["schema"] == PLACEMENT_SCHEMA:
        return fc.PlacementParams(history=int(d["history"]), step_seconds=int(d["step_seconds"]))
    return fc.Params(
        schema=fc.Schema.parse(str(d["schema"])), seq_len=int(d["seq_len"]),
        stat_window=int(d["stat_window"]), step_seconds=int(d["step_seconds"]),
        fill_limit=int(d["fill_limit"]), center=tuple(float(v) for v in d["center"]),
        scale=tuple(float(v) for v in d["scale"]),
    )


def _schema_hash(s: State) -> None:
    for m in s.models:
        d = m["feature_params"]
        if d["schema"] != m["schema"]:
            raise refuse("schema_hash", f"model {m['name']!r}: schema {m['schema']!r} but "
                         f"feature_params.schema {d['schema']!r}")
        try:
            params = params_from(d)
        except (ValueError, fc.FeatureCoreError) as exc:
            raise refuse("schema_hash", f"model {m['name']!r}: feature_params: {exc}") from None
        if isinstance(params, fc.Params):
            n = params.n_features
            for key in ("center", "scale"):
                if len(d[key]) != n:
                    raise refuse("schema_hash", f"model {m['name']!r}: feature_params.{key} has "
                                 f"{len(d[key])} values, the {d['schema']} schema {n} features")
        if m["schema_hash"] != schema_hash(params):
            raise refuse("schema_hash", f"model {m['name']!r} was trained on feature schema hash "
                         f"{m['schema_hash']}, the core's {d['schema']} schema is "
                         f"{schema_hash(params)}: the features changed; retrain")


def _tensor_problem(file: str, kind: str, got: list[ort.NodeArg], want: list[dict[str, Any]]
                    ) -> str | None:
    if len(got) != len(want):
        return f"{file} has {len(got)} {kind}s, the manifest {len(want)}"
    for g, w in zip(got, want):
        shape = list(g.shape)
        dynamic = bool(shape) and not isinstance(shape[0], int)
        if (g.name != w["name"] or g.type != "tensor(float)" or not dynamic
                or shape[1:] != w["shape"][1:]):
            return (f"{file} {kind} {g.name[:64]!r} is {g.type} {shape}, the manifest says "
                    f"float32 {w['name']!r} {w['shape']} (first axis dynamic)")
    return None


def _onnx_signature(s: State) -> None:
    for i, m in enumerate(s.models):
        try:
            session = runtime.session(s.files[m["file"]])
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises several pybind types
            first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise refuse("onnx.signature", f"{m['file']}: ONNX Runtime cannot load it "
                         f"({first})") from None
        problem = (_tensor_problem(m["file"], "input", session.get_inputs(), m["inputs"])
                   or _tensor_problem(m["file"], "output", session.get_outputs(), m["outputs"]))
        if problem:
            raise refuse("onnx.signature", problem)
        s.sessions[i] = session


def _onnx_metadata(s: State) -> None:
    for i, m in enumerate(s.models):
        stamped = s.sessions[i].get_modelmeta().custom_metadata_map
        for key, entry_key in META_KEYS.items():
            got = stamped.get("dwcp." + key)
            if got != m[entry_key]:
                shown = "missing" if got is None else repr(got[:64])
                raise refuse("onnx.metadata", f"{m['file']}: metadata dwcp.{key} is {shown}, "
                             f"the manifest's {entry_key} is {m[entry_key]!r}")


def _golden_read(s: State) -> None:
    cap = limits()["json_depth"]
    for i, m in enumerate(s.models):
        try:
            golden = safe_files.strict_json(s.files[m["golden"]], cap)
            s.goldens[i] = parse_golden(golden, m, params_from(m["feature_params"]))
        except (safe_files.StrictJSONError, ValueError) as exc:
            raise refuse("golden.read", f"{m['golden']}: {str(exc)[:300]}") from None


def _drift_read(s: State) -> None:
    cap = limits()["json_depth"]
    for i, m in enumerate(s.models):
        if "drift" not in m:
            continue
        try:
            doc = safe_files.strict_json(s.files[m["drift"]], cap)
            s.drifts[i] = parse_drift(doc, m, params_from(m["feature_params"]), s.goldens[i])
        except (safe_files.StrictJSONError, ValueError) as exc:
            raise refuse("drift.read", f"{m['drift']}: {str(exc)[:300]}") from None


LOAD_CHECKS: list[tuple[str, Callable[[State], None]]] = [
    ("manifest.read", _manifest_read),
    ("manifest.json", _manifest_json),
    ("manifest.schema", _manifest_schema),
    ("files.inside", _files_inside),
    ("files.regular", _files_regular),
    ("files.sha256", _files_sha256),
    ("signature", _signature),
    ("models.unique", _models_unique),
    ("feature_core.version", _feature_core_version),
    ("onnxruntime.version", _onnxruntime_version),
    ("opset", _opset),
    ("schema_hash", _schema_hash),
    ("onnx.signature", _onnx_signature),
    ("onnx.metadata", _onnx_metadata),
    ("golden.read", _golden_read),
    ("drift.read", _drift_read),
]
GOLDEN_CHECKS = ("golden.features", "golden.output")
assert [n for n, _ in LOAD_CHECKS] + list(GOLDEN_CHECKS) == spec.check_names(), \
    "export/spec_checks.py and spec/bundle/checks.json list different checks"


def run(directory: Path, *, require_ort: bool, trusted_keys: object | None) -> State:
    state = State(Path(directory), require_ort, trusted_keys)
    try:
        for _, check in LOAD_CHECKS:
            check(state)
    finally:
        if state.dir_fd >= 0:
            os.close(state.dir_fd)
    return state


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _fields(msg: bytes) -> list[tuple[int, int, bytes, int]]:
    """(number, wire type, payload, varint value) of each top-level protobuf field."""
    out, pos = [], 0
    while pos < len(msg):
        tag, pos = _varint(msg, pos)
        num, typ = tag >> 3, tag & 7
        payload, value = b"", 0
        if typ == 0:
            value, pos = _varint(msg, pos)
        elif typ == 2:
            n, pos = _varint(msg, pos)
            if n > len(msg) - pos:
                raise ValueError("truncated field")
            payload, pos = msg[pos:pos + n], pos + n
        elif typ in (1, 5):
            pos += 8 if typ == 1 else 4
            if pos > len(msg):
                raise ValueError("truncated field")
        else:  # groups: never in ONNX
            raise ValueError(f"wire type {typ}")
        if num == 0:
            raise ValueError("field number 0")
        out.append((num, typ, payload, value))
    return out


def onnx_opsets(model: bytes) -> dict[str, int] | None:
    """ModelProto.opset_import (field 8; domain 1, version 2) read from the top-level fields
    as Go reads them (sidecar/runtime/opset.go), "" spelled "ai.onnx"; None when the fields do
    not parse (onnx.signature refuses such a file)."""
    try:
        opsets: dict[str, int] = {}
        for num, typ, payload, _ in _fields(model):
            if num != 8 or typ != 2:
                continue
            domain, version = "ai.onnx", 0
            for n, t, p, v in _fields(payload):
                if n == 1 and t == 2 and p:
                    domain = p.decode("utf-8", "replace")
                elif n == 2 and t == 0:
                    version = v - (1 << 64) if v >= 1 << 63 else v
            opsets[domain] = version
        return opsets
    except ValueError:
        return None


