"""The filter step: the paper's rules, with the thresholds the paper did not publish.

Rules run in `rules.RULES` order and the notebook is dropped for the first of the paper's rules
that gives a reason. A tier rule (`rules.TIER_RULES`: a network read, a missing file, code these
libraries cannot run) does not drop: it keeps the notebook for the `sft` tier with its reason
(`Notebook.not_interactive`), unless the recipe asks for the interactive tier alone (`tiers:
[interactive]`), where it drops as before. A notebook without stored outputs (`no_outputs`) is
kept for the execute step, whose re-run gives it outputs, unless it cannot re-run. Verdicts, with
what matched, are kept in
`checks["filter"]` (every rule's with `all_verdicts`, as `inspect` asks).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nbqa_builder.filters.rules import DATA_RULES, RERUN_FOR_OUTPUTS, RULES, TIER_RULES
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
    # The sandbox has no network: a notebook that fetches anything fails there, and what it
    # fetched is not in the dataset. 0: every such notebook goes to the `sft` tier.
    max_network_reads: int = Field(0, ge=0)
    # A read of a file the repository lacks (or a path built at run time) fails on re-execution.
    # 0: every such notebook goes to the `sft` tier, even when its other files are there.
    max_missing_data_files: int = Field(0, ge=0)
    # The header line of a CSV is within its first 4 kB in any sane file.
    header_bytes: int = Field(4096, ge=64)
    # tables of evaluation benchmarks (by name or content) must never become training data
    decontaminate: DecontaminateConfig = DecontaminateConfig()
    # only these rules (in their usual order); None: every rule. Two filter steps, the cheap rules
    # before `deps` and the data rules after it, spare parsing the notebooks the first drops.
    rules: list[RuleName] | None = None
    # rules to switch off, by name
    disable: list[RuleName] = []
    # Evaluate every rule even after one has dropped the notebook (`inspect` does, to show all
    # verdicts); off, the cheap structural rules settle most drops before any code is parsed.
    all_verdicts: bool = False


def active_rules(config: FilterConfig) -> list[str]:
    wanted = set(config.rules) if config.rules is not None else set(RULES)
    return [name for name in RULES if name in wanted and name not in config.disable]


class _LazyFacts:
    """Code facts computed on the first rule that asks (structural rules never do)."""

    def __init__(self, notebook: Notebook) -> None:
        self._notebook = notebook
        self._facts = None

    def __getattr__(self, name: str):
        if self._facts is None:
            self._facts = code_facts(self._notebook)
        return getattr(self._facts, name)


class FilterStep(Step):
    name = "filter"
    Config = FilterConfig
    requires: ClassVar[tuple[str, ...]] = ("validate", "deps")

    @classmethod
    def required_steps(cls, config: FilterConfig) -> tuple[str, ...]:
        return cls.requires if set(active_rules(config)) & DATA_RULES else ("validate",)

    def routes_to_sft(self) -> bool:
        """Whether a tier rule keeps a notebook for `sft` (the recipe's `tiers` has it), or drops it."""
        return "sft" in self.context.get("tiers", ("interactive", "sft"))

    def process(self, notebook: Notebook) -> str | None:
        facts = _LazyFacts(notebook)
        verdicts: dict[str, str | None] = {}
        notebook.checks["filter"] = verdicts
        route = self.routes_to_sft()
        drop = None
        for rule_name in active_rules(self.config):
            if (rule_name == "incompatible_code" and notebook.not_interactive and route
                    and not self.config.all_verdicts):
                continue  # already sft: parsing every cell would add nothing
            verdict = verdicts[rule_name] = RULES[rule_name](notebook, self.config, facts)
            if not verdict:
                continue
            if route and rule_name in TIER_RULES:
                notebook.route_to_sft(verdict)
                continue
            if rule_name in RERUN_FOR_OUTPUTS:
                notebook.checks["needs_rerun_outputs"] = verdict
                continue
            drop = drop or verdict
            if not self.config.all_verdicts:
                break
        # a notebook without stored outputs that cannot re-run to its end still goes to `execute`:
        # the cells its re-run runs before what stops it give it outputs (sandbox/step.py)
        return drop
