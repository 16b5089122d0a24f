"""The model registry: one registered model per bundle name, one model version per bundle.

The sidecar serves whole bundles and a bundle is the unit that is verified and signed, so a
registered model (e.g. ``dwcp-default``) holds bundles, not single ONNX files. ``register``
verifies the bundle (every check and the golden predictions, the signature with trusted
keys), logs its directory as the artifact ``bundle`` of a ``register`` run and creates a
version from it with lineage tags (lineage.py). Aliases ``champion`` and ``challenger`` point
at versions. ``pull`` downloads a version and runs the same bundle verification before it
puts the directory in place: a changed artifact is refused with the bundle's own error.
docs/lifecycle.md describes the layout.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dwcp_ml.export import bundle

from . import lineage, tracking

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
# previous: the champion a promotion replaced (retrain sets it), so a rollback is one
# ``registry alias NAME N champion`` away and ``pull NAME@previous`` fetches it.
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)
ARTIFACT = "bundle"
KIND_TAG = "dwcp_ml.kind"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class RegistryError(Exception):
    """An unknown name, alias or version, or a bad reference; one line."""


@dataclass(frozen=True)
class Ref:
    """``NAME@ALIAS`` or ``NAME/VERSION``."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise RegistryError(f"registered model name {name!r}: use letters, digits, '.', '_' "
                            "and '-' (first a letter or digit), at most 100 characters")
    return name


def check_alias(alias: str) -> str:
    if alias not in ALIASES:
        raise RegistryError(f"alias {alias!r}: use {', '.join(ALIASES)}")
    return alias


def check_version(version: str) -> str:
    if not version.isdigit() or int(version) < 1:
        raise RegistryError(f"version {version!r} is not a version number (1, 2, ...)")
    return str(int(version))


def parse_ref(text: str) -> Ref:
    """``NAME@ALIAS`` or ``NAME/VERSION``; anything else is one clear line."""
    if "@" in text:
        name, alias = text.split("@", 1)
        return Ref(check_name(name), alias=check_alias(alias))
    if "/" in text:
        name, version = text.split("/", 1)
        return Ref(check_name(name), version=check_version(version))
    raise RegistryError(f"{text!r}: name a version as NAME@ALIAS ({', '.join(ALIASES)}) or "
                        "NAME/VERSION, e.g. dwcp-default@champion or dwcp-default/3")


@dataclass(frozen=True)
class Version:
    """A registered bundle version as the registry holds it."""

    name: str
    version: str
    aliases: tuple[str, ...]
    source: str
    run_id: str
    created_ms: int
    description: str
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "aliases": list(self.aliases),
                "source": self.source, "run_id": self.run_id, "created_ms": self.created_ms,
                "description": self.description, "tags": dict(sorted(self.tags.items()))}


@dataclass(frozen=True)
class Pulled:
    """A pulled bundle: the version, where it now is, its verified models and signer."""

    version: Version
    path: Path
    models: tuple[str, ...]
    signed_by: str | None


@dataclass(frozen=True)
class Summary:
    """One registered model: its latest version and where the aliases point."""

    name: str
    latest: str | None
    aliases: dict[str, str]
    updated_ms: int
    description: str


def _version(mv: Any) -> Version:
    return Version(name=mv.name, version=str(mv.version), aliases=tuple(sorted(mv.aliases)),
                   source=mv.source, run_id=mv.run_id or "", created_ms=int(mv.creation_timestamp
                                                                            or 0),
                   description=mv.description or "", tags=dict(mv.tags or {}))


def _error_code(exc: BaseException) -> str:
    return str(getattr(exc, "error_code", ""))


