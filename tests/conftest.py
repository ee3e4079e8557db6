"""Fixtures shared by the station tests: a small simulated station and the station file it writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.sim import station as sim_station


@pytest.fixture
def sim() -> Iterator:
    with sim_station.SimulatedStation(cells=2, seed=1, chemistry="nmc", speed=200) as station:
        yield station


@pytest.fixture
def station_file(sim, tmp_path: Path) -> Path:
    return sim.write_station_file(tmp_path / "station.toml")
