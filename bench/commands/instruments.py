"""`bench instruments`: what the VISA backend can see, and whether a station's instruments answer."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from bench.station import StationConfig

STATION_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group(invoke_without_command=True)
@click.option("--station", "station_path", type=STATION_FILE,
              help="Also ask each instrument of this station file for its *IDN?.")
@click.pass_context
def instruments(ctx: click.Context, station_path: Path | None) -> None:
    """List the VISA resources this computer can see; with --station, identify each configured instrument.

    Network instruments (TCPIP) cannot be discovered; they appear only through --station.

    \b
    Examples:
      bench instruments                           # serial, USB and GPIB resources pyvisa-py sees
      bench instruments --station station.toml    # plus the *IDN? of every configured instrument
      bench instruments check --station station.toml
    """
    if ctx.invoked_subcommand is not None:
        return
    from drivers.transport import list_visa_resources

    visa_library = "@py"
    config = None
    if station_path is not None:
        from bench.station import load_station

        config = load_station(station_path)
        visa_library = config.visa_library
    try:
        resources = list_visa_resources(visa_library)
    except Exception as exc:  # a backend that cannot enumerate is not fatal: say so and go on
        click.echo(f"cannot list VISA resources with {visa_library!r}: {exc}", err=True)
        resources = ()
    click.echo(f"VISA resources ({visa_library}): {len(resources)}")
    for resource in resources:
        click.echo(f"  {resource}")
    if config is not None:
        failures = _identify_all(config, drain_errors=False)
        if failures:
            sys.exit(_exit_instrument())


@instruments.command()
@click.option("--station", "station_path", type=STATION_FILE, required=True, help="Station file (TOML) to check.")
def check(station_path: Path) -> None:
    """Open every instrument of a station file, read its *IDN? and drain its error queue.

    Prints one line per instrument; exits 0 when all answer with an empty error queue, 3 otherwise.
    Nothing is reset or switched on.

    \b
    Examples:
      bench instruments check --station station.toml
      bench instruments check --station /etc/bench/line-2.toml && bench measure --station /etc/bench/line-2.toml ...
    """
    from bench.station import load_station

    config = load_station(station_path)
    failures = _identify_all(config, drain_errors=True)
    if failures:
        sys.exit(_exit_instrument())


def _exit_instrument() -> int:
    from bench.cli import EXIT_INSTRUMENT

    return EXIT_INSTRUMENT


def _identify_all(config: StationConfig, *, drain_errors: bool) -> int:
    """One line per configured instrument: `ok`/`FAIL`, name, driver, resource, IDN or the error. Returns failures."""
    from bench.station import open_configured
    from drivers.protocols import InstrumentError

    failures = 0
    for name, instrument_config in config.instruments.items():
        where = f"{name} ({instrument_config.driver} at {instrument_config.resource})"
        prefix = f"{name}: "
        instrument = None
        try:
            instrument = open_configured(config, name, configure=False)
            idn = instrument.idn
            errors = instrument.errors() if drain_errors else []
        except InstrumentError as exc:
            failures += 1
            message = str(exc)
            click.echo(f"FAIL {where}: {message[len(prefix):] if message.startswith(prefix) else message}")
            continue
        finally:
            if instrument is not None:
                instrument.close()
        if errors:
            failures += 1
            click.echo(f"FAIL {where}: {idn}; error queue held {'; '.join(str(e) for e in errors)}")
        else:
            click.echo(f"ok   {where}: {idn}")
    return failures
