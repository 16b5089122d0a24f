"""Lineage of a bundle and of a run: what made it and what it is, as registry tags.

- ``bundle_digest``: ``sha256:`` + sha256 of the ``sha256sum`` listing of every file of the
  bundle (``model.sig`` included), sorted by relative path as bytes; the same as
  ``cd BUNDLE && find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs sha256sum | sha256sum``.
- ``git_commit``: HEAD of the checkout this package runs from, ``unknown`` outside a git
  checkout (an installed wheel); ``git_dirty`` says whether tracked files were changed.
- the signature: with trusted keys, the key id that verifiably signed the bundle
  (export/signing.py); without, only model-signing's key hint can be read from ``model.sig``,
  which names but does not prove a key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from functools import cache
from pathlib import Path

from dwcp_ml import feature_core as fc

REPO = Path(__file__).resolve().parents[1]
UNKNOWN = "unknown"


class LineageError(ValueError):
    """A bundle whose files cannot be listed (a link or special file in it)."""


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


@cache
def git_commit() -> str:
    commit = _git("rev-parse", "--verify", "HEAD")
    return commit if commit and len(commit) == 40 else UNKNOWN


@cache
def git_dirty() -> str:
    if git_commit() == UNKNOWN:
        return UNKNOWN
    status = _git("status", "--porcelain", "--untracked-files=no")
    return UNKNOWN if status is None else str(bool(status)).lower()


def versions() -> dict[str, str]:
    """The code versions a run depends on, as tags."""
    import onnxruntime

    from dwcp_ml import __version__

    return {"dwcp_ml.version": __version__, "feature_core_version": fc.VERSION,
            "onnxruntime_version": onnxruntime.__version__, "git_commit": git_commit(),
            "git_dirty": git_dirty()}


def bundle_files(directory: Path) -> list[str]:
    """Every regular file's path relative to the bundle (slashes), sorted as bytes."""
    names = []
    for top, dirs, files in os.walk(directory, followlinks=False):
        for name in dirs + files:
            path = Path(top) / name
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise LineageError(f"{path.relative_to(directory)}: not a regular file or "
                                   "directory; a bundle holds only regular files")
        names += [(Path(top) / f).relative_to(directory).as_posix() for f in files]
    return sorted(names, key=lambda n: n.encode())


def bundle_digest(directory: Path) -> str:
    listing = "".join(
        f"{hashlib.sha256((directory / n).read_bytes()).hexdigest()}  {n}\n"
        for n in bundle_files(directory))
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest()


def signature_hint(directory: Path) -> str | None:
    """model-signing's key hint in ``model.sig`` (hex sha256 of the signer's public key PEM),
    "" for a signature without one, None when the bundle is unsigned or the file unreadable."""
    from dwcp_ml.export import signing  # model-signing takes a second to import

    path = directory / signing.SIGNATURE
    if not path.is_file() or path.is_symlink() or path.stat().st_size > signing.SIGNATURE_BYTES:
        return None
    try:
        doc = json.loads(path.read_bytes())
        hint = doc["verificationMaterial"]["publicKey"].get("hint", "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return hint if isinstance(hint, str) else None


def bundle_tags(directory: Path, manifest: dict[str, object],
                signed_by: str | None) -> dict[str, str]:
    """The registry tags of a bundle: its digest and version, the code that made it, each
    model's training data digest and version, the signature's key."""
    tags = {"bundle_digest": bundle_digest(directory),
            "bundle_version": str(manifest.get("bundle_version", "")),
            "bundle_created_by": str(manifest.get("created_by", "")),
            "feature_core_version": str(manifest.get("feature_core_version", UNKNOWN)),
            "onnxruntime_version": str(manifest.get("onnxruntime_version", UNKNOWN)),
            "git_commit": git_commit(), "git_dirty": git_dirty()}
    models = manifest.get("models", [])
    assert isinstance(models, list)
    tags["models"] = ",".join(str(m.get("name")) for m in models)
    for m in models:
        tags[f"training_data_digest.{m.get('name')}"] = str(m.get("training_data_digest",
                                                                  UNKNOWN))
        tags[f"model_version.{m.get('name')}"] = str(m.get("version", ""))
    hint = signature_hint(directory)
    if signed_by:
        tags["signature_key_id"] = signed_by
        tags["signature"] = "verified"
    elif hint is not None or (directory / "model.sig").exists():
        tags["signature"] = "present, not verified (register with --trusted-keys)"
    else:
        tags["signature"] = "unsigned"
    if hint:
        tags["signature_key_hint"] = hint
    return tags
