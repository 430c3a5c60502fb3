"""The task spec: a frame's preparation, step by step, as data that renders two ways.

A heuristic task is built from a spec (extract/interpret.py reads it off the notebook's code), and
the spec is rendered twice: as English for the task text (`text()`), and as a short pandas
*reference program* (`code()`), written from the spec and never copied from the notebook. Both
renderings of every node live side by side, so they cannot drift apart; `verify` runs the
program on the task's files alone and checks that it prints the label.

The nodes live by family, one module each; this package names them all (`S.Col`, `S.Compare`,
`S.FilterRows`):
- base.py: what every node renders with (`quote`, `column`, `columns_text`, `Namer`);
- columns.py: column expressions, values per row (`Col`, `Lit`, `ListLit`, `Arith`, `Neg`, `Apply`,
  `StatRef`);
- conditions.py: conditions on the rows (`Compare`, `IsIn`, `IsNull`, `Between`, `StrTest`, `AllOf`,
  `AnyOf`, `Not`), and `Flag`, a condition as a column of True and False;
- operations.py: operations on a frame (`FilterRows`, `DropNA`, `FillNA`, `DropDuplicates`,
  `SetColumn`, `Rename`, `SetColumns`, `SelectColumns`, `SelectRows`, `SelectColumnRange`,
  `DropColumns`, `SortRows`, `HeadRows`, `SetIndex`, `SetIndexTo`, `CombineDates`, `NameIndex`,
  `ResetIndex`, `Merge`, `Concat`, and `OpaqueColumn`, a step no text can state);
- frames.py: the file a frame starts from (`ReadFile`), and the `Frame`: operations applied in order
  to a `ReadFile`.
Statistics (what a question asks) are in extract/statistics/.
"""

from nbqa_builder.extract.spec.base import Namer, column, columns_text, quote  # noqa: F401 - the spec, one namespace
from nbqa_builder.extract.spec.columns import (  # noqa: F401
    ARITHMETIC, FUNCTIONS, Apply, Arith, Col, Expr, ListLit, Lit, Neg, StatRef,
)
from nbqa_builder.extract.spec.conditions import (  # noqa: F401
    COMPARISONS, STRING_TESTS, AllOf, AnyOf, Between, Compare, Cond, Flag, IsIn, IsNull, Not, StrTest,
)
from nbqa_builder.extract.spec.frames import (  # noqa: F401
    READ_DEFAULTS, READ_OPTIONS, READER_DEFAULTS, READERS, Frame, ReadFile, is_default,
)
from nbqa_builder.extract.spec.operations import (  # noqa: F401
    ALL, MERGE_HOW, CombineDates, Concat, DropColumns, DropDuplicates, DropNA, FillNA, FilterRows, HeadRows, Merge,
    NameIndex, Op, OpaqueColumn, Rename, ResetIndex, SelectColumnRange, SelectColumns, SelectRows, SetColumn,
    SetColumns, SetIndex, SetIndexTo, SortRows, opaque_step,
)
