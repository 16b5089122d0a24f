"""The model registry through the CLI on the embedded store (sqlite + local artifacts in a
tmp dir): register the committed bundle and a signed copy, aliases, list, show, pull with
verification, lineage tags, a tampered artifact refused, unknown names one line each.
tests/test_mlflow_server.py runs the same ``registry_flow`` against a real ``mlflow server``."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from dwcp_ml import cli
from dwcp_ml.export import signing
from dwcp_ml.lifecycle import lineage, registry, tracking

BUNDLE = cli.REPO / "golden" / "bundle"
NAME = "dwcp-default"


@functools.cache
def _template_db() -> bytes:
    """An empty, fully migrated MLflow sqlite database, made once per test session: creating
    one runs MLflow's migrations (5-8 s on the 2-core machine), copying it takes
    milliseconds."""
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        tracking.client(tracking.Target(f"sqlite:///{root / tracking.DB_FILE}",
                                        root / tracking.ARTIFACTS))
        return (root / tracking.DB_FILE).read_bytes()


def fresh_store(store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty embedded store at ``store``, made the default ($DWCP_ML_TRACKING_DIR)."""
    store.mkdir(parents=True)
    (store / tracking.DB_FILE).write_bytes(_template_db())
    monkeypatch.setenv(tracking.ENV_DIR, str(store))
    monkeypatch.delenv(tracking.ENV_URI, raising=False)
    return store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("dwcp-ml: error: ") and err.count("\n") == 1, err
    return err


