"""Signed bundles (dwcp_ml.export.signing): keys, signing, each refusal with its reason, the
standard model-signing verifier accepting our signature, and the CLI."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import model_signing
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from dwcp_ml import cli
from dwcp_ml.export import signing
from dwcp_ml.export.spec_checks import BundleError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "bundle"


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path | str]:
    out: dict[str, Path | str] = {}
    for name in ("trusted", "other"):
        out[name + "_id"] = signing.keygen(tmp_path / f"{name}.key", tmp_path / f"{name}.pub")
        out[name] = tmp_path / name
    return out


@pytest.fixture
def signed(tmp_path: Path, keys: dict[str, Path | str]) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(GOLDEN, bundle)
    (bundle / signing.SIGNATURE).unlink(missing_ok=True)
    signing.sign(bundle, tmp_path / "trusted.key")
    return bundle


def trusted(tmp_path: Path, name: str = "trusted") -> list[signing.TrustedKey]:
    return signing.load_trusted_keys(tmp_path / f"{name}.pub")


def refusal(bundle: Path, keys: list[signing.TrustedKey]) -> signing.SignatureError:
    with pytest.raises(signing.SignatureError) as info:
        signing.verify_signature(bundle, keys)
    return info.value


def statement(bundle: Path) -> dict:
    doc = json.loads((bundle / signing.SIGNATURE).read_text())
    return json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))


def test_keygen_writes_a_private_key_only_the_owner_reads(tmp_path: Path) -> None:
    kid = signing.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    assert stat.S_IMODE(os.stat(tmp_path / "k.key").st_mode) == 0o600
    assert kid == signing.key_id((tmp_path / "k.pub").read_bytes())
    assert kid == signing.private_key_id(tmp_path / "k.key")
    assert kid.startswith("sha256:") and len(kid) == 7 + 64
    key = serialization.load_pem_private_key((tmp_path / "k.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"


def test_keygen_creates_a_private_key_directory(tmp_path: Path) -> None:
    signing.keygen(tmp_path / "keys" / "k.key", tmp_path / "keys" / "k.pub")
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    assert (tmp_path / "keys" / "k.pub").is_file()


def test_keygen_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "k.key").write_text("precious")
    with pytest.raises(signing.SigningError, match="k.key: already exists; refusing"):
        signing.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    assert (tmp_path / "k.key").read_text() == "precious"
    assert not (tmp_path / "k.pub").exists()


def test_key_id_is_sha256_of_der_spki(tmp_path: Path) -> None:
    signing.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    key = serialization.load_pem_public_key((tmp_path / "k.pub").read_bytes())
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    import hashlib
    assert signing.key_id((tmp_path / "k.pub").read_bytes()) == \
        "sha256:" + hashlib.sha256(der).hexdigest()


def test_valid_signature_names_the_key(signed: Path, tmp_path: Path, keys: dict) -> None:
    assert signing.verify_signature(signed, trusted(tmp_path)) == keys["trusted_id"]
    both = trusted(tmp_path, "other") + trusted(tmp_path)
    assert signing.verify_signature(signed, both) == keys["trusted_id"]


def test_signature_covers_every_file_but_itself(signed: Path) -> None:
    st = statement(signed)
    names = {r["name"] for r in st["predicate"]["resources"]}
    on_disk = {str(p.relative_to(signed)) for p in signed.rglob("*") if p.is_file()}
    assert names == on_disk - {signing.SIGNATURE}
    assert st["_type"] == signing.STATEMENT_TYPE
    assert st["predicateType"] == signing.PREDICATE_TYPE
    assert st["predicate"]["serialization"] == {
        "method": "files", "hash_type": "sha256", "allow_symlinks": False,
        "ignore_paths": [signing.SIGNATURE]}
    doc = json.loads((signed / signing.SIGNATURE).read_text())
    assert doc["mediaType"] == signing.BUNDLE_MEDIA_TYPE
    assert doc["dsseEnvelope"]["payloadType"] == signing.PAYLOAD_TYPE


def test_resigning_replaces_model_sig(signed: Path, tmp_path: Path, keys: dict) -> None:
    signing.sign(signed, tmp_path / "other.key")
    assert signing.verify_signature(signed, trusted(tmp_path, "other")) == keys["other_id"]
    assert not [p for p in signed.iterdir() if p.name.startswith(".model.sig")]


def test_model_signing_cli_accepts_our_signature(signed: Path, tmp_path: Path) -> None:
    """The standard verifier (model_signing's own command) accepts the signature as is."""
    tool = Path(sys.executable).with_name("model_signing")
    assert tool.exists(), f"{tool} missing: pip install model-signing==1.1.1 into the venv"
    run = subprocess.run([str(tool), "verify", "key", str(signed), "--signature",
                          str(signed / signing.SIGNATURE), "--public_key",
                          str(tmp_path / "trusted.pub"), "--ignore-paths", signing.SIGNATURE],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Verification succeeded" in run.stdout
    model_signing.verifying.Config().use_elliptic_key_verifier(
        public_key=tmp_path / "trusted.pub").verify(signed, signed / signing.SIGNATURE)


def _append(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b" ")


def _rewrite_envelope(bundle: Path, edit) -> None:
    doc = json.loads((bundle / signing.SIGNATURE).read_text())
    edit(doc)
    (bundle / signing.SIGNATURE).write_text(json.dumps(doc))


def _foreign_sig(bundle: Path, tmp_path: Path) -> None:
    """A well-formed ECDSA signature by the trusted key, over other bytes."""
    key = serialization.load_pem_private_key((tmp_path / "trusted.key").read_bytes(), None)
    sig = base64.b64encode(key.sign(b"other bytes", ec.ECDSA(hashes.SHA256()))).decode()
    _rewrite_envelope(bundle, lambda d: d["dsseEnvelope"]["signatures"][0].update(sig=sig))


def _sign_ignoring_manifest(bundle: Path, tmp_path: Path) -> None:
    hashing = model_signing.hashing.Config().set_ignored_paths(
        paths=[signing.SIGNATURE, "manifest.json"], ignore_git_paths=False)
    (model_signing.signing.Config().use_elliptic_key_signer(private_key=tmp_path / "trusted.key")
     .set_hashing_config(hashing).sign(bundle, bundle / signing.SIGNATURE))


CASES = [
    ("tampered file", lambda b, t: _append(b / "pba.onnx"), signing.DIGEST,
     "not the signed ones: changed pba.onnx"),
    ("tampered golden", lambda b, t: _append(b / "golden" / "pba.json")
     if (b / "golden" / "pba.json").exists() else _append(next((b / "golden").iterdir())),
     signing.DIGEST, "changed golden/"),
    ("extra file", lambda b, t: (b / "extra.onnx").write_bytes(b"x"), signing.DIGEST,
     "added extra.onnx"),
    ("extra dir file", lambda b, t: ((b / "sub").mkdir(), (b / "sub" / "x").write_text("x")),
     signing.DIGEST, "added sub/x"),
    ("removed file", lambda b, t: (b / "itp.onnx").unlink(), signing.DIGEST,
     "removed itp.onnx"),
    ("unsigned", lambda b, t: (b / signing.SIGNATURE).unlink(), signing.UNSIGNED,
     "unsigned: the bundle has no model.sig"),
    ("truncated sig", lambda b, t: (b / signing.SIGNATURE).write_bytes(
        (b / signing.SIGNATURE).read_bytes()[:200]), signing.MALFORMED,
     "model.sig: not a Sigstore bundle JSON"),
    ("empty sig", lambda b, t: (b / signing.SIGNATURE).write_bytes(b""), signing.MALFORMED,
     "model.sig: not a Sigstore bundle JSON"),
    ("garbled base64", lambda b, t: _rewrite_envelope(
        b, lambda d: d["dsseEnvelope"].update(payload="@@not base64@@")), signing.MALFORMED,
     "dsseEnvelope.payload is not base64"),
    ("wrong payloadType", lambda b, t: _rewrite_envelope(
        b, lambda d: d["dsseEnvelope"].update(payloadType="text/plain")), signing.MALFORMED,
     "payloadType 'text/plain' is not 'application/vnd.in-toto+json'"),
    ("wrong mediaType", lambda b, t: _rewrite_envelope(
        b, lambda d: d.update(mediaType="application/json")), signing.MALFORMED,
     "mediaType 'application/json' is not"),
    ("two signatures", lambda b, t: _rewrite_envelope(
        b, lambda d: d["dsseEnvelope"]["signatures"].append(d["dsseEnvelope"]["signatures"][0])),
     signing.MALFORMED, "2 signatures, not 1"),
    ("bad signature", _foreign_sig, signing.BAD_SIGNATURE,
     "model.sig: the signature does not verify with trusted key sha256:"),
    ("changed payload", lambda b, t: _rewrite_envelope(
        b, lambda d: d["dsseEnvelope"].update(payload=base64.b64encode(
            base64.b64decode(d["dsseEnvelope"]["payload"]).replace(b"pba.onnx", b"pbb.onnx"))
            .decode())), signing.BAD_SIGNATURE, "the signature or the signed statement"),
    ("files left unsigned", _sign_ignoring_manifest, signing.MALFORMED,
     "ignoring only model.sig"),
    ("symlink", lambda b, t: os.symlink("/etc/passwd", b / "symlinked.onnx"), signing.DIGEST,
     "symlinked.onnx is a symbolic link"),
    ("fifo", lambda b, t: os.mkfifo(b / "pipe.onnx"), signing.DIGEST, "pipe.onnx is a FIFO"),
]


@pytest.mark.parametrize("edit,reason,fragment", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_refusals(signed: Path, tmp_path: Path, edit, reason: str, fragment: str) -> None:
    edit(signed, tmp_path)
    err = refusal(signed, trusted(tmp_path))
    assert (err.reason, err.check) == (reason, "signature")
    assert fragment in str(err)
    assert str(tmp_path) not in str(err), "messages name files relative to the bundle only"
    assert isinstance(err, BundleError)


def test_untrusted_key(signed: Path, tmp_path: Path) -> None:
    err = refusal(signed, trusted(tmp_path, "other"))
    assert err.reason == signing.UNTRUSTED_KEY
    assert "signed by a key that is not among the 1 trusted keys" in str(err)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_load_trusted_keys_concatenated(tmp_path: Path, keys: dict) -> None:
    both = _write(tmp_path / "both.pub", b"# ops keys\n" + (tmp_path / "trusted.pub").read_bytes()
                  + (tmp_path / "other.pub").read_bytes() + (tmp_path / "trusted.pub").read_bytes())
    assert [k.key_id for k in signing.load_trusted_keys(both)] == \
        [keys["trusted_id"], keys["other_id"]]
    p384 = _write(tmp_path / "p384.pub", _pem(ec.generate_private_key(ec.SECP384R1())))
    assert signing.load_trusted_keys(p384)[0].public_key.curve.name == "secp384r1"


KEY_FILE_CASES = [
    ("missing", lambda d: d / "nope.pub", "nope.pub: cannot read the key file"),
    ("empty", lambda d: _write(d / "e.pub", b""), "e.pub: no PEM public key"),
    ("private key", lambda d: d / "trusted.key", "PEM block 1 is a PRIVATE KEY, not a PUBLIC KEY"),
    ("garbage PEM", lambda d: _write(d / "g.pub", b"-----BEGIN PUBLIC KEY-----\nAAAA\n"
                                     b"-----END PUBLIC KEY-----\n"), "PEM block 1 is not a valid"),
    ("rsa", lambda d: _write(d / "r.pub", _pem(rsa.generate_private_key(65537, 2048))),
     "a RSAPublicKey key; model-signing's key signer needs ECDSA"),
    ("ed25519", lambda d: _write(d / "ed.pub", _pem(ed25519.Ed25519PrivateKey.generate())),
     "Ed25519PublicKey key"),
    ("secp256k1", lambda d: _write(d / "k1.pub", _pem(ec.generate_private_key(ec.SECP256K1()))),
     "a secp256k1 key"),
    ("directory", lambda d: d, "not a regular file"),
    ("fifo", lambda d: (os.mkfifo(d / "f.pub"), d / "f.pub")[1], "f.pub: not a regular file"),
]


@pytest.mark.parametrize("make,fragment", [c[1:] for c in KEY_FILE_CASES],
                         ids=[c[0] for c in KEY_FILE_CASES])
def test_load_trusted_keys_refusals(tmp_path: Path, keys: dict, make, fragment: str) -> None:
    path = make(tmp_path)
    with pytest.raises(signing.SigningError) as info:
        signing.load_trusted_keys(path)
    assert fragment in str(info.value) and str(path) in str(info.value)


def test_sign_refusals(tmp_path: Path, keys: dict, signed: Path) -> None:
    with pytest.raises(signing.SigningError, match="trusted.pub: not a PEM private key"):
        signing.sign(signed, tmp_path / "trusted.pub")
    with pytest.raises(signing.SigningError, match="nope: not a bundle directory"):
        signing.sign(tmp_path / "nope", tmp_path / "trusted.key")
    os.symlink("/etc/passwd", signed / "link")
    with pytest.raises(signing.SigningError, match="link is a symbolic link"):
        signing.sign(signed, tmp_path / "trusted.key")


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_keygen_sign_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(GOLDEN, bundle)
    (bundle / signing.SIGNATURE).unlink(missing_ok=True)
    k, p = str(tmp_path / "k.key"), str(tmp_path / "k.pub")
    code, out, _ = run_cli(capsys, "keygen", "--out-private", k, "--out-public", p)
    kid = out.strip()
    assert code == 0 and kid.startswith("sha256:")
    code, out, _ = run_cli(capsys, "sign", str(bundle), "--key", k)
    assert code == 0 and out.strip() == f"signed by {kid}: {bundle / signing.SIGNATURE}"
    code, out, _ = run_cli(capsys, "verify", str(bundle), "--trusted-keys", p)
    assert code == 0 and f"signed by {kid}" in out


CLI_ERRORS = [
    (["keygen", "--out-private", "{d}/k.key", "--out-public", "{d}/new.pub"],
     "k.key: already exists"),
    (["sign", "{d}/b", "--key", "{d}/missing.key"], "missing.key: cannot read the key file"),
    (["sign", "{d}/b", "--key", "{d}/k.pub"], "k.pub: not a PEM private key"),
    (["sign", "{d}/nobundle", "--key", "{d}/k.key"], "nobundle: not a bundle directory"),
    (["verify", "{d}/b", "--trusted-keys", "{d}/missing.pub"], "--trusted-keys"),
    (["verify", "{d}/b", "--trusted-keys", "{d}/k.key"], "not a PUBLIC KEY"),
    (["verify", "{d}/b", "--trusted-keys", "{d}/other.pub"], "check signature: model.sig is "
     "signed by a key that is not among"),
    (["verify", "{d}/unsigned", "--trusted-keys", "{d}/k.pub"],
     "check signature: unsigned: the bundle has no model.sig"),
]


@pytest.mark.parametrize("argv,fragment", CLI_ERRORS, ids=[" ".join(a[:2]) + f" {i}" for i, (a, _)
                                                             in enumerate(CLI_ERRORS)])
def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                    fragment: str) -> None:
    for name in ("b", "unsigned"):
        shutil.copytree(GOLDEN, tmp_path / name)
        (tmp_path / name / signing.SIGNATURE).unlink(missing_ok=True)
    signing.keygen(tmp_path / "k.key", tmp_path / "k.pub")
    signing.keygen(tmp_path / "other.key", tmp_path / "other.pub")
    signing.sign(tmp_path / "b", tmp_path / "k.key")
    code, _, err = run_cli(capsys, *[a.format(d=tmp_path) for a in argv])
    assert code == 2
    assert err.startswith("dwcp-ml: error: ") and err.count("\n") == 1, err
    assert fragment in err
