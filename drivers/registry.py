"""Driver name (as written in a station file) -> driver class, and opening one instrument by name.

Why a registry: the station file says `driver = "keithley_2400"`; the rest of the
program should not import driver modules by hand or know their terminators. Driver
modules are imported only when used, so a station without a 2281S never loads its code.
"""

from __future__ import annotations

import importlib
from typing import Any

from drivers.protocols import InstrumentError
from drivers.scpi import ScpiInstrument, ScpiSession
from drivers.transport import TransportSettings, open_transport

# driver name -> (module, class)
DRIVERS: dict[str, tuple[str, str]] = {
    "hioki_bt4560": ("drivers.hioki_bt4560", "HiokiBT4560"),
    "keithley_2400": ("drivers.keithley_2400", "Keithley2400"),
    "keithley_2281s": ("drivers.keithley_2281s", "Keithley2281S"),
    "tray_switch": ("drivers.tray_switch", "TraySwitch"),
}
TRANSPORT_KEYS = frozenset({"baud_rate", "data_bits", "parity", "stop_bits", "visa_library",
                            "read_termination", "write_termination"})


class UnknownDriver(InstrumentError, ValueError):
    """The driver name is not one this program knows."""


def known_drivers() -> tuple[str, ...]:
    return tuple(sorted(DRIVERS))


def driver_class(driver: str) -> type[ScpiInstrument]:
    """The class for a driver name; UnknownDriver lists the known names."""
    if driver not in DRIVERS:
        raise UnknownDriver(f"unknown driver {driver!r}: known drivers are {', '.join(known_drivers())}")
    module_name, class_name = DRIVERS[driver]
    return getattr(importlib.import_module(module_name), class_name)


def open_instrument(
    driver: str,
    resource: str,
    *,
    name: str,
    timeout_ms: int = 5000,
    configure: bool = True,
    **transport_settings: Any,
) -> Any:
    """Open `resource` with the driver's line endings and return the driver, configured unless told not to.

    `transport_settings`: baud_rate, data_bits, parity, stop_bits, visa_library, and (rarely
    needed) read_termination / write_termination to override the model's own.
    """
    cls = driver_class(driver)
    unknown = set(transport_settings) - TRANSPORT_KEYS
    if unknown:
        raise ValueError(f"{name}: unknown transport settings {sorted(unknown)}; allowed: {sorted(TRANSPORT_KEYS)}")
    settings = TransportSettings(
        read_termination=transport_settings.pop("read_termination", cls.read_termination),
        write_termination=transport_settings.pop("write_termination", cls.write_termination),
        timeout_ms=timeout_ms,
        baud_rate=transport_settings.pop("baud_rate", None) or cls.default_baud_rate,
        **{key: value for key, value in transport_settings.items() if value is not None},
    )
    transport = open_transport(resource, settings, name=name)
    instrument = cls(ScpiSession(transport, name))
    if configure:
        try:
            instrument.configure()
        except BaseException:
            instrument.close()
            raise
    return instrument
