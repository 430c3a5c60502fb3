"""The paper's filter rules, one function each: (notebook, config, facts) -> None | reason.

A rule only decides. Counting, stamping the step name and writing rejects are the pipeline's job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from nbqa_builder.filters.compat import incompatibility
from nbqa_builder.filters.teaching import (
    FRAMEWORK_DATASET_MODULES,
    SKLEARN_TOY_LOADERS,
    header_signature,
    teaching_name,
)
from nbqa_builder.notebooks.facts import CodeFacts
from nbqa_builder.records import AMBIGUOUS, DYNAMIC, FOUND, MISSING, URL, Notebook

if TYPE_CHECKING:
    from nbqa_builder.filters.step import FilterConfig

Rule = Callable[[Notebook, "FilterConfig", CodeFacts], "str | None"]

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


def no_code(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    # `not isspace()` is `strip()` being non-empty, without copying the source
    return None if any(c.source and not c.source.isspace() for c in notebook.code_cells) else "no_code"


def out_of_order(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """Execution counts must rise strictly down the notebook (cells run top to bottom)."""
    counts = [c.execution_count for c in notebook.code_cells if c.execution_count is not None]
    return "out_of_order" if any(b <= a for a, b in zip(counts, counts[1:])) else None


def unexecuted_code_cells(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """A non-blank code cell that never ran means the stored outputs do not tell the whole story."""
    unexecuted = sum(1 for c in notebook.code_cells
                     if c.execution_count is None and c.source and not c.source.isspace())
    return "unexecuted_code_cells" if unexecuted > config.max_unexecuted_code_cells else None


def error_outputs(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    errors = sum(1 for c in notebook.code_cells for o in c.outputs if o.get("output_type") == "error")
    return "error_outputs" if errors > config.max_error_outputs else None


def no_outputs(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """Code cells with execution counts but not one output: the outputs were stripped, so nothing
    shows that the notebook ran (here, or anywhere), and no task can be taken from its outputs."""
    return None if any(c.outputs for c in notebook.code_cells) else "no_outputs"


def neural_network_or_gpu(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    modules = facts.top_modules()
    if modules & NEURAL_NETWORK_MODULES or any(m.startswith("sklearn.neural_network") for m in facts.imports):
        return "neural_network"
    if modules & PRETRAINED_MODULES or "from_pretrained" in facts.methods:
        return "pretrained_model"
    if facts.imports & GPU_MODULES or "cuda" in facts.attributes:
        return "gpu"
    return None


def external_api(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    if any(m in API_CLIENT_MODULES or m.split(".")[0] in API_CLIENT_MODULES for m in facts.imports):
        return "external_api"
    for name in facts.called(*HTTP_CALLS):
        for strings in facts.calls[name]:
            if any(_API_URL.search(s) for s in strings):
                return "external_api"
    return None


def teaching_dataset(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    for name, calls in facts.calls.items():
        if SKLEARN_TOY_LOADERS.match(name) or FRAMEWORK_DATASET_MODULES.match(name):
            if name.endswith("fetch_openml") and not any(teaching_name(s) for args in calls for s in args):
                continue  # fetch_openml reaches thousands of sets; only the famous ones count
            return "teaching_dataset"
        if name.endswith("load_dataset") and any(teaching_name(s) for args in calls for s in args):
            return "teaching_dataset"  # seaborn.load_dataset("titanic"), datasets.load_dataset("mnist")
    for ref in notebook.data_refs:
        if teaching_name(ref.as_written) or (ref.resolved and teaching_name(ref.resolved)):
            return "teaching_dataset"
        if ref.status == FOUND and ref.resolved and header_signature(_first_line(notebook, ref.resolved, config)):
            return "teaching_dataset"
    return None


def decontaminated(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """Tables of evaluation benchmarks must not end up in training data."""
    names = {n.lower() for n in config.decontaminate.names}
    hashes = set(config.decontaminate.sha256)
    for ref in notebook.data_refs:
        basename = (ref.resolved or ref.as_written).replace("\\", "/").rsplit("/", 1)[-1].lower()
        if basename in names or (ref.sha256 and ref.sha256 in hashes):
            return "benchmark_contamination"
    return None


def network_read(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """A read over the network (a URL of another repository, `requests.get`, `sns.load_dataset`,
    a download) fails in the sandbox, which has none, and its data is not in the dataset."""
    reads = sum(1 for ref in notebook.data_refs if ref.status == URL)
    return "network_read" if reads > config.max_network_reads else None


def missing_data_file(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """An input the repository lacks, or that cannot be told (a path built at run time, a name
    that several files share), makes the notebook fail on re-execution at that read, even when
    its other files are there."""
    unresolved = sum(1 for ref in notebook.data_refs if ref.status in (MISSING, DYNAMIC, AMBIGUOUS))
    return "missing_data_file" if unresolved > config.max_missing_data_files else None


def too_little_data(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    found = [r for r in notebook.data_refs if r.status == FOUND]
    if not found:
        return "no_local_data"
    largest_rows = max((r.rows or 0) for r in found)
    largest_bytes = max((r.size or 0) for r in found)
    if largest_rows < config.min_data_rows and largest_bytes < config.min_data_bytes:
        return "too_little_data"
    return None


def incompatible_code(notebook: Notebook, config: "FilterConfig", facts: CodeFacts) -> str | None:
    """Code this machine's Python and libraries cannot run (filters/compat.py): the sandbox
    re-runs it with them, and it would fail there."""
    return incompatibility(notebook)


# rules that read the deps step's results (data refs)
DATA_RULES = {"teaching_dataset", "decontaminate", "network_read", "missing_data_file", "too_little_data"}

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


def _first_line(notebook: Notebook, resolved: str, config: "FilterConfig") -> str:
    try:
        with open(Path(notebook.repo_dir) / resolved, "rb") as handle:
            head = handle.read(config.header_bytes)
    except OSError:
        return ""
    return head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
