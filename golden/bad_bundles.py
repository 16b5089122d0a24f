"""The bad-bundle corpus: copies of a valid bundle, each with exactly one defect, and the check
of spec/bundle/checks.json that must refuse it. Python (tests/test_bundle_spec.py) and Go read
the same corpus and require the same check name.

    python -m dwcp_ml.golden.bad_bundles OUT [--base BUNDLE]

writes OUT/cases.json ({"format": "dwcp-ml-bad-bundles/1", "cases": [{"name", "check",
"description", "trusted_keys"}]}) and OUT/<name>/. Where a defect would also break a sha256,
the sha256 is updated, so that only the intended check refuses. Cases with ``trusted_keys``
true are checked with OUT/trusted.pub (their base is signed with OUT/keys/trusted.key); they
are written only when export/signing.py is available.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

FORMAT = "dwcp-ml-bad-bundles/1"
DEFAULT_BASE = Path(__file__).resolve().parent / "bundle"
MANIFEST = "manifest.json"
SHA_KEYS = {"file": "sha256", "golden": "golden_sha256", "drift": "drift_sha256"}


class Work:
    """One case's bundle copy, with the edits the cases make."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    def save(self, manifest: dict[str, Any]) -> None:
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    def edit(self, change: Callable[[dict[str, Any]], object]) -> None:
        m = self.manifest()
        change(m)
        self.save(m)

    def model(self, m: dict[str, Any], family: str = "anomaly") -> dict[str, Any]:
        return next(e for e in m["models"] if e["family"] == family)

    def replace_text(self, old: str, new: str) -> None:
        text = (self.path / MANIFEST).read_text()
        assert old in text, old
        (self.path / MANIFEST).write_text(text.replace(old, new, 1))

    def replace_score(self, literal: str) -> None:
        """The anomaly threshold's JSON text (whatever the bundle holds) becomes ``literal``,
        which json.dumps would never write."""
        score = self.model(self.manifest())["thresholds"]["score"]
        self.replace_text(f'"score": {json.dumps(score)}', f'"score": {literal}')

    def rewrite(self, family: str, key: str, data: bytes) -> None:
        """Replaces the model's file (key "file") or golden (key "golden") and records its new
        sha256 in the manifest."""
        m = self.manifest()
        entry = self.model(m, family)
        target = self.path / entry[key]
        target.unlink()
        target.write_bytes(data)
        entry[SHA_KEYS[key]] = hashlib.sha256(data).hexdigest()
        self.save(m)

    def read(self, family: str, key: str) -> bytes:
        return (self.path / self.model(self.manifest(), family)[key]).read_bytes()

    def onnx(self, family: str, change: Callable[[onnx.ModelProto], object]) -> None:
        proto = onnx.load_from_string(self.read(family, "file"))
        change(proto)
        self.rewrite(family, "file", proto.SerializeToString())

    def golden(self, family: str, change: Callable[[dict[str, Any]], object]) -> None:
        golden = json.loads(self.read(family, "golden"))
        change(golden)
        self.rewrite(family, "golden", json.dumps(golden, indent=1).encode())

    def drift(self, family: str, change: Callable[[dict[str, Any]], object]) -> None:
        doc = json.loads(self.read(family, "drift"))
        change(doc)
        self.rewrite(family, "drift", json.dumps(doc, indent=1).encode())

    def replace_file(self, family: str, key: str, make: Callable[[Path], None]) -> None:
        target = self.path / self.model(self.manifest(), family)[key]
        target.unlink()
        make(target)


@dataclass(frozen=True)
class Case:
    name: str
    check: str
    description: str
    make: Callable[[Work], None]
    trusted_keys: bool = False


