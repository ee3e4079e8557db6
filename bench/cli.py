"""The `bench` command line: assembles the commands of `bench.commands` and owns the exit contract.

Exit codes (docs/reliability.md):
  0  done; every cell complete
  1  done, but some cells failed (safety breach, open lead, reversed cell) or records need a retest
  2  bad input: options, profile, station file, data file, cell ID (one line says what and where)
  3  an instrument failed or could not be reached; the run stopped safely
  70 an internal error (a bug): one line, the traceback with BENCH_DEBUG=1
  130 / 143 stopped by SIGINT / SIGTERM, outputs off, the record marked aborted
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

import bench

EXIT_CELLS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INSTRUMENT = 3
EXIT_INTERNAL = 70


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean 'the user gave us something wrong'; imported lazily to keep start-up fast."""
    from bench.cell_ids import CellIdError
    from bench.estimate import EstimateInputError
    from bench.measure import MeasureError
    from bench.profiles import ProfileError
    from bench.station import StationError
    from bench.store import StoreError
    from bench.import_csv import CsvImportError

    return (CellIdError, EstimateInputError, MeasureError, ProfileError, StationError, StoreError, CsvImportError)


def fail(message: str, exit_code: int) -> None:
    """Print one line on stderr and exit; the only way commands report an error."""
    click.echo(f"error: {message}", err=True)
    sys.exit(exit_code)


class _LevelPrefixFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


def configure_warnings() -> None:
    """Warnings from any layer (e.g. a driver that could not confirm an output off) as `warning: ...` lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LevelPrefixFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class BenchGroup(click.Group):
    """A Click group that turns every expected failure into one line and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Click's own usage errors (a missing option, a bad value) as one `error:` line too, exit 2.

        Click prints them as three lines (usage, hint, error); a station log or a CI
        report reads better with the same single line every other mistake gets.
        """
        if kwargs.get("standalone_mode", True) is False:
            return super().main(*args, **kwargs)
        try:
            exit_code = super().main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # plain `bench`: Click shows the help
                exc.show()
                sys.exit(exc.exit_code)
            command = exc.ctx.command_path if exc.ctx is not None else "bench"
            fail(f"{command}: {exc.format_message()} (see `{command} --help`)", exc.exit_code)
        except click.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        except click.exceptions.Abort:
            fail("aborted", 1)
        sys.exit(exit_code if isinstance(exit_code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        from drivers.protocols import InstrumentError

        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except InstrumentError as exc:
            fail(str(exc), EXIT_INSTRUMENT)
        except OSError as exc:
            detail = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
            fail(detail, EXIT_BAD_INPUT)
        except Exception as exc:
            if isinstance(exc, _user_error_types()):
                fail(str(exc), EXIT_BAD_INPUT)
            if os.environ.get("BENCH_DEBUG"):
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (set BENCH_DEBUG=1 for the traceback)", EXIT_INTERNAL)


@click.group(cls=BenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(bench.__version__, prog_name="bench")
def main() -> None:
    """bench: grade used EV cells in minutes on a test station.

    \b
    Examples:
      bench demo                                  # simulated station, 8 cells, grade report
      bench measure --sim --cell C001 --profile quick-grade --out run.h5
      bench evaluate run.h5 --json grades.json
      bench show run.h5
      bench report run.h5 --html run.html
    """
    configure_warnings()


def _register() -> None:
    from bench.commands import demo, evaluate, import_data, instruments, measure, profiles, report, show, sim

    main.add_command(demo.demo)
    main.add_command(measure.measure)
    main.add_command(evaluate.evaluate)
    main.add_command(evaluate.calibrate)
    main.add_command(report.report)
    main.add_command(show.show)
    main.add_command(profiles.profiles)
    main.add_command(import_data.import_group)
    main.add_command(instruments.instruments)
    main.add_command(sim.sim)


_register()

if __name__ == "__main__":
    main()
