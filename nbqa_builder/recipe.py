"""Recipes: YAML files read into typed models.

An unknown key or a bad value is a `RecipeError` whose message names the file, the line and the
key, e.g. `recipes/x.yaml:7: steps[1].filter.min_data_rowz: unknown key`. The CLI prints it on one
line and exits with code 2.

Steps are named in `STEP_CLASSES`; each step class carries its own pydantic `Config`, so adding a
step means adding one line here and one module.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nbqa_builder.step import Step

# name -> "module:Class". Imported lazily so a recipe check does not pull heavy dependencies.
STEP_CLASSES: dict[str, str] = {
    "validate": "nbqa_builder.notebooks.validate:ValidateStep",
    "deps": "nbqa_builder.deps.step:DepsStep",
    "filter": "nbqa_builder.filters.step:FilterStep",
    "dedup": "nbqa_builder.dedup.step:DedupStep",
    "extract": "nbqa_builder.extract.step:ExtractStep",
    "execute": "nbqa_builder.sandbox.step:ExecuteStep",
    "verify": "nbqa_builder.sandbox.step:VerifyStep",
    "redact": "nbqa_builder.redact.step:RedactStep",
}


class RecipeError(ValueError):
    """A recipe that cannot be used; the message is meant for the user as it is."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocalSource(Strict):
    kind: Literal["local"]
    path: str  # a folder of repositories, or one repository
    # glob patterns of notebooks to read, relative to each repository
    include: list[str] = ["**/*.ipynb"]
    # a notebook larger than this is not read at all (recorded as dropped "too_large")
    max_notebook_bytes: int = 50_000_000


class GithubSource(Strict):
    kind: Literal["github"]
    model_config = ConfigDict(extra="allow")  # settings validated by sources/github.py


class ExecutorConfig(Strict):
    kind: Literal["local", "ray"] = "local"
    workers: int = Field(2, ge=1)  # processes; the default fits a 2-core laptop
    part_size: int = Field(200, ge=1)  # notebooks per part: the unit of resume


class PublishConfig(Strict):
    hub: str | None = None  # "org/name" to push to, None to stay local
    private: bool = False


class Recipe(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: LocalSource | GithubSource = Field(discriminator="kind")
    steps: list[dict[str, Any]]
    output: str
    executor: ExecutorConfig = ExecutorConfig()
    publish: PublishConfig = PublishConfig()
    # where the recipe came from; relative paths in it are relative to the current directory
    path: str | None = None

    def build_steps(self, **context: Any) -> list[Step]:
        return [step_class(name)(config, **context) for name, config in self.step_configs()]

    def step_configs(self) -> list[tuple[str, Any]]:
        configs = []
        for entry in self.steps:
            ((name, settings),) = entry.items()
            configs.append((name, step_class(name).Config.model_validate(settings or {})))
        return configs


def step_class(name: str) -> type[Step]:
    module_name, class_name = STEP_CLASSES[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def load_recipe(path: str | Path) -> Recipe:
    """Read and check a recipe file. Raises RecipeError naming file, line and key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read recipe: {exc}") from None
    return parse_recipe(text, str(path))


def parse_recipe(text: str, filename: str = "<recipe>") -> Recipe:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        raise RecipeError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{filename}: a recipe is a mapping with name, source, steps and output")
    try:
        recipe = Recipe.model_validate({**data, "path": filename})
    except ValidationError as exc:
        raise _recipe_error(exc, node, filename, ()) from None
    for index, entry in enumerate(recipe.steps):
        loc: tuple[Any, ...] = ("steps", index)
        if not isinstance(entry, dict) or len(entry) != 1:
            raise RecipeError(f"{_where(node, filename, loc)}: steps[{index}]: each step is one `name: {{settings}}` mapping")
        ((name, settings),) = entry.items()
        if name not in STEP_CLASSES:
            known = ", ".join(sorted(STEP_CLASSES))
            raise RecipeError(f"{_where(node, filename, loc + (name,))}: steps[{index}].{name}: unknown step (known: {known})")
        if settings is not None and not isinstance(settings, dict):
            raise RecipeError(f"{_where(node, filename, loc + (name,))}: steps[{index}].{name}: settings must be a mapping")
        try:
            step_class(name).Config.model_validate(settings or {})
        except ValidationError as exc:
            raise _recipe_error(exc, node, filename, loc + (name,)) from None
        earlier = [next(iter(e)) for e in recipe.steps[:index]]
        if index == 0 and name != "validate":
            raise RecipeError(f"{_where(node, filename, loc)}: steps[0]: the first step must be `validate` (it parses the notebooks)")
        for needed in step_class(name).requires:
            if needed not in earlier:
                raise RecipeError(f"{_where(node, filename, loc)}: steps[{index}].{name}: needs the `{needed}` step before it")
    return recipe


def _recipe_error(exc: ValidationError, root: Any, filename: str, prefix: tuple[Any, ...]) -> RecipeError:
    error = exc.errors()[0]
    # pydantic puts the discriminator's tag into the location; it is not a key of the file
    loc = prefix + tuple(part for part in error["loc"] if part not in ("local", "github"))
    key = _dotted(loc)
    message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
    if error["type"] not in ("extra_forbidden", "missing"):
        message += f" (got {error.get('input')!r})"
    return RecipeError(f"{_where(root, filename, loc)}: {key}: {message}")


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _where(root: Any, filename: str, loc: tuple[Any, ...]) -> str:
    """`file:line` of the deepest YAML node on the path `loc`."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    child, line = value_node, key_node.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return f"{filename}:{line}" if line else filename