class Registry:
    """The registry at a tracking target (embedded sqlite or a server)."""

    def __init__(self, target: tracking.Target) -> None:
        self.target = target
        self.client = tracking.client(target)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - MlflowException, requests, sqlalchemy
            raise tracking.failure(self.target, exc) from None

    def _model(self, name: str) -> Any:
        """The registered model; an unknown name is one line naming what is there."""
        try:
            return self.client.get_registered_model(check_name(name))
        except RegistryError:
            raise
        except Exception as exc:  # noqa: BLE001
            if "RESOURCE_DOES_NOT_EXIST" not in _error_code(exc):
                raise tracking.failure(self.target, exc) from None
        known = [m.name for m in self.models()]
        raise RegistryError(f"no registered model {name!r} in {self.target.display}; "
                            f"registered: {', '.join(known) or 'none'}")

    def resolve(self, ref: Ref) -> Version:
        """The version a reference names; unknown name, alias or version: one line each."""
        model = self._model(ref.name)
        if ref.alias is not None:
            version = (model.aliases or {}).get(ref.alias)
            if version is None:
                shown = ", ".join(f"{a} -> {v}" for a, v in sorted((model.aliases or {})
                                                                   .items())) or "none"
                raise RegistryError(f"{ref.name} has no alias {ref.alias!r} (aliases: {shown});"
                                    f" set it with `dwcp-ml registry alias {ref.name} VERSION "
                                    f"{ref.alias}`")
            return self.version(ref.name, str(version))
        assert ref.version is not None
        return self.version(ref.name, ref.version)

    def version(self, name: str, version: str) -> Version:
        self._model(name)
        try:
            return _version(self.client.get_model_version(name, check_version(version)))
        except RegistryError:
            raise
        except Exception as exc:  # noqa: BLE001
            if "RESOURCE_DOES_NOT_EXIST" not in _error_code(exc):
                raise tracking.failure(self.target, exc) from None
        latest = self.summary(name).latest
        raise RegistryError(f"{name} has no version {version} (latest: {latest or 'none'})")

    def models(self) -> list[Any]:
        found, token = [], None
        while True:
            page = self._call("search_registered_models", max_results=100, page_token=token)
            found += list(page)
            token = page.token
            if not token:
                return sorted(found, key=lambda m: m.name)

    def summary(self, name: str) -> Summary:
        return _summary(self._model(name), self._latest(name))

    def _latest(self, name: str) -> str | None:
        versions = self._call("search_model_versions", f"name = '{name}'",
                              order_by=["version_number DESC"], max_results=1)
        return str(versions[0].version) if versions else None

    def summaries(self) -> list[Summary]:
        return [_summary(m, self._latest(m.name)) for m in self.models()]

    def set_alias(self, name: str, version: str, alias: str) -> Version:
        """Points ``alias`` at ``version`` (moving it from the version that had it)."""
        check_alias(alias)
        current = self.version(name, version)
        self._call("set_registered_model_alias", name, alias, current.version)
        return self.version(name, current.version)

    def register(self, directory: Path, name: str, *, alias: str | None = None,
                 trusted_keys: object | None = None, argv: list[str] | None = None) -> Version:
        """Verifies the bundle, logs it as a ``register`` run's artifact and creates a model
        version from it with the lineage tags; sets ``alias`` when given."""
        check_name(name)
        if alias is not None:
            check_alias(alias)
        loaded = verify(directory, trusted_keys)
        tags = lineage.bundle_tags(directory, loaded.manifest, loaded.signed_by)
        with tracking.track("registry register", self.target, run_name=f"register {name}",
                            argv=argv, tags={"registered_model": name}) as run:
            run.log_params({"bundle.path": str(directory.resolve()), "registered_model": name,
                            "bundle.version": loaded.version, "alias": alias or ""})
            run.set_tags(tags)
            run.log_artifacts(directory, ARTIFACT)
            source = f"{run.artifact_uri}/{ARTIFACT}"
        if not self._exists(name):
            self._call("create_registered_model", name, tags={KIND_TAG: "bundle"},
                       description="dwcp-ml bundles: one version per bundle (docs/lifecycle.md)")
        mv = self._call("create_model_version", name, source, run.run_id, tags=tags,
                        description=f"bundle {loaded.version} ({tags['models']})")
        if alias is not None:
            self._call("set_registered_model_alias", name, alias, str(mv.version))
        return self.version(name, str(mv.version))

    def _exists(self, name: str) -> bool:
        try:
            self.client.get_registered_model(name)
        except Exception as exc:  # noqa: BLE001
            if "RESOURCE_DOES_NOT_EXIST" in _error_code(exc):
                return False
            raise tracking.failure(self.target, exc) from None
        return True

    def pull(self, ref: Ref, out: Path, trusted_keys: object | None = None) -> Pulled:
        """Downloads the version's bundle next to ``out``, verifies it like ``dwcp-ml verify``
        (and its digest against the registered one), then renames it to ``out``. ``out`` must
        not exist yet or be an empty directory; nothing is left behind on refusal."""
        found = self.resolve(ref)
        out = Path(out).absolute()
        _check_out(out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            work_dir = tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent)
        except OSError as exc:
            raise RegistryError(f"--out {out}: cannot create it ({exc.strerror})") from None
        with work_dir as work:
            try:
                import mlflow

                path = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=found.source, dst_path=work, tracking_uri=self.target.uri))
            except Exception as exc:  # noqa: BLE001
                raise tracking.failure(self.target, exc) from None
            loaded = verify(path, trusted_keys)
            expected = found.tags.get("bundle_digest")
            actual = lineage.bundle_digest(path)
            if expected and actual != expected:
                # The checks passed, so a file the manifest does not cover (model.sig, an
                # extra file) differs from what was registered.
                raise RegistryError(f"{ref}: the downloaded files (digest {actual}) are not "
                                    f"the registered bundle ({expected})")
            if out.exists():
                out.rmdir()  # empty, checked above
            path.rename(out)
        return Pulled(found, out, tuple(loaded.models), loaded.signed_by)


