"""The local source: repositories, provenance, and which files count as notebooks."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from nbqa_builder.sources.local import find_repositories, list_notebooks, read_notebook

MIT = "Permission is hereby granted, free of charge, to any person obtaining a copy"


def make_repo(path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    return path


def test_folder_of_repositories_with_licenses_and_owner_names(tmp_path):
    make_repo(tmp_path / "alice__stats", {"LICENSE": MIT, "a.ipynb": "{}", "sub/b.ipynb": "{}",
                                          ".ipynb_checkpoints/a-checkpoint.ipynb": "{}"})
    make_repo(tmp_path / "plain", {"c.ipynb": "{}", "README.md": "Licensed under CC BY 4.0."})
    repos = find_repositories(tmp_path)
    assert [(r.name, r.license) for r in repos] == [("alice/stats", "MIT"), ("plain", "CC-BY-4.0")]
    assert list_notebooks(repos[0], ["**/*.ipynb"]) == ["a.ipynb", "sub/b.ipynb"]


def test_notebooks_found_at_any_depth_are_those_pathlib_glob_finds(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "a.ipynb": "{}", "deep/er/b.ipynb": "{}", ".hidden/c.ipynb": "{}", ".d.ipynb": "{}", "x.IPYNB": "{}",
        "notes.txt": "", ".git/objects/e.ipynb": "{}", "node_modules/pkg/f.ipynb": "{}",
        "sub/.ipynb_checkpoints/g-checkpoint.ipynb": "{}", "folder.ipynb/h.txt": "",
        "outside/i.ipynb": "{}",
    })
    (repo / "linked.ipynb").symlink_to(repo / "a.ipynb")  # a file through a symlink counts
    (repo / "broken.ipynb").symlink_to(repo / "nowhere.ipynb")
    (repo / "linked_dir").symlink_to(repo / "outside")  # a symlinked folder is not entered
    repository = find_repositories(repo, "single")[0]
    by_glob = sorted(p.relative_to(repo).as_posix() for p in repo.glob("**/*.ipynb") if p.is_file()
                     and not {".git", "node_modules", ".ipynb_checkpoints"} & set(p.relative_to(repo).parts[:-1]))
    assert list_notebooks(repository, ["**/*.ipynb"]) == by_glob
    assert "linked.ipynb" in by_glob and ".hidden/c.ipynb" in by_glob and "linked_dir/i.ipynb" not in by_glob
    # any other pattern goes through pathlib itself
    assert list_notebooks(repository, ["deep/**/*.ipynb", "*.ipynb"]) == [".d.ipynb", "a.ipynb", "deep/er/b.ipynb",
                                                                          "linked.ipynb"]


def test_git_checkout_gives_commit_and_url(tmp_path):
    repo = make_repo(tmp_path / "proj", {"n.ipynb": "{}"})
    git = ["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "x"], check=True)
    subprocess.run(git[:3] + ["remote", "add", "origin", "git@github.com:bob/proj.git"], check=True)
    head = subprocess.run(git[:3] + ["rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (only,) = find_repositories(repo)  # a git checkout is one repository
    assert only.commit == head
    assert only.url == "https://github.com/bob/proj.git"
    notebook = read_notebook(only, "n.ipynb", 1000)
    assert notebook.url == f"https://github.com/bob/proj/blob/{head}/n.ipynb"


def test_mirror_metadata_overrides(tmp_path):
    repo = make_repo(tmp_path / "x__y", {"n.ipynb": "{}", "LICENSE": MIT})
    (repo / ".nbqa-repo.json").write_text(json.dumps({"repo": "X/Y", "commit": "abc", "license": "Apache-2.0",
                                                       "url": "https://github.com/X/Y"}))
    (only,) = find_repositories(tmp_path)
    assert (only.name, only.commit, only.license) == ("X/Y", "abc", "Apache-2.0")


def test_oversized_notebook_is_a_recorded_drop_not_read(tmp_path):
    make_repo(tmp_path / "r", {"big.ipynb": "x" * 5000})
    (only,) = find_repositories(tmp_path)
    notebook = read_notebook(only, "big.ipynb", 100)
    assert notebook.drop_reason == "too_large" and notebook.raw == b""


def test_missing_source_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_repositories(tmp_path / "nope")


def test_file_name_that_is_not_utf8_is_a_recorded_drop_and_the_run_goes_on(tmp_path):
    from nbqa_builder.pipeline import Pipeline
    from nbqa_builder.recipe import parse_recipe

    repo = make_repo(tmp_path / "repos" / "r", {"good.ipynb": "{not json"})
    try:
        with open(os.path.join(os.fsencode(repo), b"caf\xe9.ipynb"), "wb") as handle:
            handle.write(b'{"cells": []}')
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    (only,) = find_repositories(tmp_path / "repos")
    odd = next(p for p in list_notebooks(only, ["**/*.ipynb"]) if p != "good.ipynb")
    notebook = read_notebook(only, odd, 10_000)
    assert notebook.drop_reason == "path_not_utf8" and notebook.raw == b""

    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(f"name: odd\nsource: {{kind: local, path: '{tmp_path / 'repos'}'}}\n"
                           f"steps: [{{validate: {{}}}}]\noutput: '{tmp_path / 'out'}'\n"
                           "executor: {kind: local, workers: 1}\n")
    stats = Pipeline(parse_recipe(recipe_file.read_text(), str(recipe_file)), progress=False).run()
    assert stats["steps"][0]["reasons"] == {"path_not_utf8": 1}
    rejects = [json.loads(line) for line in (tmp_path / "out" / "rejects" / "notebooks.jsonl").read_text().splitlines()]
    assert sorted((r["path"], r["reason"]) for r in rejects) == [("caf\udce9.ipynb", "path_not_utf8"),
                                                                   ("good.ipynb", "invalid_json")]
