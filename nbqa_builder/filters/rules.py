"""The paper's filter rules, one function each: (notebook, config, facts) -> None | reason.

A reason is `name: detail`, the detail naming what matched (the module, the API and its line,
the file, the URL, the teaching set and the signal that found it, the cell and its error). A rule
only decides. Counting (by the bare name), stamping the step name and writing rejects are the
pipeline's job.

Two kinds of rule (NBQA.md, "The two tiers"): the paper's rules drop a notebook; the rules of
`TIER_RULES` say what stops it re-running offline (a network read, a missing file, code these
libraries no longer run), which keeps it for the `sft` tier with that reason (filters/step.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Protocol

from nbqa_builder.filters.compat import incompatibility
from nbqa_builder.filters.shapes import shown_rows
from nbqa_builder.filters.teaching import (
    FRAMEWORK_DATASET_MODULES,
    SKLEARN_TOY_LOADERS,
    header_signature,
    teaching_name,
)
from nbqa_builder.notebooks.facts import CodeFacts
from nbqa_builder.notebooks.parse import error_text
from nbqa_builder.records import AMBIGUOUS, DYNAMIC, FOUND, MISSING, URL, Notebook


class Thresholds(Protocol):
    """What the rules read of their settings (filters/step.py's `FilterConfig`, which imports this
    module for the rule names: the rules know the settings only by this shape)."""

    max_unexecuted_code_cells: int
    max_error_outputs: int
    min_data_rows: int
    min_data_bytes: int
    max_network_reads: int
    max_missing_data_files: int
    header_bytes: int
    decontaminate: Any  # the names and sha256 of benchmark tables


Rule = Callable[[Notebook, Thresholds, CodeFacts], "str | None"]

NEURAL_NETWORK_MODULES = {
    "tensorflow", "keras", "torch", "torchvision", "torchaudio", "torchtext", "jax", "flax", "mxnet",
    "paddle", "theano", "lasagne", "caffe", "cntk", "chainer", "pytorch_lightning", "lightning",
    "fastai", "timm", "tensorflow_hub", "tflearn", "onnxruntime",
}
PRETRAINED_MODULES = {"transformers", "sentence_transformers", "diffusers", "spacy", "gensim", "openai_clip", "clip"}
GPU_MODULES = {"cupy", "cudf", "cuml", "numba.cuda", "pycuda", "GPUtil", "pynvml"}
API_CLIENT_MODULES = {
    "openai", "anthropic", "tweepy", "boto3", "botocore", "googleapiclient", "google.cloud", "praw",
    "spotipy", "github", "twilio", "slack_sdk", "facebook", "quandl", "pandas_datareader", "yfinance",
    "wikipedia", "kaggle", "alpha_vantage", "fredapi", "sodapy", "census", "googlemaps", "gspread",
}
HTTP_CALLS = ("requests.", "httpx.", "urllib.request.urlopen", "urllib2.urlopen", "urllib.urlopen")
_API_URL = re.compile(r"https?://(api\.|[^/\s]+/(?:api|v\d)/)|[?&](api_?key|token|access_token)=", re.I)


def no_code(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """Every code cell blank or only comments (an exercise sheet with its code cleared: "# Solution 1")."""
    if any(_has_code(c.source) for c in notebook.code_cells):
        return None
    return f"no_code: {len(notebook.code_cells)} code cells, all blank or comments"


def _has_code(source: str) -> bool:
    # `not isspace()` is `strip()` being non-empty, without copying the source
    if not source or source.isspace():
        return False
    return any(line.strip() and not line.lstrip().startswith("#") for line in source.splitlines())


def out_of_order(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """Execution counts must rise strictly down the notebook (cells run top to bottom).

    A cell with nothing to run (blank, or comments only: "# Write your answer here") is left out:
    the kernel does not count it, so a top-to-bottom run shows it with the count before it."""
    ran = [(i, c.execution_count) for i, c in enumerate(notebook.cells)
           if c.cell_type == "code" and c.execution_count is not None and _has_code(c.source)]
    for (_, before), (index, count) in zip(ran, ran[1:]):
        if count <= before:
            return f"out_of_order: cell {index} ran as [{count}] after [{before}]"
    return None


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in source.splitlines())


def unexecuted_code_cells(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """A non-blank code cell that never ran means the stored outputs do not tell the whole story."""
    unexecuted = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"
                  and c.execution_count is None and c.source and not c.source.isspace()]
    if len(unexecuted) > config.max_unexecuted_code_cells:
        return f"unexecuted_code_cells: {len(unexecuted)} never ran, first cell {unexecuted[0]}"
    return None


def error_outputs(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    errors = [(i, o) for i, c in enumerate(notebook.cells) if c.cell_type == "code"
              for o in c.outputs if o.get("output_type") == "error"]
    if len(errors) > config.max_error_outputs:
        index, error = errors[0]
        return f"error_outputs: cell {index} {error_text(error)}"
    return None


def no_outputs(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """Code cells with execution counts but not one output: the outputs were stripped, so no task
    can be taken from stored outputs. Not a paper rule: such a notebook is kept for the execute
    step, whose re-run gives it outputs (`RERUN_FOR_OUTPUTS`); one that cannot re-run is dropped."""
    if any(c.outputs for c in notebook.code_cells):
        return None
    return f"no_outputs: none of {len(notebook.code_cells)} code cells shows an output"


def neural_network_or_gpu(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    modules = facts.top_modules()
    networks = sorted(modules & NEURAL_NETWORK_MODULES) + sorted(
        m for m in facts.imports if m.startswith("sklearn.neural_network"))
    if networks:
        return f"neural_network: import {networks[0]}"
    pretrained = sorted(modules & PRETRAINED_MODULES)
    if pretrained or "from_pretrained" in facts.methods:
        return f"pretrained_model: {'import ' + pretrained[0] if pretrained else '.from_pretrained()'}"
    gpu = sorted(facts.imports & GPU_MODULES)
    if gpu or "cuda" in facts.attributes:
        return f"gpu: {'import ' + gpu[0] if gpu else '.cuda'}"
    return None


def external_api(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    clients = sorted(m for m in facts.imports if m in API_CLIENT_MODULES or m.split(".")[0] in API_CLIENT_MODULES)
    if clients:
        return f"external_api: import {clients[0]}"
    for name in facts.called(*HTTP_CALLS):
        for strings in facts.calls[name]:
            url = next((s for s in strings if _API_URL.search(s)), None)
            if url is not None:
                return f"external_api: {name}({url[:200]})"
    return None


def teaching_dataset(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    for name, calls in facts.calls.items():
        if SKLEARN_TOY_LOADERS.match(name) or FRAMEWORK_DATASET_MODULES.match(name):
            named = next((teaching_name(s) for args in calls for s in args if teaching_name(s)), None)
            if name.endswith("fetch_openml") and named is None:
                continue  # fetch_openml reaches thousands of sets; only the famous ones count
            return f"teaching_dataset: {named or name.rsplit('.', 1)[-1]} (loader {name})"
        if name.endswith("load_dataset"):  # seaborn.load_dataset("titanic"), datasets.load_dataset("mnist")
            named = next((teaching_name(s) for args in calls for s in args if teaching_name(s)), None)
            if named is not None:
                return f"teaching_dataset: {named} (loader {name})"
    for ref in notebook.data_refs:
        named = teaching_name(ref.as_written) or (ref.resolved and teaching_name(ref.resolved))
        if named:
            return f"teaching_dataset: {named} (file name {ref.resolved or ref.as_written})"
        if ref.status == FOUND and ref.resolved:
            header = header_signature(_first_line(notebook, ref.resolved, config))
            if header:
                return f"teaching_dataset: {header} (header of {ref.resolved})"
    return None


def decontaminated(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """Tables of evaluation benchmarks must not end up in training data."""
    names = {n.lower() for n in config.decontaminate.names}
    hashes = set(config.decontaminate.sha256)
    for ref in notebook.data_refs:
        path = ref.resolved or ref.as_written
        if path.replace("\\", "/").rsplit("/", 1)[-1].lower() in names:
            return f"benchmark_contamination: {path} (name)"
        if ref.sha256 and ref.sha256 in hashes:
            return f"benchmark_contamination: {path} (sha256 {ref.sha256[:12]})"
    return None


def network_read(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """A read over the network (a URL of another repository, `requests.get`, `sns.load_dataset`,
    a download) fails in the sandbox, which has none, and its data is not in the dataset. A
    tier rule: the notebook's tasks go to `sft`. (A URL the source fetched at crawl time is
    rewritten to its local copy: a found file, not a network read.)"""
    reads = [ref for ref in notebook.data_refs if ref.status == URL]
    if len(reads) > config.max_network_reads:
        ref = reads[0]
        # a URL built at run time is written as its whole call (`urlretrieve(url, path)`)
        call = ref.as_written if ref.as_written.startswith(f"{ref.call}(") else f"{ref.call}({ref.as_written})"
        fetch = (notebook.checks.get("url_fetch") or {}).get(ref.as_written)  # why the crawl could not fetch it
        return f"network_read: {call[:200]} in cell {ref.cell}" + (f" (not fetched: {fetch})" if fetch else "")
    return None


def missing_data_file(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """An input the repository lacks, or that cannot be told (a path built at run time, a name
    that several files share), makes the notebook fail on re-execution at that read, even when
    its other files are there. A tier rule: the notebook's tasks go to `sft`."""
    unresolved = [ref for ref in notebook.data_refs if ref.status in (MISSING, DYNAMIC, AMBIGUOUS)]
    if len(unresolved) > config.max_missing_data_files:
        ref = unresolved[0]
        why = {MISSING: "", DYNAMIC: " (a path built at run time)", AMBIGUOUS: " (several files have this name)"}
        return f"missing_file: {ref.as_written[:200]}{why[ref.status]} in cell {ref.cell}"
    return None


