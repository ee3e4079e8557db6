"""Station files: validation messages (one line naming file and key), and opening a station safely."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bench.station import StationError, load_station, open_station
from drivers.protocols import InstrumentError

VALID = """
[station]
name = "line-2"
speed = 1.0

[roles]
impedance_meter = "bt4560"
source_meter = "smu"
switch = "switch"
thermometer = "bt4560"

[instruments.bt4560]
driver = "hioki_bt4560"
resource = "ASRL/dev/ttyUSB0::INSTR"
baud_rate = 9600
timeout_ms = 8000

[instruments.smu]
driver = "keithley_2400"
resource = "TCPIP0::10.0.0.5::5025::SOCKET"

[instruments.switch]
driver = "tray_switch"
resource = "TCPIP0::10.0.0.6::5025::SOCKET"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_valid_station_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_station(write(tmp_path, VALID))
    assert (config.name, config.speed, config.visa_library) == ("line-2", 1.0, "@py")
    assert config.roles == {"impedance_meter": "bt4560", "source_meter": "smu", "switch": "switch",
                            "thermometer": "bt4560"}
    assert config.role_instruments() == ["bt4560", "smu", "switch"]
    assert config.instruments["bt4560"].timeout_ms == 8000
    assert config.instruments["bt4560"].baud_rate == 9600
    assert config.instruments["smu"].timeout_ms == 5000


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda t: t.replace('speed = 1.0', 'speed = 0'), "[station] key 'speed' must be a number > 0"),
    (lambda t: t.replace('speed = 1.0', 'speed = "fast"'), "[station] key 'speed' must be a number > 0"),
    (lambda t: t.replace('speed = 1.0', 'sped = 1.0'), "[station] has unknown key 'sped'"),
    (lambda t: t.replace('[roles]', '[rolez]'), "the top level has unknown key 'rolez'"),
    (lambda t: t.replace('source_meter = "smu"', 'source_meter = "k2400"'),
     "[roles] key 'source_meter' names instrument 'k2400', which has no [instruments.k2400] table"),
    (lambda t: t.replace('thermometer = "bt4560"', 'voltmeter = "bt4560"'), "[roles] has unknown key 'voltmeter'"),
    (lambda t: t.replace('thermometer = "bt4560"', 'thermometer = "smu"'),
     "[roles] key 'thermometer' names 'smu' (driver keithley_2400), which cannot act as thermometer"),
    (lambda t: t.replace('driver = "keithley_2400"\n', ''), "[instruments.smu] has no 'driver'"),
    (lambda t: t.replace('driver = "keithley_2400"', 'driver = "keithley2400"'),
     "[instruments.smu] key 'driver' names unknown driver 'keithley2400': use one of hioki_bt4560"),
    (lambda t: t.replace('resource = "TCPIP0::10.0.0.5::5025::SOCKET"\n', ''), "[instruments.smu] has no 'resource'"),
    (lambda t: t.replace('resource = "TCPIP0::10.0.0.5::5025::SOCKET"', 'resource = ""'),
     "[instruments.smu] key 'resource' must be a non-empty string"),
    (lambda t: t.replace('timeout_ms = 8000', 'timeout_ms = -5'), "[instruments.bt4560] key 'timeout_ms' must be a whole"),
    (lambda t: t.replace('baud_rate = 9600', 'baud = 9600'), "[instruments.bt4560] has unknown key 'baud'"),
    (lambda t: t + 'parity = "maybe"\n', "[instruments.switch] key 'parity' must be one of none, odd"),
    (lambda t: t.replace('[station]', '[station'), "not valid TOML"),
])
def test_mistakes_are_one_line_naming_file_and_key(tmp_path: Path, edit, expected: str) -> None:
    path = write(tmp_path, edit(textwrap.dedent(VALID)))
    with pytest.raises(StationError) as caught:
        load_station(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(StationError, match="station file not found"):
        load_station(tmp_path / "nope.toml")


def plain_query(resource: str, command: str) -> str:
    """Ask an instrument directly with plain PyVISA (no project code)."""
    import pyvisa

    manager = pyvisa.ResourceManager("@py")  # shared per process: closing it would close the station's links too
    handle = manager.open_resource(resource, read_termination="\n", write_termination="\n", timeout=3000)
    try:
        return handle.query(command).strip()
    finally:
        handle.close()


def test_open_station_plays_roles_opens_shared_instruments_once_and_leaves_the_bench_safe(sim, station_file: Path) -> None:
    config = load_station(station_file)
    with open_station(config) as station:
        assert station.name == "sim-station"
        assert station.clock.speed == 200.0
        assert station.thermometer is station.impedance_meter
        assert set(station.idns) == {"bt4560", "keithley2400", "switch"}  # the unassigned 2281S is not opened
        assert station.idns["keithley2400"].startswith("KEITHLEY INSTRUMENTS INC.,MODEL 2400")
        station.source_meter.source_current(-0.3, voltage_limit_v=4.25)
        assert plain_query(sim.resources["keithley2400"], ":OUTP?") == "1"
    assert plain_query(sim.resources["keithley2400"], ":OUTP?") == "0"
    assert plain_query(sim.resources["switch"], ":ROUT:CLOS?") == "0"
    assert not station.source_meter.session.transport.is_open


@pytest.mark.parametrize("exception", [RuntimeError("bug"), KeyboardInterrupt()])
def test_the_bench_is_left_safe_when_the_block_fails(sim, station_file: Path, exception: BaseException) -> None:
    with pytest.raises(type(exception)):
        with open_station(load_station(station_file)) as station:
            station.switch.connect_slot(2)
            station.source_meter.source_current(0.5, voltage_limit_v=4.2)
            raise exception
    assert plain_query(sim.resources["keithley2400"], ":OUTP?") == "0"
    assert plain_query(sim.resources["switch"], ":ROUT:CLOS?") == "0"


def test_a_station_without_optional_roles_has_none(sim, tmp_path: Path) -> None:
    path = write(tmp_path, f"""
        [station]
        speed = 50
        [roles]
        source_meter = "smu"
        [instruments.smu]
        driver = "keithley_2400"
        resource = "{sim.resources['keithley2400']}"
        """)
    with open_station(load_station(path)) as station:
        assert station.name == "station"
        assert station.switch is None and station.impedance_meter is None and station.thermometer is None
        assert station.source_meter.max_current_a == 1.05


def test_an_unreachable_instrument_is_one_line_naming_it_and_its_resource(sim, station_file: Path) -> None:
    text = station_file.read_text().replace(sim.resources["switch"], "TCPIP0::127.0.0.1::1::SOCKET")
    station_file.write_text(text)
    with pytest.raises(InstrumentError) as caught:
        with open_station(load_station(station_file)):
            pass
    message = str(caught.value)
    assert message.startswith("switch: cannot open resource 'TCPIP0::127.0.0.1::1::SOCKET'") and "\n" not in message
    # the instruments opened before it were closed again and left safe
    assert plain_query(sim.resources["keithley2400"], ":OUTP?") == "0"
