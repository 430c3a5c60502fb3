"""Visualization tasks from chart cells: "draw a bar chart of the mean `price` per `region`".

A code cell that shows an image is a chart candidate when its plot call draws a Series whose code
the spec reader can state (`df.groupby('region')['price'].mean().plot(kind='bar')`, also
`.plot.bar()`, `.plot.barh()`, `.plot()` for a line), followed at most by decorations (`plt.title`,
`plt.show()`...). The task names every step, the chart and what to read off it; its answers are
checkable values of the plotted data: the number of bars (or points), the label of the tallest one
and its value.

An image shows no numbers, so the label cannot be read from the stored output as other labels
are. It is set by `verify` (sandbox/step.py), in three runs that must agree: the reference
program written from the spec prints it; the notebook's own chart cells re-run and show a chart;
and those cells re-run once more with a probe after the plot call, which reads the plotted data
off matplotlib's artists (bar heights, line points) and must hold the same count and the same
largest value. A chart whose plotted data differ from what the text asks is dropped
(`chart_data_mismatch`). Such a task needs a re-run: a notebook that cannot re-run gives none.
"""

from __future__ import annotations

import ast
import json
import math
from dataclasses import dataclass
from typing import Any

from nbqa_builder.answers import parse_answers
from nbqa_builder.extract import spec as S
from nbqa_builder.extract import statistics as T
from nbqa_builder.extract.concepts import VISUALIZATION
from nbqa_builder.notebooks.code import parse_python

# plot kind -> (chart words, what one entry is, which entry is asked for)
CHART_KINDS = {
    "bar": ("bar chart", "bar", "tallest"),
    "barh": ("horizontal bar chart", "bar", "longest"),
    "line": ("line chart", "point", "highest"),
    "hist": ("histogram", "bin", "tallest"),
    "scatter": ("scatter plot", "point", "highest"),
}
# keywords of a scatter plot that change how its points look (size, colour), never where they are
SCATTER_LOOKS = frozenset({"s", "c", "cmap", "colorbar", "sharex", "edgecolors", "linewidths"})
HIST_BINS = 10  # pandas' default for Series.hist() and Series.plot.hist()
# keywords of a plot call that change how the chart looks, never which data it draws
LOOK_KEYWORDS = frozenset({"figsize", "title", "color", "rot", "legend", "grid", "xlabel", "ylabel", "fontsize",
                           "alpha", "width", "edgecolor", "linewidth", "marker", "style", "ax", "label", "colormap"})
# statements after the plot call that only decorate the chart
DECORATIONS = frozenset({"show", "title", "xlabel", "ylabel", "tight_layout", "xticks", "yticks", "legend", "grid",
                         "suptitle", "set_title", "set_xlabel", "set_ylabel", "savefig", "subplots_adjust",
                         "get_figure", "set_size_inches", "set_figwidth", "set_figheight", "xlim", "ylim",
                         "set_xlim", "set_ylim"})
PROBE_MARK = "@@plotted "


@dataclass(frozen=True)
class ChartCall:
    series: ast.expr  # what is plotted
    kind: str  # a key of CHART_KINDS
    statement: int  # the plot call's statement in the cell
    bins: int = HIST_BINS  # a histogram's number of equal-width bins
    # a scatter plot: its horizontal values (`plt.scatter(xs, ys)`), or the columns it draws of
    # the frame in `series` (`df.plot.scatter(x="a", y="b")`)
    x: ast.expr | None = None
    columns: tuple[str, str] | None = None


