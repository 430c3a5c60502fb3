"""The import rules of docs/architecture.md ("Which package may import which"), checked on the source.

Every `import` and `from ... import` in a module counts, wherever it stands: at the top, inside a
function, or under `if TYPE_CHECKING`, since a lazy import is still a dependency. The rules:
- no circle between modules;
- each package imports only the packages its layer allows (`ALLOWED`);
- `pipeline.py` never imports a concrete executor, and no executor imports `pipeline.py`;
- a step module (`<package>/step.py`) never imports another package's step module;
- no module imports a private (`_name`) from another package.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nbqa_builder"

# What each top-level part of nbqa_builder may import (besides itself). The layers, bottom up:
# the records and shared formats; the pipeline's packages in the order data flows; the pipeline
# and its executors; the consumers of shards (search, solve, training, evaluate, audit); the CLI.
BASE = {"nbqa_builder", "records", "step", "answers", "progress"}
ALLOWED: dict[str, set[str]] = {
    "nbqa_builder": set(),  # the package's __init__: lazy names only
    "records": {"nbqa_builder"},
    "step": {"records"},
    "answers": set(),
    "progress": set(),
    "recipe": {"step"},
    "recipe_docs": {"recipe"},
    "llm": BASE,
    "turns": BASE | {"notebooks"},
    "redact": BASE,
    "notebooks": BASE | {"redact"},
    "sources": BASE | {"recipe", "notebooks", "deps"},
    "filters": BASE | {"notebooks"},
    "dedup": BASE | {"notebooks"},
    "deps": BASE | {"notebooks"},
    "extract": BASE | {"notebooks", "redact", "deps", "llm"},
    "sandbox": BASE | {"notebooks", "extract"},
    "publish": BASE | {"recipe", "notebooks", "redact", "sandbox", "llm", "turns"},
    "stages": BASE | {"recipe", "sources"},
    "pipeline": BASE | {"recipe", "sources", "llm", "publish", "stages", "executors"},
    "executors": BASE | {"recipe", "sources", "llm", "publish", "dedup", "stages"},
    "evaluate": BASE | {"publish"},
    "audit": BASE | {"publish", "sandbox", "extract"},
    "training": BASE | {"publish", "turns", "evaluate"},
    "search": BASE | {"publish", "turns", "llm", "sandbox", "notebooks", "training"},
    "solve": BASE | {"llm", "turns", "sandbox", "notebooks", "search"},
    "cli": {"*"},
    "commands": {"*"},
    "__main__": {"cli"},
}
CONCRETE_EXECUTORS = {"nbqa_builder.executors.local", "nbqa_builder.executors.ray"}


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    target: str  # the dotted module imported (a module of nbqa_builder)
    names: tuple[str, ...]  # names taken from it by `from target import ...`
    line: int


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module under `root` (the nbqa_builder folder)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def imports_of(root: Path) -> list[Import]:
    """Every import of a module of the package by a module of the package."""
    modules = module_names(root)
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _deepest_module(alias.name, modules)
                    if target:
                        found.append(Import(name, target, (), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:  # `from package import module`
                        found.append(Import(name, submodule, (), node.lineno))
                    elif source in modules:
                        found.append(Import(name, source, (alias.name,), node.lineno))
    return [each for each in found if each.target != each.importer]


def _deepest_module(dotted: str, modules: dict[str, Path]) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def part_of(module: str) -> str:
    """The top-level part a module belongs to: `nbqa_builder.extract.spec` -> `extract`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "nbqa_builder"


def circles(found: list[Import]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    edges: dict[str, set[str]] = {}
    for each in found:
        edges.setdefault(each.importer, set()).add(each.target)
        edges.setdefault(each.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def broken_rules(root: Path) -> list[str]:
    """Every import rule the package under `root` breaks, one line each (empty when it keeps them)."""
    found = imports_of(root)
    broken = [f"circle: {' <-> '.join(group)}" for group in circles(found)]
    for each in found:
        where = f"{each.importer} (line {each.line}) imports {each.target}"
        importer, target = part_of(each.importer), part_of(each.target)
        allowed = ALLOWED.get(importer)
        if allowed is None:
            broken.append(f"{where}: {importer} has no entry in ALLOWED")
        elif importer != target and "*" not in allowed and target not in allowed:
            broken.append(f"{where}: {importer} may import only {sorted(allowed)}")
        if each.importer == "nbqa_builder.pipeline" and each.target in CONCRETE_EXECUTORS:
            broken.append(f"{where}: the pipeline knows executors only by registration")
        if importer == "executors" and each.target == "nbqa_builder.pipeline":
            broken.append(f"{where}: an executor runs stages, it never imports the pipeline")
        if _is_step_module(each.importer) and _is_step_module(each.target) and importer != target:
            broken.append(f"{where}: a step never imports another package's step")
        private = [name for name in each.names if name.startswith("_") and not name.startswith("__")]
        if private and importer != target:
            broken.append(f"{where}: takes the private {', '.join(private)} of another package")
    return list(dict.fromkeys(broken))  # one line per rule and import, however many names it takes


def _is_step_module(module: str) -> bool:
    """`nbqa_builder.<package>.step`, not the shared `nbqa_builder.step` every step builds on."""
    return module.count(".") == 2 and module.endswith(".step")


def test_the_package_keeps_its_import_rules():
    assert broken_rules(PACKAGE) == []


def test_every_part_of_the_package_has_rules():
    """A new top-level module or package must say what it may import."""
    assert {part_of(name) for name in module_names(PACKAGE)} <= set(ALLOWED)


@pytest.mark.parametrize(
    ("module", "added", "rule"),
    [
        ("pipeline.py", "from nbqa_builder.executors import ray\n", "registration"),
        ("executors/local.py", "from nbqa_builder.pipeline import Pipeline\n", "never imports the pipeline"),
        ("search/tree.py", "from nbqa_builder.extract import heuristic\n", "search may import only"),
        ("llm/store.py", "def later():\n    from nbqa_builder.extract import llm\n", "llm may import only"),
        ("records.py", "if False:\n    from nbqa_builder.publish import load\n", "records may import only"),
        ("answers.py", "from nbqa_builder.evaluate import score\n", "answers may import only"),
        ("solve/step.py", "from nbqa_builder.extract.step import ExtractStep\n", "another package's step"),
        ("training/sft.py", "from nbqa_builder.search.tree import _private\n", "private _private"),
    ],
)
def test_a_forbidden_import_breaks_the_rules(tmp_path, module, added, rule):
    copy = tmp_path / "nbqa_builder"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + added, encoding="utf-8")
    assert any(rule in line for line in broken_rules(copy)), broken_rules(copy)


def test_a_circle_breaks_the_rules(tmp_path):
    copy = tmp_path / "nbqa_builder"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    answers = copy / "answers.py"
    answers.write_text(answers.read_text(encoding="utf-8") + "\nfrom nbqa_builder import records\n", encoding="utf-8")
    records = copy / "records.py"
    records.write_text(records.read_text(encoding="utf-8") + "\nfrom nbqa_builder import answers\n", encoding="utf-8")
    assert any(line.startswith("circle:") and "nbqa_builder.answers" in line for line in broken_rules(copy))
