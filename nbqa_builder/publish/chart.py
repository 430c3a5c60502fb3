"""The card's picture: the funnel (notebooks left after each step) and tasks by concept.

matplotlib is in the `hub` extra; without it the card is written without the picture.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

CHART_NAME = "funnel.png"


def _import_pyplot() -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401 - imported ahead, which is the point
    except ImportError:
        pass


class ChartDrawer:
    """Draws the chart in a process of its own, started ahead: importing matplotlib takes most of
    a second, which the writer meanwhile spends on the shards, on another core.

        with ChartDrawer(ahead=True) as drawer:
            ...
            drawn = drawer.start(stats, path)  # drawing, while the caller writes other files
            ...
            if drawn(): ...  # waits for the PNG; False when matplotlib is not installed

    With `ahead=False` it draws in this process: a run on one worker starts no process at all, so
    the script that runs it need not guard its code with `if __name__ == "__main__"` (a spawned
    process imports the main script again).
    """

    def __init__(self, ahead: bool) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self.ahead = ahead

    def __enter__(self) -> "ChartDrawer":
        if self.ahead:
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_import_pyplot)
            self._pool.submit(int)  # the pool starts its process for the first task
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            # the drawing is done (its result was waited for): the process exits on its own
            self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self, stats: dict[str, Any], path: Path) -> Callable[[], bool]:
        """Begin `write_funnel_chart` in the drawing process (here, without one or if it died);
        the function returned waits for it and returns its result."""
        if self._pool is not None:
            try:
                future = self._pool.submit(write_funnel_chart, stats, path)
            except BrokenProcessPool:
                future = None
            if future is not None:
                def result() -> bool:
                    try:
                        return future.result()
                    except BrokenProcessPool:
                        return write_funnel_chart(stats, path)

                return result
        drawn = write_funnel_chart(stats, path)
        return lambda: drawn


def write_funnel_chart(stats: dict[str, Any], path: Path) -> bool:
    """Write the PNG; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on build machines
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    steps = stats["steps"]
    concepts = stats["tasks"]["concepts"]
    figure, (funnel_axes, concept_axes) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    names = [s["step"] for s in steps]
    funnel_axes.barh(names, [s["out"] for s in steps], color="#4c72b0")
    funnel_axes.invert_yaxis()
    funnel_axes.set_title(f"Notebooks left after each step (of {stats['notebooks']['input']})")
    funnel_axes.set_xlabel("notebooks")
    for y, step in enumerate(steps):
        funnel_axes.annotate(str(step["out"]), (step["out"], y), xytext=(3, 0), textcoords="offset points", va="center")
    if concepts:
        concept_axes.barh(list(concepts), list(concepts.values()), color="#55a868")
        concept_axes.invert_yaxis()
    else:
        concept_axes.text(0.5, 0.5, "no tasks", ha="center", va="center", transform=concept_axes.transAxes)
    concept_axes.set_title(f"Tasks by concept ({stats['tasks']['written']} tasks)")
    concept_axes.set_xlabel("tasks")
    figure.tight_layout()
    # no timestamps in the PNG, so an unchanged dataset gives an unchanged file (and no re-upload)
    figure.savefig(path, format="png", metadata={"Software": None})
    plt.close(figure)
    return True
