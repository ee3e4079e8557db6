"""`bench sim`: the simulated station as a standalone server, for tests, CI and driver development."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click


def _check_faults(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Reject a bad fault spec before any server starts, as one line."""
    if value is None:
        return None
    from drivers.sim.faults import parse_faults

    try:
        parse_faults(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return value


def _parse_range(text: str, example: str) -> tuple[float, float]:
    """`LO:HI` (or one number for both ends) as a float pair; ValueError names the expected form."""
    parts = text.split(":")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not LO:HI (two numbers separated by one colon, e.g. {example})")
    try:
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"{text!r} is not LO:HI (two numbers separated by one colon, e.g. {example})") from None


def check_ambient_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    """`--ambient-c LO:HI` checked against the tray's limits before any server starts."""
    if value is None:
        return None
    from drivers.sim.tray import AMBIENT_LIMITS_C, check_range

    try:
        return check_range("ambient temperature range", _parse_range(value, "-10:45"), AMBIENT_LIMITS_C, " C")
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def check_soc_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float] | None:
    """`--soc LO:HI` checked against 0..1 before any server starts."""
    if value is None:
        return None
    from drivers.sim.tray import SOC_LIMITS, check_range

    try:
        return check_range("SOC range", _parse_range(value, "0.1:0.9"), SOC_LIMITS)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


@click.group()
def sim() -> None:
    """Simulated instruments that speak the real command sets over real transports.

    \b
    Examples:
      bench sim serve --cells 8 --station-out station.toml
      bench sim serve --cells 40 --ambient-c -10:45 --soc 0.1:0.9 --station-out station.toml
    """


@sim.command()
@click.option("--cells", type=click.IntRange(1, 256), default=8, show_default=True, help="Cells on the simulated tray.")
@click.option("--seed", type=int, default=0, show_default=True, help="Which simulated tray (cells and their ageing).")
@click.option("--chemistry", type=click.Choice(["nmc", "lfp"]), default="nmc", show_default=True, help="Cell chemistry.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Simulated clock speed (simulated seconds per real second).")
@click.option("--faults", "faults", callback=_check_faults, metavar="SPEC",
              help="Faults to inject, e.g. 'keithley2400:drop_after=40;bt4560:delay_ms=300' (docs/simulator.md).")
@click.option("--station-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the station file (TOML) for `bench measure --station` here.")
@click.option("--bt4560-transport", type=click.Choice(["pty", "tcp"]), default="pty", show_default=True,
              help="Serve the BT4560 on a pseudo-terminal (as RS-232C) or on TCP.")
@click.option("--keithley2400-transport", type=click.Choice(["tcp", "pty"]), default="tcp", show_default=True,
              help="Serve the SourceMeter on TCP (as LAN) or on a pseudo-terminal (as RS-232).")
@click.option("--keithley2400-model", type=click.Choice(["2400", "2460"]), default="2400", show_default=True,
              help="Which SourceMeter model to simulate (identity and current limit).")
@click.option("--ambient-c", "ambient_c_range", callback=check_ambient_range, metavar="LO:HI",
              help="Spread the cells' ambient temperature uniformly over LO..HI C (within -30..60), "
                   "e.g. -10:45; one number puts every cell there. Default: about 25 C.")
@click.option("--soc", "soc_range", callback=check_soc_range, metavar="LO:HI",
              help="Spread the cells' start SOC uniformly over LO..HI (within 0..1), e.g. 0.1:0.9. "
                   "Default: 0.3:0.6.")
def serve(cells: int, seed: int, chemistry: str, speed: float, faults: str | None, station_out: Path | None,
          bt4560_transport: str, keithley2400_transport: str, keithley2400_model: str,
          ambient_c_range: tuple[float, float] | None, soc_range: tuple[float, float] | None) -> None:
    """Serve a simulated tray (BT4560, Keithley 2400 and 2281S, tray switch) until Ctrl-C or SIGTERM.

    Prints one line per instrument, `<name> <VISA resource>`, then serves. Slot 1 is
    connected at start-up. Exits 0 when stopped by SIGINT or SIGTERM. A cell is the
    same cell (SoH, resistances) whatever --ambient-c and --soc say; those only set
    where it is measured.

    \b
    Examples:
      bench sim serve --station-out station.toml
      bench sim serve --cells 16 --seed 3 --speed 200 --station-out station.toml
      bench sim serve --bt4560-transport tcp --faults 'bt4560:delay_ms=300,corrupt_every=7'
      bench sim serve --faults 'tray:reversed=3;bt4560:open_lead=5'
      bench sim serve --keithley2400-transport pty --keithley2400-model 2460
      bench sim serve --cells 40 --speed 200 --ambient-c -10:45 --soc 0.1:0.9 --station-out station.toml
      bench sim serve --ambient-c 0 --station-out station.toml
    """
    from drivers.sim.station import SimulatedStation
    from drivers.sim.tray import DEFAULT_SOC_RANGE

    try:
        station = SimulatedStation(cells=cells, seed=seed, chemistry=chemistry, speed=speed, faults=faults,
                                   bt4560_transport=bt4560_transport, keithley2400_transport=keithley2400_transport,
                                   keithley2400_model=keithley2400_model, ambient_c_range=ambient_c_range,
                                   soc_range=soc_range if soc_range is not None else DEFAULT_SOC_RANGE)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--faults'") from None
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with station:
            for name, resource in station.resources.items():
                click.echo(f"{name} {resource}")
            if station_out is not None:
                station.write_station_file(station_out)
            click.get_text_stream("stdout").flush()
            while not stop.wait(0.2):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
