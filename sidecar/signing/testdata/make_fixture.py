"""Writes the Go tests' fixture: a tiny signed directory and its test key pair.

    .venv/bin/python sidecar/signing/testdata/make_fixture.py

Run from the repository root; replaces testdata/{bundle,keys}. The keys are test keys only.
"""

import shutil
from pathlib import Path

from dwcp_ml.export import signing

HERE = Path(__file__).resolve().parent


def main() -> None:
    for sub in ("bundle", "keys"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    keys = HERE / "keys"
    keys.mkdir()
    trusted = signing.keygen(keys / "trusted.key", keys / "trusted.pub")
    other = signing.keygen(keys / "other.key", keys / "other.pub")
    bundle = HERE / "bundle"
    (bundle / "models").mkdir(parents=True)
    (bundle / "manifest.json").write_text('{"bundle_version": "fixture"}\n')
    (bundle / "models" / "a.onnx").write_bytes(bytes(range(256)))
    (bundle / "golden.json").write_text("[]\n")
    signing.sign(bundle, keys / "trusted.key")
    (HERE / "key_ids.txt").write_text(f"trusted {trusted}\nother {other}\n")
    print(trusted)


if __name__ == "__main__":
    main()
