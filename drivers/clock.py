"""A scaled clock shared by the procedure runner and the simulated instruments.

At `speed` 1 it is wall-clock time; at `speed` 1000 one real second is 1000 simulated
seconds, so a three-hour capacity test runs in about eleven seconds. The procedure
runner and the simulator each hold their own ScaledClock with the same speed (from the
station file): they agree on rates, not on epochs, which is all a procedure needs.
Drivers never sleep on their own idea of time; procedures sleep through this clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class ScaledClock:
    speed: float = 1.0
    _start_monotonic_s: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be > 0, got {self.speed!r}")

    def now_s(self) -> float:
        """Seconds of (scaled) time since this clock was created."""
        return (time.monotonic() - self._start_monotonic_s) * self.speed

    def sleep_s(self, duration_s: float) -> None:
        """Sleep `duration_s` of scaled time (duration_s / speed real seconds)."""
        if duration_s > 0:
            time.sleep(duration_s / self.speed)

    def real_s(self, duration_s: float) -> float:
        """Real seconds that `duration_s` of scaled time takes."""
        return duration_s / self.speed
