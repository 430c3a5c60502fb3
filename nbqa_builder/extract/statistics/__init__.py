"""What a heuristic task asks: a statistic of a prepared frame, rendered as a noun phrase for the
question and as a pandas expression for the reference program (see extract/spec/).

Every statistic knows its frames (`frames()`), the columns it reads (`columns()`, for pruning the
preparation), a short answer name, its kind (counted in stats.json), and the notes that pin its
method down for a solver (`notes()`: sample or population deviation, ties, missing values).
Statistics whose answer is a label (`MostCommon`, `ArgExtreme`, `GroupArgExtreme` ...) refuse ties
in the reference program: a question with two right answers is not a question. A statistic of a
table or a long Series a cell shows (extract/tables.py) renders the value its answers are *picked*
out of; extract/tables.py pairs it with its picks.

Every statistic, by family; this package names them all (`T.Agg`, `T.GroupAll`, `T.program`):

  module       family                          statistics
  base.py      what every statistic shares     Statistic, answer_name, AGGREGATIONS, program (the
                                               reference program of any statistic)
  columns.py   a column's values               Agg, AggMany, Describe, TextSummary, Corr, MostCommon,
                                               ArgExtreme, RowValues, TopValues, IndexUnique, IndexExtreme
  counts.py    rows and values counted         RowCount, MissingCount, CountWhere, ShareWhere, ValueCount,
                                               ValueCounts, ValueShares
  groups.py    grouped rows                    GroupArgExtreme, GroupValue, GroupAll, GroupRow (TimeBins:
                                               rows grouped by period)
  tables.py    the whole table                 ColumnCount, Shape, NonNullCounts, MissingPerColumn,
                                               FrameNunique, FrameAgg, TableTotal, StrongestCorrelation,
                                               CellValue, Cells
  entries.py   the entries of a shown Series   EntryExtreme, EntriesWhere
  combined.py  statistics built from others    Combine, Round, DaySpan
  charts.py    what a chart draws              Plotted, PlottedPairs
"""

from nbqa_builder.extract.statistics.base import (  # noqa: F401 - the statistics, one namespace
    AGGREGATIONS, COUNTS_NOTE, DEVIATIONS, MISSING_NOTE, TIE_HELPER, TIE_MESSAGE, Statistic, VarOf, answer_name,
    plain_name, program,
)
from nbqa_builder.extract.statistics.charts import Plotted, PlottedPairs  # noqa: F401
from nbqa_builder.extract.statistics.columns import (  # noqa: F401
    DESCRIBE_KEYS, TEXT_SUMMARY_HELPER, Agg, AggMany, ArgExtreme, Corr, Describe, IndexExtreme, IndexUnique, MostCommon,
    RowValues, TextSummary, TopValues,
)
from nbqa_builder.extract.statistics.combined import Combine, DaySpan, Round  # noqa: F401
from nbqa_builder.extract.statistics.counts import (  # noqa: F401
    CountWhere, MissingCount, RowCount, ShareWhere, ValueCount, ValueCounts, ValueShares,
)
from nbqa_builder.extract.statistics.entries import (  # noqa: F401
    OP_WORDS, EntriesWhere, EntryExtreme, label_phrase, value_phrase,
)
from nbqa_builder.extract.statistics.groups import (  # noqa: F401
    FREQUENCIES, GROUP_METHODS, GroupAll, GroupArgExtreme, GroupRow, GroupValue, TimeBins, group_phrase,
)
from nbqa_builder.extract.statistics.tables import (  # noqa: F401
    FRAME_AGGREGATIONS, PAIR_HELPER, Cells, CellValue, ColumnCount, FrameAgg, FrameNunique, MissingPerColumn,
    NonNullCounts, Shape, StrongestCorrelation, TableTotal,
)
