"""What a notebook's code imports and calls, with import aliases resolved.

`import pandas as pd; pd.read_csv(...)` gives the call `pandas.read_csv`;
`from sklearn.datasets import load_iris; load_iris()` gives `sklearn.datasets.load_iris`.

Speed matters here (it runs on every notebook that reaches the filter): imports are read from the
source lines with regular expressions, and only cells that mention a call the filter rules ask
about (loaders, HTTP clients) are parsed into ASTs.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from nbqa_builder.notebooks.code import dotted_name, notebook_trees, walk
from nbqa_builder.records import Notebook

_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w.][\w. \t,]*)", re.M)
_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n#;]+))", re.M)
_AS = re.compile(r"^([\w.]+)(?:\s+as\s+(\w+))?$")
# cells worth parsing for calls: calls of dataset loaders and HTTP clients
CALL_TRIGGER = re.compile(
    r"(?:\bload_\w*|\bfetch_\w+|datasets?\.\w+|\btfds\.load|\b(?:requests|httpx)\.\w+|urlopen|urlretrieve)\s*\("
)
# plain substrings every CALL_TRIGGER match holds: checked first, being much cheaper than the regex
_CALL_WORDS = ("load", "fetch_", "dataset", "requests.", "httpx.", "urlopen", "urlretrieve")
_ATTRIBUTE_WORDS = re.compile(r"\.(cuda|from_pretrained)\b")


@dataclass
class CodeFacts:
    imports: set[str] = field(default_factory=set)  # full module names, e.g. "sklearn.datasets"
    calls: dict[str, list[list[str]]] = field(default_factory=dict)  # resolved name -> string args per call
    methods: set[str] = field(default_factory=set)  # "from_pretrained" when called as a method
    attributes: set[str] = field(default_factory=set)  # "cuda" when read as an attribute

    def top_modules(self) -> set[str]:
        return {name.split(".")[0] for name in self.imports}

    def called(self, *prefixes: str) -> list[str]:
        return sorted(name for name in self.calls if name.startswith(prefixes))


def _imports(source: str, facts: CodeFacts, aliases: dict[str, str]) -> None:
    for match in _IMPORT.finditer(source):
        for part in match.group(1).split(","):
            found = _AS.match(part.strip())
            if found:
                module, alias = found.groups()
                facts.imports.add(module)
                aliases[alias or module.split(".")[0]] = module if alias else module.split(".")[0]
    for match in _FROM_IMPORT.finditer(source):
        module = match.group(1)
        facts.imports.add(module)
        names = match.group(2) if match.group(2) is not None else match.group(3)
        for part in names.replace("\\", " ").replace("\n", " ").split(","):
            found = _AS.match(part.strip())
            if found and found.group(1) != "*":
                name, alias = found.groups()
                facts.imports.add(f"{module}.{name}")
                aliases[alias or name] = f"{module}.{name}"


def code_facts(notebook: Notebook) -> CodeFacts:
    """The notebook's code facts, computed once and kept on the record while it is in memory."""
    if "code_facts" not in notebook.cache:
        notebook.cache["code_facts"] = _code_facts(notebook)
    return notebook.cache["code_facts"]


def _code_facts(notebook: Notebook) -> CodeFacts:
    facts = CodeFacts()
    aliases: dict[str, str] = {}
    trees = notebook_trees(notebook)
    for index, cell in enumerate(notebook.cells):
        source = cell.source
        if cell.cell_type != "code" or not source or source.isspace():
            continue
        if "import" in source:
            _imports(source, facts, aliases)
        if "cuda" in source or "from_pretrained" in source:
            for word in _ATTRIBUTE_WORDS.findall(source):
                (facts.methods if word == "from_pretrained" else facts.attributes).add(word)
        if any(map(source.__contains__, _CALL_WORDS)) and CALL_TRIGGER.search(source):
            tree = trees[index]
            if tree is not None:  # a cell that does not parse (Python 2) is opaque
                _collect_calls(tree, aliases, facts)
    return facts


def _collect_calls(tree: ast.Module, aliases: dict[str, str], facts: CodeFacts) -> None:
    for node in walk(tree):
        if type(node) is not ast.Call:
            continue
        name = dotted_name(node.func)
        if name is None:
            continue
        strings = [a.value for a in [*node.args, *(k.value for k in node.keywords)]
                   if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        head, _, rest = name.partition(".")
        resolved = aliases[head] + ("." + rest if rest else "") if head in aliases else name
        facts.calls.setdefault(resolved, []).append(strings)