def files(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def stored_artifact(store: Path, run_id: str, name: str) -> Path:
    """A file of the version's ``bundle`` artifact in the store's artifact directory (the
    embedded store and the server's --artifacts-destination both keep <run id>/artifacts/)."""
    found = [p for p in store.rglob(name) if run_id in p.parts and "bundle" in p.parts]
    assert len(found) == 1, found
    return found[0]


def registry_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str,
                  artifact_store: Path) -> None:
    """The whole registry flow against the tracking URI ``uri`` whose artifacts live under
    ``artifact_store`` on this machine."""
    t = ("--tracking-uri", uri)
    signed = tmp_path / "signed"
    shutil.copytree(BUNDLE, signed)
    key = signing.generate_key(tmp_path / "key")
    signing.sign(signed, key.private)
    (tmp_path / "trusted.pem").write_bytes(key.public.read_bytes())
    manifest = json.loads((BUNDLE / "manifest.json").read_text())

    # Register: the committed bundle as champion, the signed copy as challenger.
    code, out, err = run(capsys, "registry", "register", str(BUNDLE), "--name", NAME,
                         "--alias", "champion", *t)
    assert code == 0, err
    assert out.startswith(f"{NAME} version 1 (champion)\n")
    browse = f"browse the runs and the registry: mlflow ui --backend-store-uri {t[1]}\n"
    # a server has a UI of its own; only the embedded store needs one started
    assert out.endswith(browse) == t[1].startswith("sqlite:")
    code, out, err = run(capsys, "registry", "register", str(signed), "--name", NAME,
                         "--alias", "challenger", "--trusted-keys", str(tmp_path / "trusted.pem"),
                         *t)
    assert code == 0, err

    listed = ok_json(capsys, "registry", "list", *t)
    assert listed == [{"name": NAME, "latest": "2", "aliases": {"challenger": "2", "champion": "1"},
                       "updated_ms": listed[0]["updated_ms"]}]

    # Lineage tags.
    champion = ok_json(capsys, "registry", "show", f"{NAME}@champion", *t)
    tags = champion["tags"]
    assert champion["version"] == "1" and champion["aliases"] == ["champion"]
    assert tags["bundle_digest"] == lineage.bundle_digest(BUNDLE)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", tags["bundle_digest"])
    assert tags["git_commit"] == lineage.git_commit()
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", tags["git_commit"])
    assert tags["feature_core_version"] == manifest["feature_core_version"]
    assert tags["onnxruntime_version"] == manifest["onnxruntime_version"]
    assert tags["bundle_version"] == manifest["bundle_version"]
    for m in manifest["models"]:
        assert tags[f"training_data_digest.{m['name']}"] == m["training_data_digest"]
    assert tags["signature"] == "unsigned" and "signature_key_id" not in tags
    challenger = ok_json(capsys, "registry", "show", f"{NAME}/2", *t)
    assert challenger["aliases"] == ["challenger"]
    assert challenger["tags"]["signature_key_id"] == key.key_id
    assert challenger["tags"]["signature"] == "verified"
    assert challenger["tags"]["bundle_digest"] == lineage.bundle_digest(signed)
    code, out, _ = run(capsys, "registry", "show", f"{NAME}@challenger", *t)
    assert code == 0 and f"signature_key_id             {key.key_id}" in out

    # Pull: verified, bit-identical files.
    code, out, err = run(capsys, "registry", "pull", f"{NAME}@champion", "--out",
                         str(tmp_path / "pulled"), *t)
    assert code == 0, err
    assert "6 models verified bit for bit" in out and tags["bundle_digest"] in out
    assert files(tmp_path / "pulled") == files(BUNDLE)
    code, out, err = run(capsys, "registry", "pull", f"{NAME}/2", "--out",
                         str(tmp_path / "pulled2"), "--trusted-keys",
                         str(tmp_path / "trusted.pem"), *t)
    assert code == 0 and f"signed by {key.key_id}" in out, err
    assert files(tmp_path / "pulled2") == files(signed)
    one_line_error(capsys, "registry", "pull", f"{NAME}@champion", "--out",
                   str(tmp_path / "pulled"), *t)  # not empty now

    # Moving an alias.
    code, out, _ = run(capsys, "registry", "alias", NAME, "2", "champion", *t)
    assert code == 0 and out == f"{NAME}@champion -> version 2\n"
    assert ok_json(capsys, "registry", "show", f"{NAME}@champion", *t)["version"] == "2"
    assert ok_json(capsys, "registry", "show", f"{NAME}/1", *t)["aliases"] == []
    code, out, _ = run(capsys, "registry", "alias", NAME, "1", "previous", *t)
    assert code == 0 and out == f"{NAME}@previous -> version 1\n"
    assert ok_json(capsys, "registry", "show", f"{NAME}@previous", *t)["version"] == "1"

    # A tampered artifact is refused with the bundle's error; nothing is left in --out.
    onnx = stored_artifact(artifact_store, champion["run_id"], "scaling.onnx")
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 1
    onnx.write_bytes(bytes(data))
    err = one_line_error(capsys, "registry", "pull", f"{NAME}/1", "--out",
                         str(tmp_path / "bad"), *t)
    assert f"{NAME}/1: pulled bundle refused: check files.sha256: scaling.onnx: sha256" in err
    assert not (tmp_path / "bad").exists()
    assert not list(tmp_path.glob(".bad.*"))
    # model.sig is not in the manifest: the registered digest catches a change to it.
    sig = stored_artifact(artifact_store, challenger["run_id"], "model.sig")
    sig.write_bytes(sig.read_bytes().replace(b'"mediaType"', b'"mediaType" ', 1))
    err = one_line_error(capsys, "registry", "pull", f"{NAME}@champion", "--out",
                         str(tmp_path / "bad"), *t)
    assert "are not the registered bundle" in err

    # Unknown name, alias, version; bad references.
    assert "no registered model 'nope'" in one_line_error(
        capsys, "registry", "show", "nope@champion", *t)
    assert "registered: dwcp-default" in one_line_error(
        capsys, "registry", "pull", "nope/1", "--out", str(tmp_path / "x"), *t)
    assert f"{NAME} has no version 9 (latest: 2)" in one_line_error(
        capsys, "registry", "show", f"{NAME}/9", *t)
    assert f"{NAME} has no version 9" in one_line_error(
        capsys, "registry", "alias", NAME, "9", "challenger", *t)
    assert "name a version as NAME@ALIAS" in one_line_error(capsys, "registry", "show", NAME, *t)
    assert "alias 'staging': use champion, challenger, previous" in one_line_error(
        capsys, "registry", "show", f"{NAME}@staging", *t)


