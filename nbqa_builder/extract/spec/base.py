"""What every task-spec node renders with: constants quoted as Python literals, column names in
backticks, and the variable names of a reference program's frames (see extract/spec/__init__.py)."""

from __future__ import annotations

from typing import Any


def quote(value: Any) -> str:
    """A constant as the text and the program both write it (a Python literal)."""
    return repr(value)


def column(name: Any) -> str:
    return f"`{name}`"


def columns_text(names: tuple) -> str:
    quoted = [column(n) for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


class Namer:
    """Variable names for the frames of a reference program: df, df2, df3..."""

    def __init__(self) -> None:
        self.count = 0

    def next(self) -> str:
        self.count += 1
        return "df" if self.count == 1 else f"df{self.count}"
