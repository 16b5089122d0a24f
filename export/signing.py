"""Signed bundles in the OpenSSF model-signing format (PyPI ``model-signing``, key signer).

``sign`` hashes every file of the bundle directory except ``model.sig`` with model-signing's
file serialization (sha256, symlinks refused, no git paths ignored) and writes the signature,
a Sigstore bundle (v0.3 JSON) holding a DSSE envelope over an in-toto statement, to
``model.sig``. ``verify_signature`` runs model-signing's verifier with each trusted key the
signature's key hint names and then checks what the verifier leaves to its caller: the signed
serialization leaves no file but ``model.sig`` unsigned and follows no links. docs/signing.md
describes the format; sidecar/signing verifies the same files in Go.

A key id is ``"sha256:" + hex(sha256(DER SubjectPublicKeyInfo))`` of the public key as
re-encoded by ``cryptography`` (uncompressed point, named curve), so Python and Go print the
same id for a key whatever its PEM looked like.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import model_signing
from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import safe_files, spec_checks

SIGNATURE = "model.sig"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
# A bundle's signature lists at most limits.bundle_files resources of ~150 bytes each.
SIGNATURE_BYTES = 1 << 20
KEY_FILE_BYTES = 1 << 20
# model-signing's key signer accepts these curves only (no Ed25519, no RSA).
CURVES = ("secp256r1", "secp384r1", "secp521r1")

# SignatureError reasons; sidecar/signing's Reason values have the same names.
UNSIGNED = "unsigned"
MALFORMED = "malformed"
UNTRUSTED_KEY = "untrusted_key"
BAD_SIGNATURE = "bad_signature"
DIGEST = "digest"

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.S)
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SigningError(Exception):
    """Bad user input to keygen, sign or load_trusted_keys; the message names the file."""


class SignatureError(spec_checks.BundleError):
    """The bundle's signature does not prove that a trusted key signed exactly these files.

    ``check`` is "signature" and ``reason`` one of UNSIGNED, MALFORMED, UNTRUSTED_KEY,
    BAD_SIGNATURE, DIGEST. ``str()`` is the detail alone (no "signature: " prefix) because
    spec_checks wraps it under the check name itself; files are named relative to the bundle.
    """

    def __init__(self, reason: str, detail: str) -> None:
        Exception.__init__(self, detail)
        self.check = "signature"
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True)
class TrustedKey:
    """A public key allowed to sign bundles."""

    key_id: str
    public_key: ec.EllipticCurvePublicKey
    pem: bytes  # SubjectPublicKeyInfo PEM as cryptography writes it (model-signing's key hint)

    @property
    def hint(self) -> str:
        """model-signing's key hint: hex sha256 of the PEM (not the DER: that is the key id)."""
        return hashlib.sha256(self.pem).hexdigest()


def _der(public_key: ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _id(public_key: ec.EllipticCurvePublicKey) -> str:
    return "sha256:" + hashlib.sha256(_der(public_key)).hexdigest()


def _supported(key: object, where: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in CURVES:
        kind = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) \
            else type(key).__name__.lstrip("_")
        raise SigningError(f"{where}: a {kind} key; model-signing's key signer needs ECDSA "
                           "P-256, P-384 or P-521")
    return key


def key_id(public_key_pem: bytes) -> str:
    """The key id of a PEM public key: "sha256:" + hex sha256 of its DER SubjectPublicKeyInfo."""
    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise SigningError(f"not a PEM public key ({exc})") from None
    return _id(_supported(key, "public key"))


def _create(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def keygen(private_key: Path, public_key: Path) -> str:
    """Writes a new ECDSA P-256 key pair (private: PKCS8 PEM, unencrypted, mode 0600; public:
    SubjectPublicKeyInfo PEM) and returns its key id. Refuses to overwrite either file; missing
    parent directories are created private (0700), as a fresh key directory should be."""
    for path in (private_key, public_key):
        if os.path.lexists(path):
            raise SigningError(f"{path}: already exists; refusing to overwrite a key")
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        for path in (private_key, public_key):
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _create(private_key, key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()), 0o600)
        _create(public_key, key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo), 0o644)
    except OSError as exc:
        raise SigningError(f"{exc.filename}: cannot write the key ({exc.strerror})") from None
    return _id(key.public_key())


@dataclass(frozen=True)
class KeyPair:
    """The files keygen wrote and their key id."""

    private: Path
    public: Path
    key_id: str


