"""The projects table: sortable (``o`` / ``O`` or click a header), filterable, keyed by project root.

Rows are keyed by root, and the cursor follows its project when rows reorder.
A sample that changes no order only updates the cells that changed; the table
is rebuilt only when the visible set or its order changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from ..projects import COLUMNS, next_column, project_cells, visible_projects

__all__ = ["ProjectsTable"]


class ProjectsTable(DataTable[str]):
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort"),
        Binding("O", "reverse_sort", "Reverse", show=False),
    ]

    sort_column = reactive("name", init=False)
    sort_reverse = reactive(False, init=False)
    filter_text = reactive("", init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._records: list[Mapping[str, Any]] = []
        self._now = 0.0
        self._total: float | None = None
        self._progress: Mapping[str, Mapping[str, Any]] = {}
        self._order: list[str] = []
        self._cells: dict[str, tuple[str, ...]] = {}
        self.rebuilds = 0  # how often the rows were rebuilt (tests check updates stay in place)

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.label, key=column.key)
        self._update_title()

    @property
    def selected_root(self) -> str | None:
        """The root of the project under the cursor (the identity actions capture)."""
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def selected_record(self) -> Mapping[str, Any] | None:
        root = self.selected_root
        return next((r for r in self._records if r.get("root") == root), None)

    def show_projects(
        self,
        records: Sequence[Mapping[str, Any]],
        now: float,
        total_bytes: float | None,
        progress: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._records = list(records)
        self._now = now
        self._total = total_bytes
        self._progress = progress or {}
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        visible = visible_projects(self._records, self.filter_text, self.sort_column, self.sort_reverse)
        order = [str(r.get("root")) for r in visible]
        cells = {
            root: project_cells(r, self._now, self._total, self._progress.get(root))
            for root, r in zip(order, visible, strict=True)
        }
        if order != self._order:
            self._rebuild(order, cells)
        else:
            for root in order:
                old, new = self._cells.get(root), cells[root]
                if old == new:
                    continue
                for column, before, after in zip(COLUMNS, old or (), new, strict=False):
                    if before != after:
                        # Re-measuring the column means a layout pass; only a longer value needs it.
                        self.update_cell(root, column.key, after, update_width=len(after) > len(before))
        self._cells = cells

    def _rebuild(self, order: list[str], cells: Mapping[str, tuple[str, ...]]) -> None:
        keep = self.selected_root
        self.rebuilds += 1
        self.clear()
        for root in order:
            self.add_row(*cells[root], key=root)
        self._order = order
        if keep in order:
            self.move_cursor(row=order.index(keep), animate=False)

    def _update_title(self) -> None:
        label = next(c.label for c in COLUMNS if c.key == self.sort_column)
        title = f"projects · sort {label.lower()} {'▼' if self.sort_reverse else '▲'}"
        if self.filter_text:
            title += f" · filter “{self.filter_text}”"
        self.border_title = title

    def _watch_sort_column(self) -> None:
        self._update_title()
        self._refresh_rows()

    def _watch_sort_reverse(self) -> None:
        self._update_title()
        self._refresh_rows()

    def _watch_filter_text(self) -> None:
        self._update_title()
        self._refresh_rows()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = str(event.column_key.value)
        if key == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self._sort_by(key)

    def _sort_by(self, key: str) -> None:
        """A new sort column starts ascending."""
        self.set_reactive(ProjectsTable.sort_reverse, False)
        self.sort_column = key

    def action_cycle_sort(self) -> None:
        self._sort_by(next_column(self.sort_column))

    def action_reverse_sort(self) -> None:
        self.sort_reverse = not self.sort_reverse

    def move_to_root(self, root: str) -> bool:
        try:
            self.move_cursor(row=self.get_row_index(root), animate=False)
        except RowDoesNotExist:
            return False
        return True