def _summary(model: Any, latest: str | None) -> Summary:
    return Summary(name=model.name, latest=latest,
                   aliases={a: str(v) for a, v in sorted((model.aliases or {}).items())},
                   updated_ms=int(model.last_updated_timestamp or 0),
                   description=model.description or "")


def _check_out(out: Path) -> None:
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise RegistryError(f"--out {out}: exists and is not a directory; pass a new directory")
    if out.is_dir() and any(out.iterdir()):
        raise RegistryError(f"--out {out}: directory is not empty; pass a new directory")


def verify(directory: Path, trusted_keys: object | None = None) -> bundle.Bundle:
    """Every bundle check and the golden predictions bit for bit (``dwcp-ml verify``);
    raises the BundleError of the first refusal."""
    loaded = bundle.load(Path(directory), trusted_keys=trusted_keys)
    refusal = bundle.first_refusal(loaded, bundle.check_goldens(loaded))
    if refusal is not None:
        raise refusal
    return loaded


# One call each for other modules (the pipeline DAG, retrain): the registry at
# ``tracking_uri``, else $MLFLOW_TRACKING_URI, else the embedded store.

def register(directory: Path, name: str, *, alias: str | None = None,
             trusted_keys: object | None = None, tracking_uri: str | None = None) -> Version:
    """``Registry.register`` at the resolved tracking target."""
    return Registry(tracking.resolve(tracking_uri)).register(
        Path(directory), name, alias=alias, trusted_keys=trusted_keys)


def set_alias(name: str, version: str, alias: str, *,
              tracking_uri: str | None = None) -> Version:
    return Registry(tracking.resolve(tracking_uri)).set_alias(name, str(version), alias)


def show(ref: str | Ref, *, tracking_uri: str | None = None) -> Version:
    """The version ``NAME@ALIAS`` or ``NAME/VERSION`` names."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    return Registry(tracking.resolve(tracking_uri)).resolve(parsed)


def pull(ref: str | Ref, out: Path, *, trusted_keys: object | None = None,
         tracking_uri: str | None = None) -> Pulled:
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    return Registry(tracking.resolve(tracking_uri)).pull(parsed, Path(out), trusted_keys)
