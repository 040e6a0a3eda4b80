"""The package layout: two installed import names, and an import graph in layers without cycles.

Layers, lowest first: `modeling_bang` <- `bang_spmd.model_cards` <- `bang_spmd.trainers` <- `bang_spmd.data`,
`bang_spmd.evaluation`, `bang_spmd.hub` <- `bang_spmd.recipes`, `bang_spmd.benchmarks`, `bang_spmd.demo` <-
`bang_spmd.experiments` <- `bang_spmd.cli`. A module imports only from its own layer or lower ones; `modeling_bang`
(remote code) imports its own files relatively and nothing else of this repository.
"""

import ast
from pathlib import Path

import pytest
import tomllib

from .helpers import REPO_ROOT


# Where each installed package's files are in the repository (pyproject's package-dir mapping).
SOURCE_DIRS = {
    "modeling_bang": REPO_ROOT / "modeling_bang",
    "bang_spmd": REPO_ROOT / "bang_spmd",
    "bang_spmd.trainers": REPO_ROOT / "trainers",
    "bang_spmd.model_cards": REPO_ROOT / "model_cards",
}
LAYERS = {
    "modeling_bang": 0,
    "bang_spmd.model_cards": 1,
    "bang_spmd.trainers": 2,
    "bang_spmd.data": 3,
    "bang_spmd.evaluation": 3,
    "bang_spmd.hub": 3,
    "bang_spmd.deploy": 3,
    "bang_spmd.pretrained": 3,
    "bang_spmd.recipes": 4,
    "bang_spmd.benchmarks": 4,
    "bang_spmd.demo": 4,
    "bang_spmd.experiments": 5,
    "bang_spmd.cli": 6,
    "bang_spmd": 6,  # its __init__ (a docstring)
}


def modules() -> dict[str, Path]:
    """Every first-party module name and its file."""
    found = {}
    for package, folder in SOURCE_DIRS.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if package == "bang_spmd" and parts[0] in ("trainers", "model_cards"):
                continue
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The first-party modules `name` imports (a `from package import x` counts as `package.x` when that is a
    module, else as `package`)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {t for t in targets if t.split(".")[0] in ("modeling_bang", "bang_spmd", "trainers", "model_cards")}


def layer(name: str) -> int:
    room = max((room for room in LAYERS if name == room or name.startswith(room + ".")), key=len)
    return LAYERS[room]


GRAPH = {name: imports(name, path, set(modules())) for name, path in modules().items()}


def test_no_generic_top_level_names_are_installed_or_imported():
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = config["tool"]["setuptools"]["packages"]
    assert {p.split(".")[0] for p in packages} == {"modeling_bang", "bang_spmd"}
    assert config["tool"]["setuptools"]["package-dir"] == {
        "bang_spmd.trainers": "trainers",
        "bang_spmd.model_cards": "model_cards",
    }
    assert (
        not (REPO_ROOT / "bang_spmd" / "trainers").exists() and not (REPO_ROOT / "bang_spmd" / "model_cards").exists()
    )
    for path in [*REPO_ROOT.glob("tests/*.py"), *(p for d in SOURCE_DIRS.values() for p in d.rglob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            assert not any(n.split(".")[0] in ("trainers", "model_cards") for n in names), (path, names)


def test_every_import_goes_to_the_same_or_a_lower_layer():
    upward = [(name, target) for name, targets in GRAPH.items() for target in targets if layer(target) > layer(name)]
    assert upward == []


def test_modeling_bang_imports_only_its_own_files_relatively():
    for name, path in modules().items():
        if name.startswith("modeling_bang"):
            absolute = [
                node.module
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.startswith("modeling_bang")
            ]
            assert absolute == [], name
            assert all(t.startswith("modeling_bang") for t in GRAPH[name]), name


def test_the_import_graph_has_no_cycle():
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == "open":
                pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(target) :], target]))
            if target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])


def test_the_public_names_are_exported():
    from bang_spmd.model_cards import write_model_card, write_trainer_model_card
    from bang_spmd.trainers import (
        ModelShape,
        SPMDDataCollator,
        SPMDTrainer,
        SPMDTrainingArguments,
        bang_config,
        distill_dataset,
    )

    assert all((ModelShape, SPMDDataCollator, SPMDTrainer, SPMDTrainingArguments, bang_config, distill_dataset))
    assert write_model_card and write_trainer_model_card
