"""One notebook of a repository as `run` reads it: its repository found, the notebook validated
and its reads resolved (the deps step). Shared by `inspect` and `exec`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nbqa_builder.records import Notebook

REPO_HELP = ("the notebook's repository folder (default: as `run` decides: under the recipe's source folder, "
             "its layout; else the nearest folder above the notebook with .git, .nbqa-repo.json, a license "
             "file, or named owner__name)")


def repository_folder(path: Path, repo: str | None = None, recipe: Any = None) -> Path:
    """The repository `path` belongs to: `repo` when given, else the one `run` would read it in."""
    from nbqa_builder.cli import UserError
    from nbqa_builder.sources.local import repository_of

    if repo:
        repo_dir = Path(repo)
    elif recipe is not None and recipe.source.kind == "local":
        repo_dir = repository_of(path, Path(recipe.source.path), recipe.source.layout)
    else:
        repo_dir = repository_of(path)
    if not path.resolve().is_relative_to(repo_dir.resolve()):
        raise UserError(f"{path} is not inside the repository folder {repo_dir}")
    return repo_dir


def read_in_repository(path: Path, repo_dir: Path, configs: dict[str, Any]) -> Notebook:
    """The notebook read from its repository, through the validate and deps steps: its cells,
    and each data file it reads, found in the repository or not (reads of the repository's own
    files by URL or absolute path rewritten in the code, as `run` does)."""
    from nbqa_builder.deps.step import DepsStep
    from nbqa_builder.notebooks.validate import ValidateStep
    from nbqa_builder.sources.local import describe_repository, read_notebook

    repo = describe_repository(repo_dir)
    notebook = read_notebook(repo, path.resolve().relative_to(repo_dir.resolve()).as_posix(), 1 << 40)
    for step in (ValidateStep(configs.get("validate")), DepsStep(configs.get("deps"))):
        step([notebook])
    return notebook
