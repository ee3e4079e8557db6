"""Run a measurement against the built-in simulated station, through the same station file a real bench uses.

`bench measure --sim` and `bench demo` start the simulated instruments in this process
(real servers on loopback and pseudo-terminals), let the simulator write its station
file, and then load that file exactly as `bench measure --station FILE` would: nothing
downstream knows the instruments are simulated.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def simulated_station_file(
    *,
    cells: int,
    seed: int,
    chemistry: str,
    speed: float,
    faults: str | None = None,
    ambient_c_range: tuple[float, float] | None = None,
    soc_range: tuple[float, float] | None = None,
) -> Iterator[Path]:
    """Serve a simulated tray for the duration of the block; yield the path of its station file.

    `ambient_c_range` / `soc_range` spread the cells over those conditions (None: the
    simulator's defaults, about 25 C and SOC 0.3..0.6).
    """
    from drivers.sim.station import SimulatedStation
    from drivers.sim.tray import DEFAULT_SOC_RANGE

    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        station_path = Path(tmp) / "station.toml"
        with SimulatedStation(cells=cells, seed=seed, chemistry=chemistry, speed=speed, faults=faults,
                              ambient_c_range=ambient_c_range, soc_range=soc_range or DEFAULT_SOC_RANGE) as station:
            station.write_station_file(station_path)
            yield station_path
