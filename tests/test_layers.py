"""The package layering (README, Layout): which top-level parts of dwcp_ml may import
which, read from every import statement (function-level ones included) of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"feature_core": "feature_core/python", "spec": "spec", "training": "training",
           "export": "export", "golden": "golden", "evaluation": "evaluation",
           "families": "families", "search": "search", "compress": "compress",
           "lifecycle": "lifecycle", "datasource": "datasource"}
# Each part and the parts it may import. The app modules in dwcp_ml/ (cli, pipeline) may
# import everything; nothing below them imports them.
ALLOWED = {
    "feature_core": set(),
    "spec": {"feature_core"},
    "training": {"feature_core", "spec"},
    "export": {"feature_core", "spec", "training"},
    "golden": {"feature_core", "spec", "training", "export"},
    "evaluation": {"feature_core", "spec", "training", "export"},
    # Where data comes from besides files (Prometheus): reads into training's Trace.
    "datasource": {"feature_core", "spec", "training"},
    "families": {"spec", "training", "datasource"},
    "lifecycle": {"feature_core", "spec", "training", "export", "evaluation", "families",
                  "pipeline"},
    "search": {"feature_core", "spec", "training", "export", "evaluation", "families",
               "pipeline"},
    "compress": {"feature_core", "spec", "training", "export", "evaluation"},
}


def imported_parts(path: Path) -> set[str]:
    """The dwcp_ml parts a module imports (``dwcp_ml.X...`` and ``from dwcp_ml import X``)."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module == "dwcp_ml":
                parts |= {a.name for a in node.names}
            elif node.module.startswith("dwcp_ml."):
                parts.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            parts |= {a.name.split(".")[1] for a in node.names
                      if a.name.startswith("dwcp_ml.")}
    return parts - {"__version__"}


@pytest.mark.parametrize("part", sorted(FOLDERS))
def test_part_imports_only_what_its_layer_allows(part: str) -> None:
    bad = {}
    for path in sorted((REPO / FOLDERS[part]).rglob("*.py")):
        extra = imported_parts(path) - ALLOWED[part] - {part}
        if extra:
            bad[path.relative_to(REPO).as_posix()] = sorted(extra)
    assert not bad, f"{part} may import only {sorted(ALLOWED[part])}; found {bad}"


def test_every_part_is_a_folder_of_the_package() -> None:
    assert all((REPO / folder / "__init__.py").is_file() for folder in FOLDERS.values())


def test_finds_a_function_level_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from dwcp_ml.export import trees\n    import dwcp_ml.spec\n")
    assert imported_parts(module) == {"export", "spec"}
