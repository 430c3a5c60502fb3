"""What a notebook's code imports and calls, with import aliases resolved.

`import pandas as pd; pd.read_csv(...)` gives the call `pandas.read_csv`;
`from sklearn.datasets import load_iris; load_iris()` gives `sklearn.datasets.load_iris`.
Method calls on values (`df.mean()`) are kept by method name in `methods`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nbqa_builder.notebooks.code import dotted_name, notebook_trees
from nbqa_builder.records import Notebook


@dataclass
class CodeFacts:
    imports: set[str] = field(default_factory=set)  # full module names, e.g. "sklearn.datasets"
    calls: dict[str, list[list[str]]] = field(default_factory=dict)  # resolved name -> string args per call
    methods: set[str] = field(default_factory=set)  # attribute calls on values: "mean", "fit", ...
    attributes: set[str] = field(default_factory=set)  # every attribute name read, e.g. "cuda"
    unparsed_cells: int = 0

    def top_modules(self) -> set[str]:
        return {name.split(".")[0] for name in self.imports}

    def called(self, *prefixes: str) -> list[str]:
        return sorted(name for name in self.calls if name.startswith(prefixes))


def code_facts(notebook: Notebook) -> CodeFacts:
    facts = CodeFacts()
    aliases: dict[str, str] = {}
    for cell, tree in zip(notebook.cells, notebook_trees(notebook)):
        if cell.cell_type != "code":
            continue
        if tree is None:
            facts.unparsed_cells += bool(cell.source.strip())
            continue
        _collect(tree, aliases, facts)
    return facts


def _collect(tree: ast.Module, aliases: dict[str, str], facts: CodeFacts) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                facts.imports.add(alias.name)
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            facts.imports.add(node.module)
            for alias in node.names:
                facts.imports.add(f"{node.module}.{alias.name}")
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Attribute):
            facts.attributes.add(node.attr)
        elif isinstance(node, ast.Call):
            name = dotted_name(node.func)
            strings = [a.value for a in [*node.args, *(k.value for k in node.keywords)]
                       if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name is None:
                if isinstance(node.func, ast.Attribute):
                    facts.methods.add(node.func.attr)
                continue
            head, _, rest = name.partition(".")
            if head in aliases:
                facts.calls.setdefault(aliases[head] + ("." + rest if rest else ""), []).append(strings)
            else:
                facts.calls.setdefault(name, []).append(strings)
                if rest:
                    facts.methods.add(name.rsplit(".", 1)[1])
