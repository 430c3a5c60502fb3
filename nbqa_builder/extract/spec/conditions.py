"""Task-spec nodes, conditions on the rows of a frame (see extract/spec/__init__.py): each node's
English (`text()`) and program (`code()`) side by side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nbqa_builder.extract.spec.base import quote
from nbqa_builder.extract.spec.columns import Expr


class Cond:
    def text(self) -> str:
        raise NotImplementedError

    def code(self, var: str) -> str:
        raise NotImplementedError

    def columns(self) -> set[Any]:
        raise NotImplementedError


COMPARISONS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class Compare(Cond):
    left: Expr
    op: str  # a key of COMPARISONS
    right: Expr

    def text(self) -> str:
        return f"{self.left.text()} {self.op} {self.right.text()}"

    def code(self, var: str) -> str:
        return f"({self.left.code(var)} {self.op} {self.right.code(var)})"

    def columns(self) -> set[Any]:
        return self.left.columns() | self.right.columns()


@dataclass(frozen=True)
class IsIn(Cond):
    operand: Expr
    values: tuple

    def text(self) -> str:
        return f"{self.operand.text()} is one of {', '.join(quote(v) for v in self.values)}"

    def code(self, var: str) -> str:
        return f"{self.operand.code(var)}.isin({quote(list(self.values))})"

    def columns(self) -> set[Any]:
        return self.operand.columns()


@dataclass(frozen=True)
class IsNull(Cond):
    operand: Expr
    negated: bool = False

    def text(self) -> str:
        return f"{self.operand.text()} is {'not ' if self.negated else ''}missing"

    def code(self, var: str) -> str:
        return f"{self.operand.code(var)}.{'notna' if self.negated else 'isna'}()"

    def columns(self) -> set[Any]:
        return self.operand.columns()


@dataclass(frozen=True)
class Between(Cond):
    operand: Expr
    low: Any
    high: Any

    def text(self) -> str:
        return f"{self.operand.text()} is between {quote(self.low)} and {quote(self.high)} (both included)"

    def code(self, var: str) -> str:
        return f"{self.operand.code(var)}.between({quote(self.low)}, {quote(self.high)})"

    def columns(self) -> set[Any]:
        return self.operand.columns()


STRING_TESTS = {"contains": "contains", "startswith": "starts with", "endswith": "ends with"}


@dataclass(frozen=True)
class StrTest(Cond):
    operand: Expr
    method: str  # a key of STRING_TESTS
    pattern: str
    case: bool = True
    regex: bool = True  # only for contains, as pandas' default

    def text(self) -> str:
        how = STRING_TESTS[self.method]
        detail = []
        if self.method == "contains":
            detail.append("as a regular expression" if self.regex else "as plain text")
        if not self.case:
            detail.append("ignoring case")
        suffix = f" ({', '.join(detail)})" if detail else " (case-sensitive)"
        return f"{self.operand.text()} {how} {quote(self.pattern)}{suffix}"

    def code(self, var: str) -> str:
        operand = self.operand.code(var)
        if self.method == "contains":
            return f"{operand}.str.contains({quote(self.pattern)}, case={self.case}, regex={self.regex}, na=False)"
        if not self.case:
            return f"{operand}.str.lower().str.{self.method}({quote(self.pattern.lower())}, na=False)"
        return f"{operand}.str.{self.method}({quote(self.pattern)}, na=False)"

    def columns(self) -> set[Any]:
        return self.operand.columns()


@dataclass(frozen=True)
class AllOf(Cond):
    parts: tuple  # Conds

    def text(self) -> str:
        return " and ".join(f"({p.text()})" for p in self.parts)

    def code(self, var: str) -> str:
        return "(" + " & ".join(p.code(var) for p in self.parts) + ")"

    def columns(self) -> set[Any]:
        return set().union(*(p.columns() for p in self.parts))


@dataclass(frozen=True)
class AnyOf(Cond):
    parts: tuple

    def text(self) -> str:
        return " or ".join(f"({p.text()})" for p in self.parts)

    def code(self, var: str) -> str:
        return "(" + " | ".join(p.code(var) for p in self.parts) + ")"

    def columns(self) -> set[Any]:
        return set().union(*(p.columns() for p in self.parts))


@dataclass(frozen=True)
class Not(Cond):
    part: Cond

    def text(self) -> str:
        return f"not ({self.part.text()})"

    def code(self, var: str) -> str:
        return f"(~{self.part.code(var)})"

    def columns(self) -> set[Any]:
        return self.part.columns()


@dataclass(frozen=True)
class Flag(Expr):
    """A column of True and False: whether each row meets a condition (`df["age"] > 17` as a value)."""

    cond: Cond

    def text(self) -> str:
        return f"whether {self.cond.text()} (True or False)"

    def code(self, var: str) -> str:
        return self.cond.code(var)

    def columns(self) -> set[Any]:
        return self.cond.columns()
