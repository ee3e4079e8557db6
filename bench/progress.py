"""How a measurement run reports its progress: rich bars for people, JSON lines for machines, or nothing.

All three implement `bench.measure.RunProgress`. Step progress is counted in the
station clock's (scaled) seconds against a rough expected duration, so the ETA that
rich derives from the real rate is right at any clock speed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

STATUS_STYLE = {"complete": "green", "failed": "red", "aborted": "yellow"}


class QuietProgress:
    """Reports nothing while running; `bench measure --quiet`."""

    def run_started(self, n_cells: int, profile_name: str, out_path: Path) -> None: ...

    def cell_started(self, index: int, cell: Any, n_steps: int) -> None: ...

    def step_started(self, step_name: str, kind: str, expected_s: float) -> None: ...

    def step_advanced(self, elapsed_s: float) -> None: ...

    def step_finished(self, step_name: str) -> None: ...

    def cell_finished(self, cell: Any, status: str, reason: str) -> None: ...

    def run_finished(self, result: Any) -> None: ...


class JsonLinesProgress(QuietProgress):
    """One JSON object per event on a stream, for automation (`bench measure --jsonl`)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._last_emit_s = 0.0

    def _emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, "utc": time.time(), **fields}) + "\n")
        self.stream.flush()

    def run_started(self, n_cells: int, profile_name: str, out_path: Path) -> None:
        self._emit("run_started", cells=n_cells, profile=profile_name, out=str(out_path))

    def cell_started(self, index: int, cell: Any, n_steps: int) -> None:
        self._emit("cell_started", index=index, slot=cell.slot, cell_id=cell.cell_id, steps=n_steps)

    def step_started(self, step_name: str, kind: str, expected_s: float) -> None:
        self._emit("step_started", step=step_name, kind=kind, expected_s=round(expected_s, 3))

    def step_advanced(self, elapsed_s: float) -> None:
        now = time.monotonic()
        if now - self._last_emit_s >= 1.0:  # at most one progress line a second
            self._last_emit_s = now
            self._emit("step_progress", elapsed_s=round(elapsed_s, 3))

    def step_finished(self, step_name: str) -> None:
        self._emit("step_finished", step=step_name)

    def cell_finished(self, cell: Any, status: str, reason: str) -> None:
        self._emit("cell_finished", slot=cell.slot, cell_id=cell.cell_id, status=status, reason=reason)

    def run_finished(self, result: Any) -> None:
        self._emit("run_finished", out=str(result.out_path), stopped_by=result.stopped_by)


class RichProgress(QuietProgress):
    """Two bars, cells and the current step, each with its ETA; a line per finished cell."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._cells_task: Any = None
        self._step_task: Any = None
        self._step_total_s = 1.0

    def run_started(self, n_cells: int, profile_name: str, out_path: Path) -> None:
        self.console.print(f"measuring {n_cells} cell(s) with profile [bold]{profile_name}[/] into {out_path}")
        self._progress.start()
        self._cells_task = self._progress.add_task("cells", total=n_cells)

    def cell_started(self, index: int, cell: Any, n_steps: int) -> None:
        self._progress.update(self._cells_task, description=f"cell {index + 1}: {cell.cell_id}")

    def step_started(self, step_name: str, kind: str, expected_s: float) -> None:
        if self._step_task is not None:
            self._progress.remove_task(self._step_task)
        self._step_total_s = max(expected_s, 1e-6)
        self._step_task = self._progress.add_task(f"  {step_name}", total=self._step_total_s)

    def step_advanced(self, elapsed_s: float) -> None:
        if self._step_task is not None:
            self._progress.update(self._step_task, completed=min(elapsed_s, self._step_total_s))

    def step_finished(self, step_name: str) -> None:
        if self._step_task is not None:
            self._progress.remove_task(self._step_task)
            self._step_task = None

    def cell_finished(self, cell: Any, status: str, reason: str) -> None:
        self.step_finished("")
        self._progress.advance(self._cells_task)
        style = STATUS_STYLE.get(status, "white")
        detail = f": {reason}" if reason else ""
        self.console.print(f"  slot {cell.slot:>3}  {cell.cell_id}  [{style}]{status}[/]{detail}", highlight=False)

    def run_finished(self, result: Any) -> None:
        self._progress.stop()
