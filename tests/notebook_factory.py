"""Notebooks for the tests, with real outputs: cells run in the sandbox's warm worker (the
`process` backend, the same kernel code the pipeline re-runs notebooks with), then written as
nbformat v4 files into a repository folder the test builds."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbqa_builder.sandbox.limits import Limits
from nbqa_builder.sandbox.runner import WarmWorker

MIT = "MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software.\n"


class NotebookFactory:
    """`factory.write(repo, "nb/a.ipynb", ["import pandas as pd", ...])` runs the cells with the
    repository's files and saves the notebook with what they showed. A cell given as ("md", text)
    is markdown.

    `saved_as` replaces text in the code as saved, after the run: a notebook whose author read a
    URL or a network service (which the tests cannot reach) is run on a local stand-in, and saved
    with the code its author wrote and the outputs it gave."""

    def __init__(self) -> None:
        self.worker = WarmWorker("process", Limits(timeout_s=60, total_timeout_s=300, memory_mb=2048))

    def close(self) -> None:
        self.worker.close()

    def write(self, repo: Path, path: str, cells: list, saved_as: dict[str, str] | None = None) -> Path:
        files = {str(p.relative_to(repo)): p for p in repo.rglob("*") if p.is_file() and p.suffix != ".ipynb"}
        code = [c for c in cells if isinstance(c, str)]
        run = self.worker.run_notebook(code, files, str(Path(path).parent) if "/" in path else "")
        failed = [c.message or c.outputs for c in run.cells if c.status != "ok"]
        assert not failed, f"{path}: a cell failed: {failed}"
        notebook = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                                          "language_info": {"name": "python"}})
        outputs = iter(run.cells)
        for index, cell in enumerate(cells):
            if isinstance(cell, str):
                ran = next(outputs)
                for old, new in (saved_as or {}).items():
                    cell = cell.replace(old, new)
                node = new_code_cell(cell, execution_count=ran.execution_count)
                node.outputs = [nbformat.from_dict(o) for o in ran.outputs]
            else:
                node = new_markdown_cell(cell[1])
            node.id = f"cell-{index}"
            notebook.cells.append(node)
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nbformat.writes(notebook))
        (repo / "LICENSE").write_text(MIT)
        return target
