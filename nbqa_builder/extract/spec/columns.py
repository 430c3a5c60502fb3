"""Task-spec nodes, column expressions: a value per row of a frame (see extract/spec/__init__.py).
Each node's English (`text()`) and program (`code()`) sit side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec.base import column, quote


class Expr:
    """A value per row of a frame (or a constant)."""

    def text(self) -> str:
        raise NotImplementedError

    def code(self, var: str) -> str:
        raise NotImplementedError

    def columns(self) -> set[Any]:
        """The frame's columns this expression reads."""
        return set()


@dataclass(frozen=True)
class Col(Expr):
    name: Any

    def text(self) -> str:
        return column(self.name)

    def code(self, var: str) -> str:
        return f"{var}[{quote(self.name)}]"

    def columns(self) -> set[Any]:
        return {self.name}


@dataclass(frozen=True)
class Lit(Expr):
    value: Any

    def text(self) -> str:
        return quote(self.value)

    def code(self, var: str) -> str:
        return quote(self.value)


@dataclass(frozen=True)
class ListLit(Expr):
    """A list constant (bin edges, labels), held as a tuple so that a spec stays hashable."""

    items: tuple

    def text(self) -> str:
        return quote(list(self.items))

    def code(self, var: str) -> str:
        return quote(list(self.items))


ARITHMETIC = {"+": "+", "-": "-", "*": "*", "/": "/", "//": "//", "%": "%", "**": "**"}


@dataclass(frozen=True)
class Arith(Expr):
    op: str  # a key of ARITHMETIC
    left: Expr
    right: Expr

    def text(self) -> str:
        return f"({self.left.text()} {self.op} {self.right.text()})"

    def code(self, var: str) -> str:
        return f"({self.left.code(var)} {self.op} {self.right.code(var)})"

    def columns(self) -> set[Any]:
        return self.left.columns() | self.right.columns()


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr

    def text(self) -> str:
        return f"-{self.operand.text()}"

    def code(self, var: str) -> str:
        return f"(-{self.operand.code(var)})"

    def columns(self) -> set[Any]:
        return self.operand.columns()


# function -> (English template, code template); {x} is the operand, {0}, {1}... its arguments
FUNCTIONS: dict[str, tuple[str, str]] = {
    "abs": ("the absolute value of {x}", "{x}.abs()"),
    "round": ("{x} rounded to {0} decimal places", "{x}.round({0})"),
    "log": ("the natural logarithm of {x}", "np.log({x})"),
    "log10": ("the base-10 logarithm of {x}", "np.log10({x})"),
    "log1p": ("the natural logarithm of 1 + {x}", "np.log1p({x})"),
    "sqrt": ("the square root of {x}", "np.sqrt({x})"),
    "exp": ("e to the power {x}", "np.exp({x})"),
    "str.lower": ("{x} in lower case", "{x}.str.lower()"),
    "str.upper": ("{x} in upper case", "{x}.str.upper()"),
    "str.capitalize": ("{x} with its first character in upper case and the rest in lower case", "{x}.str.capitalize()"),
    "str.title": ("{x} with each word's first letter in upper case and the rest in lower case", "{x}.str.title()"),
    "str.strip": ("{x} without surrounding spaces", "{x}.str.strip()"),
    "str.len": ("the number of characters of {x}", "{x}.str.len()"),
    "dt.year": ("the year of {x}", "{x}.dt.year"),
    "dt.month": ("the month (1-12) of {x}", "{x}.dt.month"),
    "dt.day": ("the day of the month of {x}", "{x}.dt.day"),
    "dt.hour": ("the hour of {x}", "{x}.dt.hour"),
    "dt.dayofweek": ("the day of the week of {x} (Monday=0)", "{x}.dt.dayofweek"),
    "dt.quarter": ("the quarter (1-4) of {x}", "{x}.dt.quarter"),
    "dt.dayofyear": ("the day of the year (1-366) of {x}", "{x}.dt.dayofyear"),
    "dt.day_name": ("the English name of the weekday of {x} (such as 'Monday')", "{x}.dt.day_name()"),
    "dt.month_name": ("the English name of the month of {x} (such as 'January')", "{x}.dt.month_name()"),
    "str.split": ("{x} split at every {0} (a list of pieces)", "{x}.str.split({0})"),
    "str.split_part": ("the piece at position {1} (counting from 0) of {x} split at every {0}",
                       "{x}.str.split({0}).str[{1}]"),
    "cut": ("{x} binned at the edges {0} (each bin holds values above its lower edge up to and including its upper"
            " edge; a value outside the edges becomes missing), the bins labelled {1} in order",
            "pd.cut({x}, bins={0}, labels={1})"),
    "qcut": ("{x} split into {0} bins holding equal numbers of values (pandas.qcut quantiles), the bins labelled {1}"
             " from lowest to highest", "pd.qcut({x}, q={0}, labels={1})"),
    "to_datetime": ("{x} parsed as dates (pandas.to_datetime)", "pd.to_datetime({x})"),
    "to_datetime_format": ("{x} parsed as dates in the format {0}", "pd.to_datetime({x}, format={0})"),
    "to_numeric": ("{x} as numbers", "pd.to_numeric({x})"),
    "to_numeric_coerce": ("{x} as numbers, where a value that is not a number becomes missing",
                          "pd.to_numeric({x}, errors='coerce')"),
    "astype": ("{x} converted to {0}", "{x}.astype({0})"),
    "fillna": ("{x} with its missing values replaced by {0}", "{x}.fillna({0})"),
    "map": ("{x} mapped through {0} (a value not listed becomes missing)", "{x}.map({0})"),
    "replace": ("{x} with {0} replaced by {1}", "{x}.replace({0}, {1})"),
}


@dataclass(frozen=True)
class Apply(Expr):
    func: str  # a key of FUNCTIONS
    operand: Expr
    args: tuple = ()  # Expr arguments

    def text(self) -> str:
        template = FUNCTIONS[self.func][0]
        return template.format(*(a.text() for a in self.args), x=self.operand.text())

    def code(self, var: str) -> str:
        template = FUNCTIONS[self.func][1]
        return template.format(*(a.code(var) for a in self.args), x=self.operand.code(var))

    def columns(self) -> set[Any]:
        return self.operand.columns().union(*(a.columns() for a in self.args))


@dataclass(frozen=True)
class StatRef(Expr):
    """A statistic of the frame as it is at this point (`fillna(df["x"].mean())`)."""

    stat: Any  # statistics.Statistic over the same frame

    def text(self) -> str:
        return self.stat.text()

    def code(self, var: str) -> str:
        return self.stat.expression(lambda frame: var)  # the frame being prepared, as it is now

    def columns(self) -> set[Any]:
        return self.stat.columns()
