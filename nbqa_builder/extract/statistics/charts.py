"""What a chart draws (extract/charts.py): a column's values, one bar or point per row, and two
columns as a scatter plot's points."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec import Expr, Frame
from nbqa_builder.extract.statistics.base import Statistic, VarOf, answer_name, plain_name


@dataclass(frozen=True)
class Plotted(Statistic):
    """A column (or an expression over columns) as a chart draws it: one bar or point per row,
    labelled by the row labels, or the values a histogram counts (extract/charts.py)."""

    frame: Frame
    of: Expr
    kind = "plotted"

    def text(self) -> str:
        return self.of.text()

    def expression(self, var_of: VarOf) -> str:
        return self.of.code(var_of(self.frame))

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.of.columns()

    def name(self) -> str:
        return answer_name("values", plain_name(self.of))


@dataclass(frozen=True)
class PlottedPairs(Statistic):
    """Two columns of one frame as a scatter plot draws them: one point per row where both are
    present (extract/charts.py)."""

    frame: Frame
    x: Expr
    y: Expr
    kind = "plotted_pairs"

    def text(self) -> str:
        return f"{self.y.text()} against {self.x.text()}"

    def expression(self, var_of: VarOf) -> str:
        var = var_of(self.frame)
        return f"pd.DataFrame({{'x': {self.x.code(var)}, 'y': {self.y.code(var)}}})"

    def frames(self) -> list[Frame]:
        return [self.frame]

    def columns(self) -> set[Any] | None:
        return self.x.columns() | self.y.columns()

    def name(self) -> str:
        return answer_name("points", plain_name(self.y), "by", plain_name(self.x))
