"""`notebooks.code.walk` stands in for `ast.walk`: the same code nodes, in the same order."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from nbqa_builder.notebooks.code import call_names, child_nodes, parse_cell, walk

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"

# every kind of statement and expression where a call can hide
SNIPPETS = [
    "import pandas as pd\nfrom os import path as p, sep\ndf = pd.read_csv(p.join('a', 'b.csv'))",
    "@deco(1)\nasync def f(a: int = g(), *b, c=h(), **d) -> r():\n    async with x() as y, z():\n"
    "        await q()\n    async for i in it():\n        yield i\n    return [k() for k in l() if m()]",
    "class C(Base(), metaclass=M()):\n    x: T() = v()\n    def m(self):\n        global G\n        nonlocal_ = 1",
    "try:\n    a()\nexcept (E(), F) as e:\n    b()\nelse:\n    c()\nfinally:\n    d()",
    "match cmd():\n    case {'k': v, **rest} if guard():\n        s()\n    case [1, *others] | Point(x=0):\n        t()",
    "f'{a()!r:>{w()}}' + b'x'.decode() and (lambda q=r(): s(q))() or {u(): v() for u in w()}",
    "x = y if z() else {*a(), *b()}; del d[e()]; assert f(), g(); raise H() from i()",
    "while w():\n    for t in u():\n        break\nelse:\n    pass\nwith open(f()) as h: h.read()",
    "a[b():c():d()] = e(*f(), **g()); h += i(); j @= k(); print(~l(), not m(), -n())",
    "x = (yield_ := gen()); lst = [*map(str, range(3))]; t = (1, o())[0]; s = {p(): 1}.get(q())",
]


def real_cells() -> list[str]:
    sources = list(SNIPPETS)
    paths = sorted((ROOT / "examples").rglob("*.ipynb"))
    if CORPUS.is_dir():
        paths += sorted(CORPUS.rglob("*.ipynb"))[::5]
    for path in paths:
        try:
            cells = json.loads(path.read_bytes()).get("cells", [])
        except (ValueError, AttributeError):
            continue
        for cell in cells if isinstance(cells, list) else []:
            if isinstance(cell, dict) and cell.get("cell_type") == "code":
                source = cell.get("source", "")
                sources.append("".join(source) if isinstance(source, list) else str(source))
    return sources


def test_walk_gives_the_nodes_of_ast_walk_in_order_less_contexts_and_aliases():
    trees = [tree for tree in map(parse_cell, real_cells()) if tree is not None]
    assert len(trees) >= len(SNIPPETS)
    calls = 0
    for tree in trees:
        expected = [n for n in ast.walk(tree) if not isinstance(n, (ast.expr_context, ast.alias))]
        assert walk(tree) == expected
        calls += sum(1 for n in expected if isinstance(n, ast.Call))
    assert calls > 100


def test_call_names_breadth_first_as_ast_walk_finds_them():
    # the concepts of a task come in this order: outer calls of each statement first
    tree = ast.parse("df = pd.read_csv(os.path.join(d, 'x.csv')).groupby('a').mean()\nprint(len(df))")
    assert call_names(tree) == ["mean", "print", "len", "groupby", "pd.read_csv", "os.path.join"]


def test_child_nodes_are_those_of_ast_iter_child_nodes_less_contexts_and_aliases():
    for tree in filter(None, map(parse_cell, SNIPPETS)):
        for node in ast.walk(tree):
            expected = [n for n in ast.iter_child_nodes(node) if not isinstance(n, (ast.expr_context, ast.alias))]
            assert child_nodes(node) == expected
