"""The station file: which instrument sits at which resource, which part each plays, the clock speed.

`load_station(path)` reads and validates the TOML file (format in docs/station-file.md);
every mistake is a StationError of one line naming the file, the key and what to do.
`open_station(config)` opens the instruments that play a role and yields a `Station`;
however the block ends (normally, by an exception, by Ctrl-C) it leaves the bench
safe: every source output off, the switch open, every link closed.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.clock import ScaledClock
from drivers.protocols import InstrumentError

ROLES = ("impedance_meter", "source_meter", "switch", "thermometer")
# What a driver must offer to play a role (checked on the driver class, before anything is opened).
ROLE_METHODS = {
    "impedance_meter": ("measure_impedance", "measure_spectrum", "measure_voltage_v", "configure_impedance"),
    "source_meter": ("source_current", "source_voltage", "read", "output_off", "output_is_on"),
    "switch": ("connect_slot", "connected_slot", "disconnect_all"),
    "thermometer": ("measure_temperature_c",),
}
TOP_LEVEL_KEYS = ("station", "roles", "instruments")
STATION_KEYS = ("name", "speed", "visa_library")
INSTRUMENT_KEYS = ("driver", "resource", "timeout_ms", "baud_rate", "data_bits", "parity", "stop_bits", "visa_library")
DEFAULT_TIMEOUT_MS = 5000

log = logging.getLogger(__name__)


class StationError(Exception):
    """The station file is missing, unreadable or wrong; the message names file, key and the fix."""


@dataclass(frozen=True)
class InstrumentConfig:
    name: str
    driver: str
    resource: str
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    baud_rate: int | None = None
    data_bits: int | None = None
    parity: str | None = None
    stop_bits: float | None = None
    visa_library: str | None = None

    def transport_settings(self, default_visa_library: str) -> dict[str, Any]:
        settings: dict[str, Any] = {"visa_library": self.visa_library or default_visa_library}
        for key in ("baud_rate", "data_bits", "parity", "stop_bits"):
            if getattr(self, key) is not None:
                settings[key] = getattr(self, key)
        return settings


@dataclass(frozen=True)
class StationConfig:
    path: Path
    name: str
    speed: float
    visa_library: str
    roles: dict[str, str]
    instruments: dict[str, InstrumentConfig]

    def role_instruments(self) -> list[str]:
        """Names of the instruments that play a role, each once, in role order."""
        names: list[str] = []
        for role in ROLES:
            name = self.roles.get(role)
            if name is not None and name not in names:
                names.append(name)
        return names


@dataclass
class Station:
    """An open station. Roles absent from the file are None; one instrument may play two roles."""

    name: str
    clock: ScaledClock
    impedance_meter: Any = None
    source_meter: Any = None
    switch: Any = None
    thermometer: Any = None
    idns: dict[str, str] = field(default_factory=dict)
    instruments: dict[str, Any] = field(default_factory=dict)


def _fail(path: Path, where: str, what: str) -> StationError:
    return StationError(f"{path}: {where} {what}")


def _check_keys(path: Path, where: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise _fail(path, where, f"has unknown key {key!r}: allowed keys are {', '.join(allowed)}")


def _require_table(path: Path, where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, where, "must be a table, e.g. [station]")
    return value


def _optional_int(path: Path, where: str, table: dict, key: str, *, low: int) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _fail(path, f"{where} key {key!r}", f"must be a whole number >= {low}, got {value!r}")
    return value


def _load_instrument(path: Path, name: str, table: Any) -> InstrumentConfig:
    from drivers.registry import known_drivers

    where = f"[instruments.{name}]"
    table = _require_table(path, where, table)
    _check_keys(path, where, table, INSTRUMENT_KEYS)
    driver = table.get("driver")
    if driver is None:
        raise _fail(path, where, f"has no 'driver': add one of {', '.join(known_drivers())}")
    if driver not in known_drivers():
        raise _fail(path, f"{where} key 'driver'", f"names unknown driver {driver!r}: use one of {', '.join(known_drivers())}")
    resource = table.get("resource")
    if resource is None:
        raise _fail(path, where, "has no 'resource': add the VISA resource string, e.g. \"TCPIP0::10.0.0.5::5025::SOCKET\"")
    if not isinstance(resource, str) or not resource.strip():
        raise _fail(path, f"{where} key 'resource'", f"must be a non-empty string, got {resource!r}")
    timeout_ms = _optional_int(path, where, table, "timeout_ms", low=1)
    parity = table.get("parity")
    if parity is not None and (not isinstance(parity, str) or parity.lower() not in ("none", "odd", "even", "mark", "space")):
        raise _fail(path, f"{where} key 'parity'", f"must be one of none, odd, even, mark, space; got {parity!r}")
    data_bits = _optional_int(path, where, table, "data_bits", low=5)
    if data_bits is not None and data_bits > 8:
        raise _fail(path, f"{where} key 'data_bits'", f"must be 5, 6, 7 or 8, got {data_bits}")
    stop_bits = table.get("stop_bits")
    if stop_bits is not None and (isinstance(stop_bits, bool) or stop_bits not in (1, 1.5, 2)):
        raise _fail(path, f"{where} key 'stop_bits'", f"must be 1, 1.5 or 2, got {stop_bits!r}")
    visa_library = table.get("visa_library")
    if visa_library is not None and not isinstance(visa_library, str):
        raise _fail(path, f"{where} key 'visa_library'", f"must be a string such as \"@py\", got {visa_library!r}")
    return InstrumentConfig(
        name=name,
        driver=driver,
        resource=resource.strip(),
        timeout_ms=timeout_ms if timeout_ms is not None else DEFAULT_TIMEOUT_MS,
        baud_rate=_optional_int(path, where, table, "baud_rate", low=1),
        data_bits=data_bits,
        parity=parity.lower() if parity is not None else None,
        stop_bits=float(stop_bits) if stop_bits is not None else None,
        visa_library=visa_library,
    )


def load_station(path: str | Path) -> StationConfig:
    """Read and validate a station file; StationError (one line) on any problem."""
    from drivers.registry import driver_class

    path = Path(path)
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise StationError(f"{path}: station file not found: check the path given to --station") from None
    except OSError as exc:
        raise StationError(f"{path}: cannot read the station file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise StationError(f"{path}: not valid TOML ({exc}): fix the syntax") from None
    _check_keys(path, "the top level", document, TOP_LEVEL_KEYS)

    station = _require_table(path, "[station]", document.get("station", {}))
    _check_keys(path, "[station]", station, STATION_KEYS)
    name = station.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, "[station] key 'name'", f"must be a non-empty string, got {name!r}")
    speed = station.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not math.isfinite(speed) or speed <= 0:
        raise _fail(path, "[station] key 'speed'", f"must be a number > 0 (1 on a real bench), got {speed!r}")
    visa_library = station.get("visa_library", "@py")
    if not isinstance(visa_library, str) or not visa_library.strip():
        raise _fail(path, "[station] key 'visa_library'", f"must be a string such as \"@py\", got {visa_library!r}")

    instruments_table = _require_table(path, "[instruments]", document.get("instruments", {}))
    instruments = {name_: _load_instrument(path, name_, table) for name_, table in instruments_table.items()}

    roles_table = _require_table(path, "[roles]", document.get("roles", {}))
    _check_keys(path, "[roles]", roles_table, ROLES)
    roles: dict[str, str] = {}
    for role, instrument_name in roles_table.items():
        if not isinstance(instrument_name, str) or instrument_name not in instruments:
            known = ", ".join(instruments) or "none"
            raise _fail(path, f"[roles] key {role!r}",
                        f"names instrument {instrument_name!r}, which has no [instruments.{instrument_name}] table "
                        f"(configured: {known})")
        cls = driver_class(instruments[instrument_name].driver)
        missing = [method for method in ROLE_METHODS[role] if not hasattr(cls, method)]
        if missing:
            raise _fail(path, f"[roles] key {role!r}",
                        f"names {instrument_name!r} (driver {instruments[instrument_name].driver}), "
                        f"which cannot act as {role}: pick another instrument")
        roles[role] = instrument_name
    return StationConfig(path=path, name=name.strip(), speed=float(speed), visa_library=visa_library,
                         roles=roles, instruments=instruments)


def open_configured(config: StationConfig, name: str, *, configure: bool = True) -> Any:
    """Open one configured instrument by its station-file name."""
    from drivers.registry import open_instrument

    instrument = config.instruments[name]
    return open_instrument(
        instrument.driver,
        instrument.resource,
        name=name,
        timeout_ms=instrument.timeout_ms,
        configure=configure,
        **instrument.transport_settings(config.visa_library),
    )


@contextmanager
def open_station(config: StationConfig) -> Iterator[Station]:
    """Open every instrument that plays a role, once; leave the bench safe however the block ends."""
    opened: dict[str, Any] = {}
    station = Station(name=config.name, clock=ScaledClock(config.speed))
    completed = False
    try:
        for name in config.role_instruments():
            opened[name] = open_configured(config, name)
            station.idns[name] = opened[name].idn
        station.instruments = dict(opened)
        for role in ROLES:
            if role in config.roles:
                setattr(station, role, opened[config.roles[role]])
        yield station
        completed = True
    finally:
        problems = make_safe(opened, switch_name=config.roles.get("switch"))
        if problems and completed:
            raise InstrumentError("; ".join(problems))
        for problem in problems:
            log.error("%s", problem)


def make_safe(instruments: dict[str, Any], *, switch_name: str | None) -> list[str]:
    """Sources off first (the switch refuses to move under load), then the switch open, then close all.

    Returns what could not be done, one line each; never raises, so it is safe on every exit path.
    """
    problems: list[str] = []
    for name, instrument in instruments.items():
        if hasattr(instrument, "output_off"):
            try:
                instrument.output_off()
            except Exception as exc:
                problems.append(f"{name}: could not turn the output off ({exc})")
    if switch_name is not None and switch_name in instruments:
        try:
            instruments[switch_name].disconnect_all()
        except Exception as exc:
            problems.append(f"{switch_name}: could not open the switch ({exc})")
    for name, instrument in instruments.items():
        try:
            instrument.close()
        except Exception as exc:
            problems.append(f"{name}: could not close the connection ({exc})")
    return problems
