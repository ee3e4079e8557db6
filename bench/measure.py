"""One `bench measure` run: a profile on several cells of one station, into one HDF5 file.

This is the only code path that measures: `bench measure` and `bench demo` both call
`measure_cells`. It connects each cell through the station's switch, opens a record,
runs the profile's steps (`bench.runner`) and closes the record with its outcome.

Outcomes, and what the run does next:

| what happened                                   | record status | run          |
|-------------------------------------------------|---------------|--------------|
| all steps done                                  | complete      | next cell    |
| safety breach, open lead, reversed cell         | failed        | next cell    |
| instrument error or lost connection             | aborted       | stops        |
| SIGINT / SIGTERM                                | aborted       | stops        |

In every row the source output is off before the record is closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import bench
from bench.interrupts import Interrupted, StopRequest
from bench.runner import CellContext, SafetyBreach, StepProgress, run_profile_steps
from drivers.protocols import CellReversed, InstrumentError, LeadOpen


@dataclass(frozen=True)
class CellAssignment:
    """A cell as the technician placed it: tray slot (1-based) and the scanned ID."""

    slot: int
    cell_id: str


@dataclass
class CellResult:
    slot: int
    cell_id: str
    status: str
    reason: str = ""


@dataclass
class MeasureResult:
    out_path: Path
    cells: list[CellResult] = field(default_factory=list)
    stopped_by: str = ""  # signal name, or the instrument error that stopped the run
    outputs_confirmed_off: bool = True  # every source confirmed its output off when the station closed

    @property
    def all_complete(self) -> bool:
        return not self.stopped_by and all(c.status == "complete" for c in self.cells)


class RunProgress(StepProgress, Protocol):
    def run_started(self, n_cells: int, profile_name: str, out_path: Path) -> None: ...

    def cell_started(self, index: int, cell: CellAssignment, n_steps: int) -> None: ...

    def cell_finished(self, cell: CellAssignment, status: str, reason: str) -> None: ...

    def run_finished(self, result: MeasureResult) -> None: ...


class MeasureError(Exception):
    """The run cannot start (profile and station do not fit together); one line for the user."""


def check_station_fits_profile(station: Any, profile: Any, n_cells: int) -> None:
    kinds = {step.kind for step in profile.steps}
    needs_source = kinds & {"rest", "pulse", "cc_charge", "cccv_charge", "cc_discharge", "soc_adjust"}
    if needs_source and station.source_meter is None:
        raise MeasureError(f"profile {profile.name!r} needs a source meter; the station file has no 'source_meter' role")
    if kinds & {"ocv", "eis"} and station.impedance_meter is None:
        raise MeasureError(
            f"profile {profile.name!r} needs an impedance meter; the station file has no 'impedance_meter' role"
        )
    if station.source_meter is not None:
        max_a = station.source_meter.max_current_a
        for step in profile.steps:
            current_a = getattr(step, "current_a", 0.0)
            if current_a > max_a:
                raise MeasureError(
                    f"profile {profile.name!r} step {step.name!r} asks for {current_a:g} A but the source meter "
                    f"can give {max_a:g} A: use a profile with a lower current or a larger source"
                )
    if n_cells > 1 and station.switch is None:
        raise MeasureError("several cells need a switch; the station file has no 'switch' role: measure one cell at a time")
    if station.switch is not None:
        for_slots = station.switch.slot_count
        if n_cells > for_slots:
            raise MeasureError(f"{n_cells} cells given but the tray switch has {for_slots} slots")


def measure_cells(
    station: Any,
    profile: Any,
    cells: list[CellAssignment],
    out_path: Path,
    *,
    operator: str,
    progress: RunProgress,
    stop: StopRequest,
) -> MeasureResult:
    """Measure each cell in turn on an open station (`bench.station.open_station`)."""
    from bench.store import RecordMeta, RunStore

    check_station_fits_profile(station, profile, len(cells))
    store = RunStore(out_path)
    result = MeasureResult(out_path=Path(out_path))
    progress.run_started(len(cells), profile.name, Path(out_path))
    for index, cell in enumerate(cells):
        if stop.requested:
            result.stopped_by = stop.signal_name
            break
        progress.cell_started(index, cell, len(profile.steps))
        meta = RecordMeta(
            cell_id=cell.cell_id,
            slot=cell.slot,
            station=station.name,
            operator=operator,
            profile_name=profile.name,
            profile_text=profile.text,
            profile_sha256=profile.sha256,
            cell_type=_cell_type_attrs(profile.cell_type),
            instruments=dict(station.idns),
            software_version=bench.__version__,
        )
        status, reason = "complete", ""
        with store.begin_record(meta) as record:
            try:
                if station.switch is not None:
                    station.switch.connect_slot(cell.slot)
                ctx = CellContext(
                    impedance_meter=station.impedance_meter,
                    source_meter=station.source_meter,
                    thermometer=station.thermometer,
                    clock=station.clock,
                    limits=profile.safety,
                    record=record,
                    stop=stop,
                    progress=progress,
                    cell_type=profile.cell_type,
                )
                run_profile_steps(ctx, profile.steps)
            except (SafetyBreach, LeadOpen, CellReversed) as exc:
                status, reason = "failed", _reason(exc)
            except Interrupted as exc:
                status, reason = "aborted", str(exc)
                result.stopped_by = exc.signal_name
            except InstrumentError as exc:
                status, reason = "aborted", _reason(exc)
                result.stopped_by = reason
            # Leaving the block any other way (a bug, a second Ctrl-C) skips this line: the store marks it aborted.
            record.finish(status, reason=reason)
        result.cells.append(CellResult(cell.slot, cell.cell_id, status, reason))
        progress.cell_finished(cell, status, reason)
        if result.stopped_by:
            break
    progress.run_finished(result)
    return result


def _reason(exc: Exception) -> str:
    kind = {SafetyBreach: "safety", LeadOpen: "open lead", CellReversed: "reversed cell"}.get(type(exc), "instrument")
    return f"{kind}: {exc}"


def _cell_type_attrs(cell_type: Any) -> dict[str, Any]:
    from dataclasses import asdict, is_dataclass

    return asdict(cell_type) if is_dataclass(cell_type) else dict(cell_type)
