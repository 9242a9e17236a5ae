"""One labelled plot: a title, the current value (and limit), a Sparkline of the history, min and max."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from ..format import DASH

__all__ = ["Plot"]

Formatter = Callable[[float], str]


class Plot(Vertical):
    """Updated in place by ``show()``; nothing is re-created per sample."""

    def __init__(self, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = title
        self._value = Static(DASH, classes="plot-value", markup=False)
        self._spark = Sparkline([], classes="plot-spark")
        self._label = DASH

    def compose(self) -> ComposeResult:
        yield self._value
        yield self._spark

    def show(
        self,
        values: Sequence[float],
        fmt: Formatter,
        *,
        title: str | None = None,
        limit: str | None = None,
        note: str | None = None,
        range_fmt: Formatter | None = None,
        unit: str = "",
    ) -> None:
        """Draw ``values`` (oldest first); the label shows the last one, ``limit`` and ``note``.

        The subtitle shows min and max with ``range_fmt`` (default ``fmt``) followed by ``unit``,
        so a narrow plot can print the unit once.
        """
        if title is not None and title != self.border_title:
            self.border_title = title
        if values:
            current = fmt(values[-1])
            label = f"{current} / {limit}" if limit else current
            if note:
                label += f"  {note}"
            span = range_fmt or fmt
            subtitle = f"min {span(min(values))} · max {span(max(values))}{unit}"
        else:
            label, subtitle = "no data", ""
        if label != self._label:
            self._label = label
            self._value.update(label, layout=False)  # fixed size: repaint only
        if subtitle != self.border_subtitle:
            self.border_subtitle = subtitle
        self._spark.data = list(values)  # a reactive: an equal list does not repaint
