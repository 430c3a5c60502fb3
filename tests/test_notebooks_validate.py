"""The validate step's size bounds, at N-1, N and N+1, as shipped and as a recipe sets them."""

from __future__ import annotations

import pytest

from nbqa_builder.notebooks.validate import ValidateConfig, ValidateStep
from nbqa_builder.records import Notebook

NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def sized(n: int) -> Notebook:
    """A valid notebook file of exactly n bytes (padded with white space), or a shorter prefix."""
    raw = NOTEBOOK + b" " * (n - len(NOTEBOOK)) if n >= len(NOTEBOOK) else NOTEBOOK[:n]
    return Notebook(notebook_id="n", repo="o/r", path="a.ipynb", raw=raw)


def verdict(config: ValidateConfig, n: int) -> str | None:
    notebook = sized(n)
    ValidateStep(config)([notebook])
    return notebook.drop_reason


def test_the_largest_notebook_as_shipped_is_20_mb():
    # "above 20 MB a notebook is an image or data dump, not an analysis"
    n = 20_000_000
    assert ValidateConfig().max_notebook_bytes == n
    assert [verdict(ValidateConfig(), size) for size in (n - 1, n, n + 1)] == [None, None, "too_large"]


def test_the_smallest_notebook_as_shipped_is_one_byte():
    assert ValidateConfig().min_notebook_bytes == 1
    assert verdict(ValidateConfig(), 0) == "empty"
    assert verdict(ValidateConfig(), 1) == "invalid_json"  # one byte is read, and judged as JSON


@pytest.mark.parametrize("n", [100, 500])
def test_size_bounds_set_in_a_recipe_keep_and_drop_at_their_edge(n):
    largest = ValidateConfig(max_notebook_bytes=n)
    assert [verdict(largest, size) for size in (n - 1, n, n + 1)] == [None, None, "too_large"]
    smallest = ValidateConfig(min_notebook_bytes=n)
    assert [verdict(smallest, size) for size in (n - 1, n, n + 1)] == ["empty", None, None]