def chart_call(tree: ast.Module | None) -> ChartCall | None:
    """The cell's plot call, when it is its last statement but for decorations."""
    if tree is None:
        return None
    position = len(tree.body) - 1
    while position >= 0 and _decoration(tree.body[position]):
        position -= 1
    if position < 0:
        return None
    statement = tree.body[position]
    call = statement.value if isinstance(statement, (ast.Expr, ast.Assign)) else None
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
        return None
    keywords = {k.arg: k.value for k in call.keywords}
    if call.func.attr == "scatter" or _kind(call, keywords) == "scatter":
        return _scatter_call(call, keywords, position)
    if None in keywords or set(keywords) - LOOK_KEYWORDS - {"kind", "bins"}:
        return None  # `**options`, or a keyword that chooses the data (`x=`, `y=`, `stacked=`, `logy=`...)
    func = call.func
    if func.attr == "plot":  # series.plot(kind=...), a line by default
        kind_node = keywords.get("kind", call.args[0] if call.args else None)
        if call.args[1:] or (call.args and "kind" in keywords):
            return None
        kind = "line" if kind_node is None else kind_node.value if isinstance(kind_node, ast.Constant) else None
        series = func.value
    elif isinstance(func.value, ast.Attribute) and func.value.attr == "plot" and not call.args and "kind" not in keywords:
        kind, series = func.attr, func.value.value  # series.plot.bar()
    elif func.attr == "hist" and not call.args and "kind" not in keywords:
        kind, series = "hist", func.value  # series.hist(bins=20)
    else:
        return None
    bins = keywords.get("bins", ast.Constant(HIST_BINS))
    if "bins" in keywords and kind != "hist":
        return None
    if not (isinstance(bins, ast.Constant) and type(bins.value) is int and 1 < bins.value <= 1000):
        return None  # bin edges given as a list, or computed: not stated here
    return ChartCall(series, kind, position, bins.value) if kind in CHART_KINDS else None


def _kind(call: ast.Call, keywords: dict) -> str | None:
    """The kind a `df.plot(kind=...)` or `df.plot.<kind>()` call names."""
    func = call.func
    if func.attr == "plot":
        node = keywords.get("kind", call.args[0] if call.args else None)
        return node.value if isinstance(node, ast.Constant) else None
    if isinstance(func.value, ast.Attribute) and func.value.attr == "plot":
        return func.attr
    return None


def _scatter_call(call: ast.Call, keywords: dict, position: int) -> ChartCall | None:
    """`df.plot(kind="scatter", x="a", y="b")`, `df.plot.scatter(x="a", y="b")`, or
    `plt.scatter(xs, ys)` (`ax.scatter` too), with keywords that only dress the points."""
    looks = LOOK_KEYWORDS | SCATTER_LOOKS
    if None in keywords:
        return None
    func = call.func
    if func.attr == "scatter" and not (isinstance(func.value, ast.Attribute) and func.value.attr == "plot"):
        if len(call.args) != 2 or set(keywords) - looks:
            return None
        return ChartCall(call.args[1], "scatter", position, x=call.args[0])
    if set(keywords) - looks - {"kind", "x", "y"}:
        return None
    x, y = keywords.get("x"), keywords.get("y")
    positional = call.args[1:] if func.attr == "plot" and "kind" not in keywords else call.args
    if positional or not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in (x, y)):
        return None
    frame = func.value if func.attr == "plot" else func.value.value
    return ChartCall(frame, "scatter", position, columns=(x.value, y.value))


def _decoration(statement: ast.stmt) -> bool:
    """`plt.title(...)`, `plt.show()`, and `fig = ax.get_figure()`: statements that only dress the
    chart."""
    call = statement.value if isinstance(statement, (ast.Expr, ast.Assign)) else None
    if isinstance(statement, ast.Assign) and not (len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)):
        return False
    return isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in DECORATIONS


def plotted_tree(tree: ast.Module, plotted: ast.expr, statement: int) -> ast.Module:
    """The cell with its plot call (its `statement`) replaced by what it plots as its result (what
    the spec reader reads), its nodes where they were (data reads are found by their place)."""
    shown = ast.Expr(plotted)
    ast.copy_location(shown, tree.body[statement])
    return ast.Module(body=tree.body[:statement] + [shown], type_ignores=[])


def chart_kind_name(kind: str) -> str:
    """The task's `question_kind`: `bar_chart`, `barh_chart`, `line_chart`."""
    return f"{kind}_chart"


def plot_kind(question_kind: str | None) -> str | None:
    """The plot kind of a chart task's `question_kind`; None for another task."""
    kind = (question_kind or "").removesuffix("_chart")
    return kind if kind in CHART_KINDS and question_kind != kind else None


def answer_names(kind: str) -> tuple[str, str, str]:
    if kind == "hist":
        return "value_count", "tallest_bin_count", "tallest_bin_start"
    if kind == "scatter":
        return "point_count", "highest_point_x", "highest_point_y"
    _, unit, top = CHART_KINDS[kind]
    return f"{unit}_count", f"{top}_{unit}", f"{top}_value"


