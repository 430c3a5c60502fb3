"""The dedup step: exact duplicates of normalised code, then (optionally) near duplicates."""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

from nbqa_builder.dedup.exact import exact_map, exact_reduce
from nbqa_builder.records import Notebook
from nbqa_builder.step import GlobalStep, StepConfig


class DedupConfig(StepConfig):
    # Forks and copies share code byte for byte once comments and whitespace are dropped.
    exact: bool = True


class DedupStep(GlobalStep):
    name = "dedup"
    Config = DedupConfig
    requires: ClassVar[tuple[str, ...]] = ("validate",)

    def map(self, batch: list[Notebook]) -> list[Any]:
        return [("exact", key) for key in exact_map(batch)] if self.config.exact else []

    def reduce(self, keys: Iterable[Any]) -> dict[str, str]:
        return exact_reduce(key for kind, key in keys if kind == "exact")
