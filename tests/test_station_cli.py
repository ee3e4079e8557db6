"""`bench instruments` and `bench instruments check` as a user runs them, against a simulated station."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import run_bench


def test_check_prints_one_ok_line_per_instrument_and_exits_0(sim, station_file: Path) -> None:
    result = run_bench("instruments", "check", "--station", str(station_file), timeout_s=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    assert all(line.startswith("ok   ") for line in lines)
    by_name = {line.split()[1]: line for line in lines}
    assert "HIOKI,BT4560," in by_name["bt4560"] and sim.resources["bt4560"] in by_name["bt4560"]
    assert "MODEL 2400" in by_name["keithley2400"]
    assert "2281S" in by_name["keithley2281s"]
    assert "TRAYSWITCH-2" in by_name["switch"]


def test_check_with_a_wrong_resource_is_one_line_for_it_and_exits_3(sim, station_file: Path) -> None:
    station_file.write_text(station_file.read_text().replace(sim.resources["switch"], "TCPIP0::127.0.0.1::1::SOCKET"))
    result = run_bench("instruments", "check", "--station", str(station_file), timeout_s=60)
    assert result.returncode == 3
    failing = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 1
    assert failing[0].startswith("FAIL switch (tray_switch at TCPIP0::127.0.0.1::1::SOCKET): cannot open resource")
    assert "Traceback" not in result.stdout + result.stderr


def test_check_reports_a_queued_error(sim, station_file: Path) -> None:
    sim.instruments["keithley2400"].push_error(-310, "System error")
    result = run_bench("instruments", "check", "--station", str(station_file), timeout_s=60)
    assert result.returncode == 3
    assert any(line.startswith("FAIL keithley2400") and '-310,"System error"' in line
               for line in result.stdout.splitlines())


def test_a_malformed_resource_string_is_one_line(tmp_path: Path) -> None:
    station = tmp_path / "station.toml"
    station.write_text('[instruments.smu]\ndriver = "keithley_2400"\nresource = "TCPIP0::nowhere"\n')
    result = run_bench("instruments", "check", "--station", str(station), timeout_s=60)
    assert result.returncode == 3
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("FAIL smu (keithley_2400 at TCPIP0::nowhere)")


def test_a_bad_station_file_exits_2_with_one_line(tmp_path: Path) -> None:
    station = tmp_path / "station.toml"
    station.write_text('[instruments.smu]\ndriver = "keithley_2400"\n')
    result = run_bench("instruments", "check", "--station", str(station), timeout_s=60)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {station}: [instruments.smu] has no 'resource': add the VISA resource string, e.g. \"TCPIP0::10.0.0.5::5025::SOCKET\""


def test_listing_with_a_station_identifies_each_instrument(sim, station_file: Path) -> None:
    result = run_bench("instruments", "--station", str(station_file), timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("VISA resources (@py): ")
    assert sum(line.startswith("ok   ") for line in result.stdout.splitlines()) == 4


def test_help_has_examples() -> None:
    for args in (("instruments", "--help"), ("instruments", "check", "--help")):
        result = run_bench(*args)
        assert result.returncode == 0 and "Examples:" in result.stdout