def chart_text(stat: T.Statistic, frame: S.Frame, kind: str, bins: int = HIST_BINS) -> tuple[str, str, str]:
    """(task, constraints, format) of the chart task."""
    words, unit, top = CHART_KINDS[kind]
    files = " and ".join(S.column(name) for name in frame.files())
    steps = frame.steps()
    lead = (f"Using {files}: " + " ".join(f"{step}." for step in steps) + " Then draw") if steps else f"Using {files}, draw"
    count, top_name, top_value = answer_names(kind)
    notes = ["Read each file with pandas' default settings unless a step says otherwise."]
    if steps:
        notes.append("Apply the steps in the order given.")
    notes += stat.notes()
    if kind == "hist":
        task = (f"{lead} a histogram of {stat.of.text()} with {bins} equal-width bins spanning its smallest to its "
                f"largest value (missing values left out). How many values does it count, how many fall in its "
                f"tallest bin, and where does that bin start?")
        notes.append("The bins are those of numpy.histogram(values, bins) (what pandas' hist() draws): each bin holds "
                     "its left edge, the last one its right edge too.")
        rule = (f"@{count}[value] @{top_name}[value] @{top_value}[value] where {count} and {top_name} are integers "
                f"and {top_value} is the bin's left edge rounded to 2 decimal places.")
        return task, " ".join(dict.fromkeys(notes)), rule
    if kind == "scatter":
        task = (f"{lead} a scatter plot of {stat.y.text()} (vertical) against {stat.x.text()} (horizontal), one point "
                f"per row where both are present. How many points does it draw, and what are the horizontal and "
                f"vertical values of its highest point?")
        rule = (f"@{count}[value] @{top_name}[value] @{top_value}[value] where {count} is an integer and the "
                f"others are rounded to 2 decimal places.")
        return task, " ".join(dict.fromkeys(notes)), rule
    drawn = (f"{stat.text()}, one {unit} per value" if isinstance(stat, T.GroupAll)
             else f"{stat.text()}, one {unit} per row, labelled by the row labels")
    task = (f"{lead} a {words} of {drawn}. How many {unit}s does the chart have, "
            f"which {unit} is the {top} (its label), and what is its value?")
    rule = (f"@{count}[value] @{top_name}[value] @{top_value}[value] where {count} is an integer, {top_name} is "
            f"the {unit}'s label as pandas prints it, and {top_value} is rounded to 2 decimal places.")
    return task, " ".join(dict.fromkeys(notes)), rule


def chart_program(stat: T.Statistic, kind: str, bins: int = HIST_BINS) -> str:
    """The reference program: the plotted Series from the spec, and the answers it gives. A Series
    with a missing value or a tie for the largest has no one answer: the program fails."""
    count, top_name, top_value = answer_names(kind)
    body = T.program(stat, ["{value}"]).rsplit("print(", 1)[0]  # the frames and `value`, without its print
    if kind == "hist":
        return body + "\n".join([
            "values = value.dropna()",
            f"counts, edges = np.histogram(values, bins={bins})",
            f"assert (counts == counts.max()).sum() == 1, {T.TIE_MESSAGE!r}",
            "top = int(counts.argmax())",
            f"print(f'@{count}[{{len(values)}}] @{top_name}[{{int(counts[top])}}] "
            f"@{top_value}[{{round(float(edges[top]), 2)}}]')",
        ]) + "\n"
    if kind == "scatter":
        return body + "\n".join([
            "points = value.dropna()",
            f"assert (points['y'] == points['y'].max()).sum() == 1, {T.TIE_MESSAGE!r}",
            "top = points['y'].idxmax()",
            f"print(f'@{count}[{{len(points)}}] @{top_name}[{{round(float(points.loc[top, \"x\"]), 2)}}] "
            f"@{top_value}[{{round(float(points.loc[top, \"y\"]), 2)}}]')",
        ]) + "\n"
    return body + "\n".join([
        "assert value.notna().all(), 'a missing value is drawn as no bar'",
        f"assert (value == value.max()).sum() == 1, {T.TIE_MESSAGE!r}",
        f"print(f'@{count}[{{len(value)}}] @{top_name}[{{value.idxmax()}}] @{top_value}[{{round(float(value.max()), 2)}}]')",
    ]) + "\n"