def _set(path: list[Any], value: object, family: str = "anomaly") -> Callable[[Work], None]:
    """A case setting manifest[path...] (a path starting with "model" is inside the model of
    ``family``) to ``value``."""
    def make(w: Work) -> None:
        def change(m: dict[str, Any]) -> None:
            node: Any = m
            keys = list(path)
            if keys and keys[0] == "model":
                node, keys = w.model(m, family), keys[1:]
            for k in keys[:-1]:
                node = node[k]
            node[keys[-1]] = value
        w.edit(change)
    return make


def _pop(key: str) -> Callable[[Work], None]:
    return lambda w: w.edit(lambda m: m.pop(key))


def _link(target: str, family: str = "anomaly", key: str = "file") -> Callable[[Work], None]:
    return lambda w: w.replace_file(family, key, lambda p: p.symlink_to(target))


def _deep(w: Work) -> None:
    (w.path / MANIFEST).write_bytes(b"[" * 100_000 + b"]" * 100_000)


def _oversized(w: Work) -> None:
    text = (w.path / MANIFEST).read_bytes()
    (w.path / MANIFEST).write_bytes(text + b" " * (1 << 20))  # still valid JSON


def _manifest_fifo(w: Work) -> None:
    (w.path / MANIFEST).unlink()
    os.mkfifo(w.path / MANIFEST)


def _manifest_symlink(w: Work) -> None:
    (w.path / MANIFEST).unlink()
    (w.path / MANIFEST).symlink_to("/etc/passwd")


def _manifest_dir(w: Work) -> None:
    (w.path / MANIFEST).unlink()
    (w.path / MANIFEST).mkdir()


def _duplicate_key(w: Work) -> None:
    w.replace_text('"bundle_version": "default-1",',
                   '"bundle_version": "default-1",\n  "bundle_version": "evil-2",')


def _non_utf8(w: Work) -> None:
    data = (w.path / MANIFEST).read_bytes()
    (w.path / MANIFEST).write_bytes(data.replace(b'"created_by": "dwcp-ml', b'"created_by": "\xff\xfe', 1))


def _golden_symlink(w: Work) -> None:
    """golden/anomaly.json -> a byte-identical copy inside the bundle: only the link is wrong."""
    shutil.copyfile(w.path / "golden" / "anomaly.json", w.path / "anomaly-golden.json")
    w.replace_file("anomaly", "golden", lambda p: p.symlink_to("../anomaly-golden.json"))


def _subdir_symlink(w: Work) -> None:
    (w.path / "golden").rename(w.path / "golden-real")
    (w.path / "golden").symlink_to("golden-real")


def _device(w: Work) -> None:
    w.replace_file("anomaly", "file", lambda p: os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 5)))


def _too_many(w: Work) -> None:
    extra = w.path / "extra"
    extra.mkdir()
    for i in range(300):
        (extra / f"f{i:03d}").write_bytes(b"")


def _flip_last_byte(family: str, key: str) -> Callable[[Work], None]:
    def make(w: Work) -> None:
        target = w.path / w.model(w.manifest(), family)[key]
        data = bytearray(target.read_bytes())
        data[-2] ^= 1
        target.write_bytes(bytes(data))
    return make


def _rename_model(w: Work) -> None:
    def change(m: dict[str, Any]) -> None:
        w.model(m, "itp")  # exists
        next(e for e in m["models"] if e["name"] == "itp_gb")["name"] = "itp"
    w.edit(change)


def _opset_import(domain: str, version: int) -> Callable[[Work], None]:
    def change(proto: onnx.ModelProto) -> None:
        for o in proto.opset_import:
            if (o.domain or "ai.onnx") == domain:
                o.version = version
                return
        proto.opset_import.add(domain=domain, version=version)
    return lambda w: w.onnx("anomaly", change)


def _restamp(key: str, value: str | None) -> Callable[[Work], None]:
    def change(proto: onnx.ModelProto) -> None:
        kept = [p for p in proto.metadata_props if p.key != "dwcp." + key]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        if value is not None:
            proto.metadata_props.add(key="dwcp." + key, value=value)
    return lambda w: w.onnx("anomaly", change)


