"""The filter step: the paper's rules, with the thresholds the paper did not publish.

Every rule runs and its verdict is kept in `checks["filter"]` (so `inspect` shows them all); the
notebook is dropped for the first rule, in `rules.RULES` order, that gives a reason.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nbqa_builder.filters.rules import RULES
from nbqa_builder.notebooks.facts import code_facts
from nbqa_builder.records import Notebook
from nbqa_builder.step import Step, StepConfig

RuleName = Literal[tuple(RULES)]  # type: ignore[valid-type]


class DecontaminateConfig(StepConfig):
    # file names (case-insensitive) of benchmark tables, e.g. DABench's CSVs
    names: list[str] = []
    # sha256 of benchmark tables: catches renamed copies
    sha256: list[str] = []


class FilterConfig(StepConfig):
    # The paper drops notebooks with unexecuted code cells: their stored outputs are incomplete.
    max_unexecuted_code_cells: int = Field(0, ge=0)
    # The paper drops notebooks with error outputs: a traceback means the run did not go through.
    max_error_outputs: int = Field(0, ge=0)
    # "Too little data": under 100 rows a table is a toy; summary statistics on it are trivia.
    min_data_rows: int = Field(100, ge=0)
    # ...unless it is a binary or wide file of at least 10 kB (Excel, Parquet, pickle).
    min_data_bytes: int = Field(10_000, ge=0)
    # The header line of a CSV is within its first 4 kB in any sane file.
    header_bytes: int = Field(4096, ge=64)
    decontaminate: DecontaminateConfig = DecontaminateConfig()
    # rules to switch off, by name
    disable: list[RuleName] = []


class FilterStep(Step):
    name = "filter"
    Config = FilterConfig
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps")

    def process(self, notebook: Notebook) -> str | None:
        facts = code_facts(notebook)
        verdicts: dict[str, str | None] = {}
        for rule_name, rule in RULES.items():
            if rule_name not in self.config.disable:
                verdicts[rule_name] = rule(notebook, self.config, facts)
        notebook.checks["filter"] = verdicts
        return next((reason for reason in verdicts.values() if reason), None)