def test_embedded_registry_flow(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = fresh_store(tmp_path / "store", monkeypatch)
    target = tracking.resolve()
    assert target.uri == f"sqlite:///{store.resolve() / 'mlflow.db'}"
    registry_flow(tmp_path, capsys, target.uri, store)
    assert (store / "mlflow.db").is_file()


def test_an_unknown_alias_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_store(tmp_path / "store", monkeypatch)
    assert run(capsys, "registry", "register", str(BUNDLE), "--name", NAME)[0] == 0
    err = one_line_error(capsys, "registry", "pull", f"{NAME}@champion", "--out",
                         str(tmp_path / "p"))
    assert f"{NAME} has no alias 'champion' (aliases: none)" in err
    code, out, _ = run(capsys, "registry", "list")
    assert code == 0 and re.search(rf"^{NAME} +1  -", out, re.M), out


def test_register_refuses_a_bad_bundle_before_logging(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fresh_store(tmp_path / "store", monkeypatch)
    bad = tmp_path / "bad"
    shutil.copytree(BUNDLE, bad)
    (bad / "golden" / "pba.json").write_text("{}")
    err = one_line_error(capsys, "registry", "register", str(bad), "--name", NAME)
    assert "golden" in err
    assert "dwcp-ml: error: no registered model" not in err
    assert one_line_error(capsys, "registry", "register", str(BUNDLE), "--name", "a b")


@pytest.mark.parametrize("text,message", [
    ("x", "name a version as NAME@ALIAS"),
    ("x@latest", "use champion, challenger, previous"),
    ("x/0", "not a version number"),
    ("x/v1", "not a version number"),
    ("-x@champion", "registered model name '-x'"),
])
def test_parse_ref_refuses(text: str, message: str) -> None:
    with pytest.raises(registry.RegistryError, match=message):
        registry.parse_ref(text)


def test_parse_ref() -> None:
    assert registry.parse_ref("dwcp-default@champion") == registry.Ref("dwcp-default",
                                                                       alias="champion")
    assert registry.parse_ref("m.v2/03") == registry.Ref("m.v2", version="3")


def test_bundle_digest_is_sha256sum_of_the_sha256sum_listing(tmp_path: Path) -> None:
    (tmp_path / "b" / "golden").mkdir(parents=True)
    (tmp_path / "b" / "manifest.json").write_bytes(b"{}")
    (tmp_path / "b" / "golden" / "a.json").write_bytes(b"a")
    (tmp_path / "b" / "Z.onnx").write_bytes(b"")
    # sha256sum of: sha256("")  Z.onnx / sha256("a")  golden/a.json / sha256("{}")  manifest.json
    listing = ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  Z.onnx\n"
               "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  golden/a.json\n"
               "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a  manifest.json\n")
    assert lineage.bundle_digest(tmp_path / "b") == \
        "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    (tmp_path / "b" / "link").symlink_to(tmp_path / "b" / "Z.onnx")
    with pytest.raises(lineage.LineageError, match="link: not a regular file"):
        lineage.bundle_digest(tmp_path / "b")


def test_module_functions_for_the_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """lifecycle/dag.py's register and promote steps call these with the default store."""
    fresh_store(tmp_path / "store", monkeypatch)
    v = registry.register(BUNDLE, NAME, alias="challenger")
    assert (v.version, v.aliases) == ("1", ("challenger",))
    assert registry.set_alias(NAME, v.version, "champion").aliases == ("challenger", "champion")
    assert registry.show(f"{NAME}@champion").tags["bundle_digest"] == lineage.bundle_digest(BUNDLE)
    pulled = registry.pull(f"{NAME}@champion", tmp_path / "b")
    assert pulled.path == tmp_path / "b" and files(pulled.path) == files(BUNDLE)
    assert set(pulled.models) == {m["name"] for m in json.loads(
        (BUNDLE / "manifest.json").read_text())["models"]}
