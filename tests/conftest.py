"""Fixtures that several test modules share."""

from __future__ import annotations

import pytest

from notebook_factory import NotebookFactory
from nbqa_builder.sandbox.step import SandboxStepConfig, VerifyStep


@pytest.fixture(scope="module")
def factory():
    """Writes executed notebooks (tests/notebook_factory.py): one kernel for the module's tests."""
    factory = NotebookFactory()
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def verify():
    """The verify step in the `process` sandbox: two runs, a minute a cell."""
    step = VerifyStep(SandboxStepConfig(sandbox="process", runs=2, timeout_s=60))
    yield step
    step.close()
