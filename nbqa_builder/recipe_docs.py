"""docs/recipe.md, the reference of every recipe key, generated from the recipe's pydantic models.

    python -m nbqa_builder.recipe_docs            # rewrite docs/recipe.md
    python -m nbqa_builder.recipe_docs --check    # exit 1 when docs/recipe.md is not up to date

Each key's reason is the comment beside its field in the code (CONVENTIONS.md, point 7), so the
reference says what the code says; tests/test_recipe_docs.py keeps the file in step and fails on
a key without a reason.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import re
import sys
import tokenize
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from nbqa_builder.recipe import STEP_CLASSES, CodeSearch, ExecutorConfig, FetchUrls, GithubSource, LocalSource, PublishConfig, \
    Recipe, step_class

DOC = Path(__file__).resolve().parents[1] / "docs" / "recipe.md"
HEADER = """\
# Recipe reference

Generated from the recipe's models by `python -m nbqa_builder.recipe_docs`; do not edit by hand
(a test keeps it in step with the code). Each key's default is what a recipe that leaves the key
out gets, and its reason is the comment beside the field in the code. Paths are relative to the
recipe file. `python -m nbqa_builder validate RECIPE` checks a recipe against these models and
reports every problem, with file, line and key.

A recipe names a source, the steps in order (each `- name: {settings}`), and the output:

```yaml
name: demo
source: {kind: local, path: ../examples/repos}
steps:
  - validate: {}
  - filter: {min_data_rows: 100}
output: ../out/demo
```
"""


def field_reasons(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comments beside its definition (the lines above, and the one after it)."""
    reasons: dict[str, str] = {}
    for owner in reversed(model.__mro__):
        if not (isinstance(owner, type) and issubclass(owner, BaseModel)) or owner is BaseModel:
            continue
        try:
            source = inspect.getsource(owner)
        except (OSError, TypeError):
            continue
        reasons.update(_comments_by_field(source, set(owner.__dict__.get("__annotations__", {}))))
    return reasons


def _comments_by_field(source: str, names: set[str]) -> dict[str, str]:
    lines = source.splitlines()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            if not text.startswith(("fmt:", "noqa", "type:")):
                comments[token.start[0]] = text
    body_indent = None
    found: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = re.match(r"^(\s+)(\w+)\s*:", line)
        if not match or match.group(2) not in names:
            continue
        indent = match.group(1)
        body_indent = body_indent or indent
        if indent != body_indent:
            continue
        above = []
        row = number - 1
        while row >= 1 and lines[row - 1].strip().startswith("#") and row in comments:
            above.insert(0, comments[row])
            row -= 1
        end = number  # a definition over several lines ends where its brackets close
        depth = line.count("[") + line.count("(") + line.count("{") - line.count("]") - line.count(")") - line.count("}")
        while depth > 0 and end < len(lines):
            end += 1
            text = lines[end - 1].split("#")[0]
            depth += text.count("[") + text.count("(") + text.count("{") - text.count("]") - text.count(")") - text.count("}")
        after = [comments[row] for row in range(number, end + 1) if row in comments and not lines[row - 1].strip().startswith("#")]
        found[match.group(2)] = "; ".join(part for part in (" ".join(above), " ".join(after)) if part)
    return found


def type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) > 1:  # a choice of mappings, told apart by a key (`kind`)
            return "mapping (below)"
        return " or ".join(type_text(a) for a in args)
    if origin is list:
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}" if args else "mapping"
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping (below)"
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "(below)"
    return f"`{json.dumps(value, default=str)}`"


def bounds_text(field: Any) -> str:
    words = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥", "max_length": "length ≤"}
    found = []
    for item in field.metadata:
        for attribute, word in words.items():
            if getattr(item, attribute, None) is not None:
                found.append(f"{word} {getattr(item, attribute)}")
        if getattr(item, "pattern", None):
            found.append(f"matches `{item.pattern}`")
    return ", ".join(found)


def model_section(title: str, model: type[BaseModel], skip: tuple[str, ...] = ()) -> tuple[str, list[tuple[str, type[BaseModel]]]]:
    """A table of the model's keys, and the nested models to document below it."""
    reasons = field_reasons(model)
    rows = [f"## {title}", "", "| key | type | default | why |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        if name in skip:
            continue
        kind = type_text(field.annotation)
        bounds = bounds_text(field)
        reason = reasons.get(name, "").replace("|", "\\|")
        rows.append(f"| `{name}` | {kind}{' (' + bounds + ')' if bounds else ''} | {default_text(field)} | {reason} |")
        for candidate in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (candidate, *typing.get_args(candidate)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    nested.append((f"{title.split(' ')[0].strip('`')}.{name}", inner))
    return "\n".join(rows) + "\n", nested


def missing_reasons() -> list[str]:
    """Keys without a reason (a comment beside the field): each should have one."""
    missing = []
    for title, model in _all_models():
        reasons = field_reasons(model)
        missing += [f"{title}.{name}" for name in model.model_fields if name != "path" and not reasons.get(name)]
    return missing


def _all_models() -> list[tuple[str, type[BaseModel]]]:
    models: list[tuple[str, type[BaseModel]]] = [
        ("recipe", Recipe), ("source (kind: local)", LocalSource), ("source (kind: github)", GithubSource),
        ("source.code_search", CodeSearch), ("source.fetch_urls", FetchUrls), ("executor", ExecutorConfig),
        ("publish", PublishConfig),
    ]
    for name in STEP_CLASSES:
        models.append((f"steps: {name}", step_class(name).Config))
    seen = {model for _, model in models}
    queue = list(models)
    while queue:
        title, model = queue.pop(0)
        for field_name, field in model.model_fields.items():
            for candidate in (field.annotation, *typing.get_args(field.annotation)):
                for inner in (candidate, *typing.get_args(candidate)):
                    if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                        seen.add(inner)
                        keyed = ".NAME" if typing.get_origin(field.annotation) is dict else ""  # prices.gpt-4o
                        entry = (f"{title.split(':')[-1].strip()}.{field_name}{keyed}", inner)
                        models.append(entry)
                        queue.append(entry)
    return models


def render() -> str:
    parts = [HEADER]
    for title, model in _all_models():
        if model is Recipe:
            section, _ = model_section("the recipe (top level)", model, skip=("path",))
        elif model in (LocalSource, GithubSource, CodeSearch, FetchUrls, ExecutorConfig, PublishConfig):
            section, _ = model_section(f"`{title.split(' ')[0]}`" + title[len(title.split(' ')[0]):], model)
        else:
            section, _ = model_section(f"`{title}`", model)
        parts.append(section)
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nbqa_builder.recipe_docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/recipe.md is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC} is not up to date: python -m nbqa_builder.recipe_docs", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
