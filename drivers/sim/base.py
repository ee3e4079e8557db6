"""What every simulated instrument on a tray shares: the tray, the station clock, a noise generator."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from drivers.clock import ScaledClock
from drivers.sim.scpi import ScpiInstrument
from drivers.sim.tray import Tray


class TrayInstrument(ScpiInstrument):
    """A SCPI instrument wired to the shared tray; the tray is advanced to 'now' before each command line."""

    def __init__(self, idn: str, tray: Tray, clock: ScaledClock, seed: int) -> None:
        super().__init__(idn)
        self.tray = tray
        self.clock = clock
        self.rng = np.random.default_rng(seed)

    def before_command(self) -> None:
        self.tray.advance(self.clock.now_s())

    @contextmanager
    def changing_tray(self) -> Iterator[Tray]:
        """Hold the tray, brought up to 'now', while a setting that drives it changes.

        The time before the change is then integrated under the old setting, whatever
        other instrument advanced the tray meanwhile.
        """
        with self.tray.lock:
            self.tray.advance(self.clock.now_s())
            yield self.tray

    def noisy(self, value: float, *, relative: float, absolute: float) -> float:
        """`value` with Gaussian noise of the instrument's accuracy class."""
        sigma = abs(value) * relative + absolute
        return float(value + self.rng.normal(0.0, sigma))