def chart_concepts() -> list[str]:
    return [VISUALIZATION]


def stored_image(outputs: list[dict[str, Any]]) -> str | None:
    """The chart the notebook stored (base64 PNG), kept with the task."""
    for output in outputs:
        data = output.get("data") or {}
        image = data.get("image/png")
        if image:
            return "".join(image) if isinstance(image, list) else image
    return None


# -- what verify runs -------------------------------------------------------------------------------


def probe_source(cell_source: str, kind: str) -> str | None:
    """The chart cell with a probe right after its plot call (before `plt.show()` closes the
    figure), printing the plotted data: the bars' heights (widths, for horizontal bars) or the
    line's points. None when the cell does not parse as it did at extraction."""
    try:
        tree = parse_python(cell_source)
    except SyntaxError:
        return None
    call = chart_call(tree)
    if call is None or call.kind != kind:
        return None
    lines = cell_source.splitlines()
    end = tree.body[call.statement].end_lineno or len(lines)
    measure = {"bar": "patch.get_height()", "barh": "patch.get_width()"}.get(kind)  # None: a line
    if kind == "scatter":  # each point's horizontal, then vertical value
        collect = ("    _probe_values += [float(v) for _probe_points in _probe_axes.collections "
                   "for xy in _probe_points.get_offsets() for v in xy]")
    elif kind == "hist":  # each bar's left edge, then its height
        collect = ("    _probe_values += [float(v) for patch in _probe_axes.patches "
                   "for v in (patch.get_x(), patch.get_height())]")
    elif measure:
        collect = f"    _probe_values += [float({measure}) for patch in _probe_axes.patches]"
    else:
        collect = "    _probe_values += [float(y) for line in _probe_axes.get_lines() for y in line.get_ydata()]"
    probe = [
        "import json as _probe_json, matplotlib.pyplot as _probe_plt",
        "_probe_values = []",
        "for _probe_axes in _probe_plt.gcf().axes:",
        collect,
        f"print({PROBE_MARK!r} + _probe_json.dumps(_probe_values))",
    ]
    return "\n".join(lines[:end] + probe) + "\n"


def plotted_values(outputs: list[dict[str, Any]]) -> list[float] | None:
    for output in outputs:
        if output.get("output_type") == "stream":
            text = output.get("text") or ""
            text = "".join(text) if isinstance(text, list) else text
            for line in text.splitlines():
                if line.startswith(PROBE_MARK):
                    try:
                        return [float(v) for v in json.loads(line[len(PROBE_MARK):])]
                    except (ValueError, TypeError):
                        return None
    return None


def chart_answers(printed: str, kind: str) -> list[tuple[str, str]] | None:
    """The reference program's answers, when they are the three the format names."""
    answers = parse_answers(printed)
    return answers if [name for name, _ in answers] == list(answer_names(kind)) else None


def plotted_agrees(values: list[float] | None, answers: list[tuple[str, str]], kind: str = "bar") -> bool:
    """Whether the chart drew as many bars (points) as the answer counts, the largest at its value;
    a histogram: bars that count that many values, the tallest that high, starting there."""
    if not values or (kind != "scatter" and any(math.isnan(v) for v in values)):
        return False
    count, middle, top = (value for _, value in answers)
    try:
        if kind == "scatter":  # (points a missing value hides are not drawn)
            points = [(x, y) for x, y in zip(values[0::2], values[1::2]) if math.isfinite(x) and math.isfinite(y)]
            highest = max(points, key=lambda point: point[1])
            return (len(points) == int(count) and abs(round(highest[0], 2) - float(middle)) <= 1e-6
                    and abs(round(highest[1], 2) - float(top)) <= 1e-6)
        if kind == "hist":
            starts, heights = values[0::2], values[1::2]
            tallest = heights.index(max(heights))
            return (len(starts) == len(heights) and round(sum(heights)) == int(count) and max(heights) == int(middle)
                    and abs(round(starts[tallest], 2) - float(top)) <= 1e-6)
        return len(values) == int(count) and abs(round(max(values), 2) - float(top)) <= 1e-6
    except ValueError:
        return False
