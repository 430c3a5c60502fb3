"""What each published column holds, for the card (a test keeps these in step with the schemas)."""

from __future__ import annotations

import pyarrow as pa

from nbqa_builder.records import FILE_SCHEMA, TASK_SCHEMA

TASK_COLUMNS = {
    "task": "the question, self-contained: every step from the raw file to the answer is stated",
    "file_names": "the names of the data files the task reads",
    "concepts": "what the task exercises (summary statistics, correlation analysis, data preprocessing ...)",
    "difficulty": "easy, medium or hard",
    "constraints": "how the answer must be computed (methods, handling of missing values, order of steps)",
    "format": "the answer's form: `@name[value]` items and their rounding",
    "answer": "the raw result, as the notebook showed it",
    "label": "the answer formatted as `@name[value]` items: what a solver's reply is scored against",
    "solution": "the steps from the notebook: `thought`, `python_code`, `code_output`; the last carries `label`",
    "github_repo": "the notebook's repository (`owner/name`)",
    "ipynb_name": "the notebook's path in its repository",
    "id": "a stable hash of the task",
    "answers": "each answer: `name`, `value`, and `place` (where the answer cell shows it: `result`, `line 2`)",
    "data_files": "each file the task reads: `path` (where its code reads it, relative to the notebook's "
                  "folder), `sha256` (its row in `files`), `size`",
    "deps_complete": "every file the solution reads is in the dataset",
    "executable": "the solution ran in the sandbox with only the task's files",
    "deterministic": "two runs showed the same outputs",
    "verified": "the re-run showed every answer again (and the reference program printed the label)",
    "is_visualization": "the answer is a chart",
    "category": "one of the paper's eight categories (summary statistics ... machine learning, visualisation)",
    "source": "the notebook's sha256 (`notebook_id`)",
    "commit": "the repository's commit the notebook was read at",
    "license": "the license of the notebook's repository (SPDX id, `other` when not recognised)",
    "url": "the notebook on its host, at that commit",
    "extractor_backend": "`heuristic` (offline) or `openai` (an OpenAI-compatible model)",
    "extractor_model": "the model that wrote the task (LLM tasks)",
    "prompt_version": "the version of the extraction prompts (LLM tasks)",
    "builder_version": "the nbqa_builder version that built the row",
    "cells": "the notebook cell indices of the solution, in order",
    "question_kind": "the statistic a heuristic task asks for (`mean`, `count_where` ...); `open` for LLM tasks",
    "reference_code": "a program written from the task's spec (not copied from the notebook) that prints the "
                      "label from the task's files",
    "reference_agrees": "the reference program printed the label in the sandbox",
    "solver_agrees": "a blind solver (the `solve` step), from the task text and files alone, reached the label; "
                     "null when not checked",
    "solver_answer": "the blind solver's final `@name[value]` answer, when it gave one",
    "not_interactive": "why the task is in `sft` though its notebook is kept: what stops a re-run offline "
                       "(`network_read: pd.read_csv(https://...)`, `missing_file: data/x.csv`, "
                       "`removed_api: DataFrame.append (cell 4, line 2)`, `rerun_failed: cell 7 KeyError '2014'`); "
                       "null for a task that may be interactive",
    "chart_image": "a visualization task's chart as the notebook stored it (base64 PNG); null for other tasks",
    "reference_checked": "the reference program ran in the sandbox on the task's files and printed the label; "
                         "false where the files are absent (an `sft` task grounded in stored outputs alone)",
}

FILE_COLUMNS = {
    "sha256": "the content's sha256: what a task's `data_files[].sha256` points to",
    "size": "bytes",
    "content": "the file's bytes (credentials redacted)",
    "paths": "the paths the tasks read it at",
    "origins": "where the file came from (`owner/name@commit:path`, or the URL the crawl fetched it from) and its "
               "license: the holding repository's, which for a fetched file is not the notebook's",
}


def column_table(schema: pa.Schema, meanings: dict[str, str]) -> str:
    """A markdown table: column, Arrow type, meaning; in the schema's order."""
    rows = ["| column | type | meaning |", "|---|---|---|"]
    rows += [f"| `{field.name}` | `{field.type}` | {meanings[field.name]} |" for field in schema]
    return "\n".join(rows)


def task_columns() -> str:
    return column_table(TASK_SCHEMA, TASK_COLUMNS)


def file_columns() -> str:
    return column_table(FILE_SCHEMA, FILE_COLUMNS)