def generate_key(prefix: Path) -> KeyPair:
    """A new key pair at PREFIX.key and PREFIX.pub (golden/bad_bundles.py's signature cases)."""
    private = prefix.with_name(prefix.name + ".key")
    public = prefix.with_name(prefix.name + ".pub")
    return KeyPair(private, public, keygen(private, public))


def _read_key_file(path: Path) -> bytes:
    try:
        # The operator names this file, so a link is fine; a FIFO must not block the open.
        fd = os.open(path, safe_files.FILE_FLAGS & ~os.O_NOFOLLOW)
    except OSError as exc:
        raise SigningError(f"{path}: cannot read the key file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SigningError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(KEY_FILE_BYTES + 1)
    if len(data) > KEY_FILE_BYTES:
        raise SigningError(f"{path}: larger than {KEY_FILE_BYTES} bytes; not a key file")
    return data


def _private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    data = _read_key_file(path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise SigningError(f"{path}: the private key is encrypted; use an unencrypted PKCS8 "
                           "key (dwcp-ml keygen)") from None
    except ValueError:
        raise SigningError(f"{path}: not a PEM private key") from None
    _supported(key.public_key(), str(path))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def private_key_id(private_key: Path) -> str:
    """The key id of the public half of a PEM private key file."""
    return _id(_private_key(private_key).public_key())


def _hashing_config() -> model_signing.hashing.Config:
    """The one serialization we sign and accept: every file but model.sig, sha256, no links."""
    return (model_signing.hashing.Config()
            .use_file_serialization(hashing_algorithm="sha256", allow_symlinks=False)
            .set_ignored_paths(paths=[SIGNATURE], ignore_git_paths=False)
            .set_allow_symlinks(False))


def _check_tree(dir_fd: int) -> None:
    """Links, FIFOs and devices refused up front, named relative to the bundle, before
    model-signing walks the tree (its own refusal names absolute paths)."""
    safe_files.check_tree(dir_fd, spec_checks.limits()["bundle_files"])


def sign(bundle_dir: Path, private_key: Path) -> Path:
    """Signs every file of ``bundle_dir`` except model.sig; writes (or replaces) model.sig
    atomically and returns its path."""
    _private_key(private_key)  # a missing, encrypted or non-ECDSA key: one line, not a trace
    try:
        dir_fd = safe_files.open_directory(bundle_dir)
    except OSError as exc:
        raise SigningError(f"{bundle_dir}: not a bundle directory ({exc.strerror})") from None
    try:
        _check_tree(dir_fd)
    except safe_files.UnsafeFileError as exc:
        raise SigningError(f"{bundle_dir}: {exc}") from None
    finally:
        os.close(dir_fd)
    with tempfile.TemporaryDirectory() as work:
        # model-signing writes outside the bundle (so nothing new appears while it hashes);
        # the bytes then go to a new file beside model.sig, renamed over it: a reader never
        # sees half a signature and a link planted at model.sig is replaced, not followed.
        staged = Path(work) / SIGNATURE
        (model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key)
         .set_hashing_config(_hashing_config()).sign(Path(bundle_dir), staged))
        target = Path(bundle_dir) / SIGNATURE
        fd, tmp = tempfile.mkstemp(dir=bundle_dir, prefix=".model.sig.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(staged.read_bytes())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)
    return target


def load_trusted_keys(path: Path) -> list[TrustedKey]:
    """The public keys of a file of concatenated PEM blocks (``-----BEGIN PUBLIC KEY-----``),
    in file order, a repeated key once."""
    data = _read_key_file(path)
    blocks = list(_PEM.finditer(data))
    if not blocks:
        raise SigningError(f"{path}: no PEM public key (-----BEGIN PUBLIC KEY-----) in the file")
    keys: dict[str, TrustedKey] = {}
    for n, block in enumerate(blocks, 1):
        kind = block.group(1).decode()
        if kind != "PUBLIC KEY":
            raise SigningError(f"{path}: PEM block {n} is a {kind}, not a PUBLIC KEY")
        try:
            loaded = serialization.load_pem_public_key(block.group(0))
        except ValueError:
            raise SigningError(f"{path}: PEM block {n} is not a valid public key") from None
        key = _supported(loaded, f"{path}: PEM block {n}")
        pem = key.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        keys.setdefault(_id(key), TrustedKey(_id(key), key, pem))
    return list(keys.values())


@dataclass(frozen=True)
class _Envelope:
    hint: str  # "" when the signature names no key: every trusted key is tried
    payload: bytes


def _malformed(detail: str) -> SignatureError:
    return SignatureError(MALFORMED, f"{SIGNATURE}: {detail}")


def _get(obj: Any, key: str, kind: type, where: str) -> Any:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, kind):
        raise _malformed(f"{where}{key} is missing or not a {kind.__name__}")
    return value


def _b64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(f"{where} is not base64") from None


def _envelope(raw: bytes) -> _Envelope:
    """The Sigstore bundle's DSSE envelope, structure only (nothing is trusted yet)."""
    try:
        doc = safe_files.strict_json(raw, spec_checks.limits()["json_depth"])
    except safe_files.StrictJSONError as exc:
        raise _malformed(f"not a Sigstore bundle JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _malformed("not a Sigstore bundle JSON (the top level is not an object)")
    if doc.get("mediaType") != BUNDLE_MEDIA_TYPE:
        raise _malformed(f"mediaType {str(doc.get('mediaType'))[:80]!r} is not "
                         f"{BUNDLE_MEDIA_TYPE!r}")
    material = _get(doc, "verificationMaterial", dict, "")
    if "publicKey" not in material:
        raise _malformed("verificationMaterial has no publicKey: not signed with a key")
    hint = material["publicKey"].get("hint") if isinstance(material["publicKey"], dict) else None
    if hint is not None and not isinstance(hint, str):
        raise _malformed("verificationMaterial.publicKey.hint is not a string")
    envelope = _get(doc, "dsseEnvelope", dict, "")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise _malformed(f"payloadType {str(envelope.get('payloadType'))[:80]!r} is not "
                         f"{PAYLOAD_TYPE!r}")
    signatures = _get(envelope, "signatures", list, "dsseEnvelope.")
    if len(signatures) != 1:
        raise _malformed(f"dsseEnvelope has {len(signatures)} signatures, not 1")
    _b64(_get(signatures[0], "sig", str, "dsseEnvelope.signatures[0]."),
         "dsseEnvelope.signatures[0].sig")
    payload = _b64(_get(envelope, "payload", str, "dsseEnvelope."), "dsseEnvelope.payload")
    return _Envelope(hint or "", payload)


def _resources(payload: bytes) -> dict[str, str]:
    """The signed files (name -> sha256 hex) of an authenticated in-toto statement, after
    checking that it is model-signing's v1.0 predicate with our one serialization and that
    the subject digest is sha256 over the resource digests in listed order."""
    try:
        statement = safe_files.strict_json(payload, spec_checks.limits()["json_depth"])
    except safe_files.StrictJSONError as exc:
        raise _malformed(f"the signed statement is not JSON ({exc})") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _malformed(f"the signed payload is not an in-toto {STATEMENT_TYPE} statement")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise _malformed(f"predicateType {str(statement.get('predicateType'))[:80]!r} is not "
                         f"{PREDICATE_TYPE!r}")
    subjects = _get(statement, "subject", list, "statement.")
    if len(subjects) != 1:
        raise _malformed(f"the statement has {len(subjects)} subjects, not 1")
    root = _get(_get(subjects[0], "digest", dict, "subject[0]."), "sha256", str,
                "subject[0].digest.")
    predicate = _get(statement, "predicate", dict, "statement.")
    _check_serialization(_get(predicate, "serialization", dict, "predicate."))
    signed: dict[str, str] = {}
    hasher = hashlib.sha256()
    for i, resource in enumerate(_get(predicate, "resources", list, "predicate.")):
        where = f"predicate.resources[{i}]."
        name = _get(resource, "name", str, where)
        digest = _get(resource, "digest", str, where)
        if resource.get("algorithm") != "sha256" or not _HEX64.fullmatch(digest):
            raise _malformed(f"{where[:-1]} is not a sha256 digest")
        if name in signed:
            raise _malformed(f"{name[:200]!r} is listed twice")
        signed[name] = digest
        hasher.update(bytes.fromhex(digest))
    if hasher.hexdigest() != root:
        raise _malformed("the subject digest is not the sha256 of the resource digests: the "
                         "statement is inconsistent")
    return signed


def _check_serialization(args: dict[str, Any]) -> None:
    """Files, sha256, no links, nothing but model.sig ignored: any other ignore list would
    leave files a trusted signer never vouched for free to change."""
    ignored = args.get("ignore_paths", [])
    if (args.get("method") != "files" or args.get("hash_type") != "sha256"
            or args.get("allow_symlinks") is not False
            or not isinstance(ignored, list) or any(p != SIGNATURE for p in ignored)):
        raise _malformed(f"the signed serialization {json.dumps(args)[:300]} is not "
                         f"files/sha256 without symlinks ignoring only {SIGNATURE}")


def _actual(dir_fd: int) -> dict[str, str]:
    """Every regular file of the bundle but model.sig: relative name -> sha256 hex."""
    cap = spec_checks.limits()["file_bytes"]
    out: dict[str, str] = {}
    for top, _, files, _ in os.fwalk(".", dir_fd=dir_fd, follow_symlinks=False):
        for name in files:
            rel = os.path.normpath(os.path.join(top, name))
            if rel != SIGNATURE:
                out[rel] = hashlib.sha256(safe_files.read(dir_fd, rel, cap)).hexdigest()
    return out


def _difference(signed: dict[str, str], actual: dict[str, str]) -> str | None:
    parts = []
    for label, names in (
            ("changed", [n for n in sorted(signed) if n in actual and actual[n] != signed[n]]),
            ("added", sorted(set(actual) - set(signed))),
            ("removed", sorted(set(signed) - set(actual)))):
        if names:
            shown = ", ".join(n[:200] for n in names[:5]) + (" ..." if len(names) > 5 else "")
            parts.append(f"{label} {shown}")
    return "; ".join(parts) or None


def _read_signature(dir_fd: int) -> bytes:
    try:
        _check_tree(dir_fd)
    except safe_files.UnsafeFileError as exc:
        raise SignatureError(DIGEST, f"{exc}; only regular files can be signed") from None
    try:
        os.stat(SIGNATURE, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        raise SignatureError(UNSIGNED, f"unsigned: the bundle has no {SIGNATURE}") from None
    try:
        return safe_files.read(dir_fd, SIGNATURE, SIGNATURE_BYTES)
    except safe_files.UnsafeFileError as exc:
        raise _malformed(str(exc).removeprefix(f"{SIGNATURE}: ")) from None


def _model_signing_verify(bundle_dir: Path, raw: bytes, key: TrustedKey) -> Exception | None:
    """model-signing's own verification with one key: None when it accepts; its exception
    otherwise (InvalidSignature: the signature does not verify with this key)."""
    with tempfile.TemporaryDirectory() as work:
        # The verifier reads the signature and the key from paths: copies outside the bundle,
        # so it checks the very bytes parsed here.
        (Path(work) / SIGNATURE).write_bytes(raw)
        (Path(work) / "key.pub").write_bytes(key.pem)
        config = (model_signing.verifying.Config()
                  .use_elliptic_key_verifier(public_key=Path(work) / "key.pub")
                  .set_hashing_config(_hashing_config()))
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # its warning for hint-less sigs
                config.verify(Path(bundle_dir), Path(work) / SIGNATURE)
        except Exception as exc:  # noqa: BLE001 - the library raises ValueError, KeyError, ...
            return exc
    return None


def verify_signature(bundle_dir: Path, trusted: list[TrustedKey]) -> str:
    """The id of the trusted key whose model.sig covers exactly the bundle's files; raises
    SignatureError otherwise."""
    try:
        dir_fd = safe_files.open_directory(bundle_dir)
    except OSError:
        raise SignatureError(UNSIGNED, "the bundle is not a directory that can be opened") \
            from None
    try:
        raw = _read_signature(dir_fd)
        envelope = _envelope(raw)
        candidates = [k for k in trusted if not envelope.hint or k.hint == envelope.hint]
        if not candidates:
            raise SignatureError(UNTRUSTED_KEY, f"{SIGNATURE} is signed by a key that is not "
                                 f"among the {len(trusted)} trusted keys (model-signing key "
                                 f"hint {envelope.hint[:64]})")
        outcome: Exception | None = crypto_exceptions.InvalidSignature()
        for key in candidates:
            outcome = _model_signing_verify(bundle_dir, raw, key)
            if not isinstance(outcome, crypto_exceptions.InvalidSignature):
                break
        if isinstance(outcome, crypto_exceptions.InvalidSignature):
            raise SignatureError(BAD_SIGNATURE, f"{SIGNATURE}: the signature does not verify "
                                 f"with trusted key {', '.join(k.key_id for k in candidates)}: "
                                 "the signature or the signed statement was changed")
        signed = _resources(envelope.payload)
        difference = _difference(signed, _actual(dir_fd))
        if difference:
            raise SignatureError(DIGEST, f"the bundle's files are not the signed ones: "
                                 f"{difference}")
        if outcome is not None:
            detail = str(outcome).replace(str(bundle_dir), "<bundle>")[:300]
            raise _malformed(f"model-signing refuses it: {detail}")
        return key.key_id
    finally:
        os.close(dir_fd)