def too_little_data(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """Judged on the data files present; where none is (read from a URL, or missing), on the
    table lengths the stored outputs show; where none shows one, the notebook is kept."""
    if not notebook.data_refs:
        return "no_data_file: the notebook reads no data file"
    found = [r for r in notebook.data_refs if r.status == FOUND]
    if not found:
        rows = shown_rows(notebook)
        if rows is not None and rows < config.min_data_rows:
            return f"too_little_data: its outputs show tables of at most {rows} rows (no data file present)"
        return None
    largest = max(found, key=lambda r: (r.rows or 0, r.size or 0))
    largest_rows = max((r.rows or 0) for r in found)
    largest_bytes = max((r.size or 0) for r in found)
    if largest_rows < config.min_data_rows and largest_bytes < config.min_data_bytes:
        return (f"too_little_data: {largest.resolved} has {largest.rows or 0} rows, "
                f"{largest.size or 0} bytes (the largest of {len(found)})")
    return None


def incompatible_code(notebook: Notebook, config: Thresholds, facts: CodeFacts) -> str | None:
    """Code this machine's Python and libraries cannot run (filters/compat.py): the sandbox
    re-runs it with them, and it would fail there. A tier rule: the notebook's tasks go to `sft`."""
    return incompatibility(notebook)


# rules that read the deps step's results (data refs)
DATA_RULES = {"teaching_dataset", "decontaminate", "network_read", "missing_data_file", "too_little_data"}
# rules that decide the tier, not the verdict: what they find stops a re-run offline, and the
# notebook's stored code and outputs are still a real analysis (NBQA.md, "The two tiers")
TIER_RULES = frozenset({"network_read", "missing_data_file", "incompatible_code"})
# rules whose notebook has nothing to take tasks from but what a re-run shows: kept for the execute
# step, which gives it its re-run's outputs or drops it (sandbox/step.py)
RERUN_FOR_OUTPUTS = frozenset({"no_outputs"})

# Order matters only for which reason a notebook that breaks several rules is recorded under:
# cheap structural rules first, then code rules, then the rules that read data files.
RULES: dict[str, Rule] = {
    "no_code": no_code,
    "out_of_order": out_of_order,
    "unexecuted_code_cells": unexecuted_code_cells,
    "error_outputs": error_outputs,
    "neural_network_or_gpu": neural_network_or_gpu,
    "external_api": external_api,
    "teaching_dataset": teaching_dataset,
    "decontaminate": decontaminated,
    # what stops a re-run offline; a notebook that breaks a rule above is recorded under that one
    "no_outputs": no_outputs,
    "network_read": network_read,
    "missing_data_file": missing_data_file,
    "too_little_data": too_little_data,
    # last: it parses every cell, so it runs on what the other rules kept
    "incompatible_code": incompatible_code,
}


def _first_line(notebook: Notebook, resolved: str, config: Thresholds) -> str:
    try:
        with open(Path(notebook.repo_dir) / resolved, "rb") as handle:
            head = handle.read(config.header_bytes)
    except OSError:
        return ""
    return head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
