"""`SimulatedStation`: a whole simulated test station (tray, instruments, servers) as a context manager.

On enter it builds the tray from (cells, seed, chemistry, and optionally the ranges of
ambient temperature and start SOC the cells are spread over), applies the faults, starts
every instrument's server in background threads, and knows each one's VISA resource;
`write_station_file` writes the station file `bench` reads (docs/architecture.md).
On exit it stops the servers and closes every socket and pseudo-terminal.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import TracebackType

from drivers.clock import ScaledClock
from drivers.sim.bt4560 import Bt4560
from drivers.sim.faults import FaultPlan, parse_faults
from drivers.sim.keithley2281s import Keithley2281S
from drivers.sim.keithley2400 import Keithley2400
from drivers.sim.scpi import ScpiInstrument
from drivers.sim.switch import TraySwitch
from drivers.sim.transports import LineSession, PtyServer, TcpServer
from drivers.sim.tray import DEFAULT_SOC_RANGE, Tray, make_tray

TRANSPORTS = ("pty", "tcp")
SERIAL_BAUD_RATE = 9600
TIMEOUT_MS = 5000
# instrument name in the station file -> client driver name
DRIVERS = {
    "bt4560": "hioki_bt4560",
    "keithley2400": "keithley_2400",
    "keithley2281s": "keithley_2281s",
    "switch": "tray_switch",
}


class SimulatedStation:
    """A tray of simulated cells behind a BT4560, a 2400, a 2281S and a tray switch, on real transports."""

    def __init__(
        self,
        cells: int,
        seed: int,
        chemistry: str,
        speed: float,
        faults: str | None = None,
        *,
        bt4560_transport: str = "pty",
        keithley2400_transport: str = "tcp",
        keithley2400_model: str = "2400",
        ambient_c_range: tuple[float, float] | None = None,
        soc_range: tuple[float, float] = DEFAULT_SOC_RANGE,
    ) -> None:
        for name, transport in (("bt4560", bt4560_transport), ("keithley2400", keithley2400_transport)):
            if transport not in TRANSPORTS:
                raise ValueError(f"{name} transport {transport!r}: choose one of {', '.join(TRANSPORTS)}")
        self.speed = float(speed)
        self.clock = ScaledClock(self.speed)
        self.plan: FaultPlan = parse_faults(faults)
        self.tray: Tray = make_tray(cells, seed, chemistry, ambient_c_range=ambient_c_range, soc_range=soc_range)
        for slot in self.plan.reversed_slots | self.plan.over_temp_slots:
            if not 1 <= slot <= cells:
                raise ValueError(f"fault slot {slot} is not on a tray of {cells} cells")
        for cell in self.tray.cells:
            cell.reversed = cell.slot in self.plan.reversed_slots
            cell.over_temp = cell.slot in self.plan.over_temp_slots
        self._transports = {"bt4560": bt4560_transport, "keithley2400": keithley2400_transport,
                            "keithley2281s": "tcp", "switch": "tcp"}
        open_leads = {name: frozenset(self.plan.for_instrument(name).open_lead) for name in DRIVERS}
        self.instruments: dict[str, ScpiInstrument] = {
            "bt4560": Bt4560(self.tray, self.clock, seed=seed * 10 + 1, serial=f"23{seed:04d}01",
                             open_lead_slots=open_leads["bt4560"]),
            "keithley2400": Keithley2400(self.tray, self.clock, seed=seed * 10 + 2, model=keithley2400_model,
                                         serial=f"41{seed:05d}", open_lead_slots=open_leads["keithley2400"]),
            "keithley2281s": Keithley2281S(self.tray, self.clock, seed=seed * 10 + 3, serial=f"44{seed:05d}"),
            "switch": TraySwitch(self.tray, self.clock, seed=seed * 10 + 4, serial=f"{seed:06d}"),
        }
        self._servers: dict[str, TcpServer | PtyServer] = {}

    @property
    def resources(self) -> dict[str, str]:
        """Instrument name -> VISA resource string (valid while the station runs)."""
        return {name: server.resource for name, server in self._servers.items()}

    def __enter__(self) -> "SimulatedStation":
        try:
            for name, instrument in self.instruments.items():
                session = LineSession(instrument, self.plan.for_instrument(name))
                server = PtyServer(session) if self._transports[name] == "pty" else TcpServer(session)
                self._servers[name] = server
                server.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop every server; idempotent."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.stop()

    def station_toml(self) -> str:
        """The station file text: roles, and each instrument's driver and resource."""
        lines = [
            "[station]",
            'name = "sim-station"',
            f"speed = {self.speed!r}",
            "",
            "[roles]",
            'impedance_meter = "bt4560"',
            'source_meter = "keithley2400"',
            'switch = "switch"',
            'thermometer = "bt4560"',
        ]
        for name, resource in self.resources.items():
            lines += ["", f"[instruments.{name}]", f'driver = "{DRIVERS[name]}"', f'resource = "{resource}"',
                      f"timeout_ms = {TIMEOUT_MS}"]
            if resource.startswith("ASRL"):
                lines.append(f"baud_rate = {SERIAL_BAUD_RATE}")
        return "\n".join(lines) + "\n"

    def write_station_file(self, path: str | os.PathLike[str]) -> Path:
        """Write the station file atomically (temp file in the same directory, then rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.station_toml())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        return target
