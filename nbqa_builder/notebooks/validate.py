"""The validate step: bytes in, parsed cells out, or a drop reason."""

from __future__ import annotations

from pydantic import Field

from nbqa_builder.notebooks.parse import (
    NOT_PYTHON,
    TOO_LARGE,
    NotebookError,
    kernel_language,
    load_json,
    to_cells,
    validate_notebook,
)
from nbqa_builder.records import Notebook
from nbqa_builder.redact.secrets import redact_text
from nbqa_builder.step import Step, StepConfig, count


class ValidateConfig(StepConfig):
    # Notebooks above 20 MB are nearly always image or data dumps, not analyses; they also blow
    # up parse memory. The corpus's largest notebook is under 5 MB.
    max_notebook_bytes: int = Field(20_000_000, ge=1)
    # An empty file is a failed upload; anything shorter is judged by the JSON and schema checks.
    min_notebook_bytes: int = Field(1, ge=0)
    # Only Python kernels: the pipeline analyses and re-runs Python. A notebook without kernel
    # metadata (old or hand-written) is taken as Python.
    languages: list[str] = ["python", "python2", "python3", "ipython", "ipython3"]


class ValidateStep(Step):
    name = "validate"
    Config = ValidateConfig

    def process(self, notebook: Notebook) -> str | None:
        raw, notebook.raw = notebook.raw, None  # the bytes are not needed after this step
        if raw is None:
            raise ValueError(f"{notebook.uid}: validate needs the notebook's bytes (is it the first step?)")
        if not self.config.min_notebook_bytes <= len(raw) <= self.config.max_notebook_bytes:
            notebook.checks["validate"] = {"error": f"size {len(raw)} bytes outside the recipe's bounds"}
            return TOO_LARGE if len(raw) > self.config.max_notebook_bytes else "empty"
        data = None
        repairs: list[str] = []
        try:
            data = load_json(raw)
            declared = f"{data.get('nbformat')}.{data.get('nbformat_minor')}"
            data = validate_notebook(data, repairs)
        except NotebookError as exc:
            notebook.checks["validate"] = {"error": redact_text(str(exc))[0]}  # a message may quote a value
            # an invalid notebook still says which format it claims (`inspect` shows it)
            declared = data.get("nbformat") if isinstance(data, dict) else None
            notebook.nbformat = declared if type(declared) is int else None
            return exc.reason
        notebook.nbformat = data.get("nbformat")
        notebook.kernel = kernel_language(data)
        notebook.cells = to_cells(data)
        notebook.checks["validate"] = {"nbformat": declared}
        if repairs:  # what nbformat, and Jupyter, repair on reading it
            notebook.checks["validate"]["repaired"] = repairs
            count(notebook, self.name, "repaired_notebooks")
        if notebook.kernel is not None and notebook.kernel not in self.config.languages:
            return f"{NOT_PYTHON}: the kernel's language is {notebook.kernel}"
        return None