def _truncate(w: Work) -> None:
    data = w.read("anomaly", "file")
    w.rewrite("anomaly", "file", data[: len(data) // 2])


def _golden_text(text: bytes) -> Callable[[Work], None]:
    return lambda w: w.rewrite("anomaly", "golden", text)


def _golden_edit(change: Callable[[dict[str, Any]], object], family: str = "anomaly"
                 ) -> Callable[[Work], None]:
    return lambda w: w.golden(family, change)


def _double_raw(g: dict[str, Any]) -> None:
    """Every raw value of the first window doubled (finite ones; the count of values kept)."""
    import numpy as np

    raw = g["raw"]
    values = np.frombuffer(bytes.fromhex(raw["values"]), ">f8").copy().reshape(raw["values_shape"])
    values[0] = np.where(np.isfinite(values[0]), values[0] * 2 + 1, values[0])
    raw["values"] = values.astype(">f8").tobytes().hex()


def _flip_output(g: dict[str, Any]) -> None:
    out = bytearray.fromhex(g["output"]["float32"])
    out[3] ^= 1
    g["output"]["float32"] = out.hex()


def _ts_strings(g: dict[str, Any]) -> None:
    g["raw"]["ts"][0] = [str(t) for t in g["raw"]["ts"][0]]


def _extra_file_after_signing(w: Work) -> None:
    (w.path / "extra.txt").write_text("added after signing\n")


def _unsort_edges(d: dict[str, Any]) -> None:
    """The first binned column's first two edges swapped (decimals kept equal to the bits)."""
    col = next(c for c in d["columns"] if not c["constant"])
    e = col["edges"]
    e["decimal"][0], e["decimal"][1] = e["decimal"][1], e["decimal"][0]
    e["float64"] = e["float64"][16:32] + e["float64"][:16] + e["float64"][32:]


def _drift_cases() -> list[Case]:
    """Drift references (drift/<model>.json, optional): named files like golden, then
    drift.read."""
    c = Case
    return [
        c("drift_missing", "files.regular", "drift/pba.json named but absent", lambda w: (w.path / w.model(w.manifest(), "pba")["drift"]).unlink()),
        c("drift_dotdot", "files.inside", "drift ../drift/anomaly.json (escapes the bundle)", _set(["model", "drift"], "../drift/anomaly.json")),
        c("drift_absolute", "files.inside", "drift /etc/passwd", _set(["model", "drift"], "/etc/passwd", "scaling")),
        c("drift_symlink", "files.regular", "drift/anomaly.json -> /etc/passwd", _link("/etc/passwd", "anomaly", "drift")),
        c("drift_wrong_sha256", "files.sha256", "one byte of drift/scaling.json changed", _flip_last_byte("scaling", "drift")),
        c("drift_sha256_alone", "manifest.schema", "drift_sha256 without drift", lambda w: w.edit(lambda m: w.model(m, "pba").pop("drift"))),
        c("drift_wrong_format", "drift.read", "drift format other/1 (sha256 updated)", lambda w: w.drift("pba", lambda d: d.update(format="other/1"))),
        c("drift_other_version", "drift.read", "drift_version 2 (another feature core's statistics)", lambda w: w.drift("anomaly", lambda d: d.update(drift_version=2))),
        c("drift_edges_unsorted", "drift.read", "itp drift edges out of order", lambda w: w.drift("itp", _unsort_edges)),
        c("drift_columns_short", "drift.read", "scaling drift without its output column", lambda w: w.drift("scaling", lambda d: d["columns"].pop())),
    ]


def cases() -> list[Case]:
    c = Case
    out = [
        c("manifest_missing", "manifest.read", "no manifest.json", lambda w: (w.path / MANIFEST).unlink()),
        c("manifest_symlink", "manifest.read", "manifest.json is a symlink to /etc/passwd", _manifest_symlink),
        c("manifest_fifo", "manifest.read", "manifest.json is a FIFO (must not block)", _manifest_fifo),
        c("manifest_oversized", "manifest.read", "manifest.json above 1 MiB (valid JSON padded)", _oversized),
        c("manifest_directory", "manifest.read", "manifest.json is a directory", _manifest_dir),
        c("manifest_nan", "manifest.json", "a NaN literal", lambda w: w.replace_score('NaN')),
        c("manifest_infinity", "manifest.json", "an Infinity literal", lambda w: w.replace_text('"alpha": 0.9', '"alpha": Infinity')),
        c("manifest_1e400", "manifest.json", "1e400 overflows float64", lambda w: w.replace_score('1e400')),
        c("manifest_deep", "manifest.json", "100,000 nested arrays", _deep),
        c("manifest_duplicate_key", "manifest.json", "bundle_version twice", _duplicate_key),
        c("manifest_non_utf8", "manifest.json", "bytes 0xff 0xfe in a string", _non_utf8),
        c("manifest_array", "manifest.json", "top level is an array", lambda w: (w.path / MANIFEST).write_text("[]")),
        c("manifest_truncated", "manifest.json", "JSON cut in the middle", lambda w: (w.path / MANIFEST).write_text((w.path / MANIFEST).read_text()[:500])),
        c("missing_bundle_version", "manifest.schema", "no bundle_version", _pop("bundle_version")),
        c("wrong_format", "manifest.schema", "format other/1", _set(["format"], "other/1")),
        c("seq_len_string", "manifest.schema", '"seq_len": "3"', _set(["model", "feature_params", "seq_len"], "3")),
        c("shape_2_62", "manifest.schema", "an input dimension of 2^62", _set(["model", "inputs", 0, "shape"], [None, 1 << 62])),
        c("thresholds_empty_scaling", "manifest.schema", "scaling thresholds {}", _set(["model", "thresholds"], {}, "scaling")),
        c("thresholds_empty_anomaly", "manifest.schema", "anomaly thresholds {}", _set(["model", "thresholds"], {}, "anomaly")),
        c("thresholds_empty_pba", "manifest.schema", "pba thresholds {}", _set(["model", "thresholds"], {}, "pba")),
        c("thresholds_empty_itp", "manifest.schema", "itp thresholds {}", _set(["model", "thresholds"], {}, "itp")),
        c("anomaly_threshold_zero", "manifest.schema", "anomaly score threshold 0", _set(["model", "thresholds", "score"], 0)),
        c("pba_horizon_zero", "manifest.schema", "pba horizon_seconds 0", _set(["model", "thresholds", "horizon_seconds"], 0, "pba")),
        c("scaling_horizon_zero", "manifest.schema", "scaling horizon_steps 0", _set(["model", "thresholds", "horizon_steps"], 0, "scaling")),
        c("unit_mhz_zero", "manifest.schema", "scaling unit_mhz 0", _set(["model", "thresholds", "unit_mhz"], 0, "scaling")),
        c("unit_mhz_negative", "manifest.schema", "scaling unit_mhz -100", _set(["model", "thresholds", "unit_mhz"], -100.0, "scaling")),
        c("unknown_family", "manifest.schema", "family gpu", _set(["model", "family"], "gpu")),
        c("extra_field", "manifest.schema", "an unknown top-level field", _set(["debug"], True)),
        c("scale_zero", "manifest.schema", "a normalisation scale of 0", _set(["model", "feature_params", "scale", 0], 0.0)),
        c("dotdot_file", "files.inside", "file ../../../../etc/passwd", _set(["model", "file"], "../../../../etc/passwd")),
        c("absolute_file", "files.inside", "file /etc/passwd", _set(["model", "file"], "/etc/passwd")),
        c("absolute_golden", "files.inside", "golden /etc/passwd", _set(["model", "golden"], "/etc/passwd")),
        c("dotdot_inner", "files.inside", "golden golden/../anomaly.onnx", _set(["model", "golden"], "golden/../anomaly.onnx")),
        c("model_symlink_shadow", "files.regular", "anomaly.onnx -> /etc/shadow (no digest may be shown)", _link("/etc/shadow")),
        c("model_symlink_dev_zero", "files.regular", "anomaly.onnx -> /dev/zero (must not read without end)", _link("/dev/zero")),
        c("model_fifo", "files.regular", "anomaly.onnx is a FIFO (must not block)", lambda w: w.replace_file("anomaly", "file", os.mkfifo)),
        c("golden_symlink", "files.regular", "golden/anomaly.json is a symlink to an identical copy", _golden_symlink),
        c("subdir_symlink", "files.regular", "golden/ is a symlink to a copy", _subdir_symlink),
        c("stray_symlink", "files.regular", "an unnamed extra file is a symlink to /etc/passwd", lambda w: (w.path / "README").symlink_to("/etc/passwd")),
        c("model_missing", "files.regular", "anomaly.onnx deleted", lambda w: (w.path / "anomaly.onnx").unlink()),
        c("model_is_directory", "files.regular", "anomaly.onnx is a directory", lambda w: w.replace_file("anomaly", "file", Path.mkdir)),
        c("too_many_files", "files.regular", "300 extra files", _too_many),
        c("wrong_sha256", "files.sha256", "one byte of anomaly.onnx changed", _flip_last_byte("anomaly", "file")),
        c("golden_wrong_sha256", "files.sha256", "one byte of golden/pba.json changed", _flip_last_byte("pba", "golden")),
        c("duplicate_model_name", "models.unique", "itp_gb renamed itp", _rename_model),
        c("wrong_feature_core_version", "feature_core.version", "feature core 0.9.0", _set(["feature_core_version"], "0.9.0")),
        c("wrong_onnxruntime_version", "onnxruntime.version", "ONNX Runtime 1.20.0", _set(["onnxruntime_version"], "1.20.0")),
        c("wrong_manifest_opset", "opset", "manifest ai.onnx opset 17", _set(["opset", "ai.onnx"], 17)),
        c("onnx_newer_opset", "opset", "anomaly.onnx imports ai.onnx 19 (re-hashed)", _opset_import("ai.onnx", 19)),
        c("onnx_unknown_domain", "opset", "anomaly.onnx imports com.example (re-hashed)", _opset_import("com.example", 1)),
        c("wrong_schema_hash", "schema_hash", "schema_hash 0000000000000000", _set(["model", "schema_hash"], "0" * 16)),
        c("center_length", "schema_hash", "10 centers for 9 features", _set(["model", "feature_params", "center"], [0.0] * 10)),
        c("truncated_onnx", "onnx.signature", "anomaly.onnx cut in half, sha256 updated", _truncate),
        c("garbage_onnx", "onnx.signature", "anomaly.onnx is text, sha256 updated", lambda w: w.rewrite("anomaly", "file", b"not an onnx model\n")),
        c("input_name_mismatch", "onnx.signature", "manifest input name x", _set(["model", "inputs", 0, "name"], "x")),
        c("input_shape_mismatch", "onnx.signature", "manifest input shape [null, 28]", _set(["model", "inputs", 0, "shape"], [None, 28])),
        c("metadata_version", "onnx.metadata", "dwcp.version re-stamped 99 (re-hashed)", _restamp("version", "99")),
        c("metadata_schema_hash_missing", "onnx.metadata", "dwcp.schema_hash removed (re-hashed)", _restamp("schema_hash", None)),
        c("golden_malformed_json", "golden.read", "golden/anomaly.json is not JSON (sha256 updated)", _golden_text(b'{"format": "dwcp-ml-golden-predictions/1", ')),
        c("golden_wrong_format", "golden.read", "golden format other/1", _golden_edit(lambda g: g.update(format="other/1"))),
        c("golden_wrong_model", "golden.read", "golden model pba in anomaly's file", _golden_edit(lambda g: g.update(model="pba"))),
        c("golden_bad_hex", "golden.read", "golden output hex one digit short", _golden_edit(lambda g: g["output"].update(float32=g["output"]["float32"][:-1]))),
        c("golden_ts_strings", "golden.read", "golden raw.ts entries are strings", _golden_edit(_ts_strings)),
        c("golden_missing_raw", "golden.read", "golden without raw", _golden_edit(lambda g: g.pop("raw"))),
        c("golden_request_malformed", "golden.read", "itp golden request without hosts", _golden_edit(lambda g: g["raw"]["requests"][0].pop("hosts"), "itp")),
        c("golden_raw_altered", "golden.features", "golden raw values of one window changed", _golden_edit(_double_raw)),
        c("golden_output_bits", "golden.output", "one output bit flipped", _golden_edit(_flip_output)),
    ]
    if os.geteuid() == 0:  # mknod needs CAP_MKNOD; the case is left out otherwise
        out.insert(36, c("model_device", "files.regular", "anomaly.onnx is /dev/null's device node", _device))
    return out + _drift_cases()


def signature_cases() -> list[Case]:
    def modified(w: Work) -> None:
        data = bytearray(w.read("anomaly", "golden"))
        data[-2:-1] = b" "
        w.rewrite("anomaly", "golden", bytes(data))
    return [
        Case("unsigned", "signature", "no model.sig, checked with trusted keys",
             lambda w: (w.path / "model.sig").unlink(), True),
        Case("signed_by_other_key", "signature", "signed by a key that is not trusted", lambda w: None, True),
        Case("modified_after_signing", "signature", "golden changed after signing, sha256 updated", modified, True),
        Case("file_added_after_signing", "signature", "a file added after signing", _extra_file_after_signing, True),
    ]


def _signing() -> Any | None:
    try:
        from dwcp_ml.export import signing
    except ImportError:
        return None
    return signing


def _copy(base: Path, target: Path) -> Work:
    shutil.copytree(base, target, symlinks=True)
    return Work(target)


def write(out: Path, base: Path = DEFAULT_BASE) -> list[Case]:
    """Writes the corpus into ``out`` (replacing an earlier corpus there)."""
    out = Path(out)
    if out.exists():
        if any(out.iterdir()) and not (out / "cases.json").is_file():
            raise SystemExit(f"{out}: not empty and not a bad-bundle corpus; choose another")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    written = []
    for case in cases():
        case.make(_copy(base, out / case.name))
        written.append(case)
    signing = _signing()
    if signing is not None:
        written += _signed_cases(signing, out, base)
    doc = {"format": FORMAT, "base": str(base), "cases": [
        {"name": c.name, "check": c.check, "description": c.description,
         "trusted_keys": c.trusted_keys} for c in written]}
    (out / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    return written


def _signed_cases(signing: Any, out: Path, base: Path) -> list[Case]:
    """The signature cases: a copy of the base signed with a generated trusted key, then one
    defect each (signed_by_other_key is signed with a second key)."""
    keys = out / "keys"
    keys.mkdir()
    trusted = signing.generate_key(keys / "trusted")
    other = signing.generate_key(keys / "other")
    shutil.copyfile(trusted.public, out / "trusted.pub")
    signed = out / ".signed-base"
    _copy(base, signed)
    signing.sign(signed, trusted.private)
    made = []
    for case in signature_cases():
        work = _copy(signed, out / case.name)
        if case.name == "signed_by_other_key":
            signing.sign(work.path, other.private)
        case.make(work)
        made.append(case)
    shutil.rmtree(signed)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dwcp_ml.golden.bad_bundles",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="corpus directory (replaced)")
    parser.add_argument("--base", default=str(DEFAULT_BASE), help="a valid bundle")
    args = parser.parse_args(argv)
    written = write(Path(args.out), Path(args.base))
    print(f"{len(written)} bad bundles in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
