"""Keithley 2281S battery simulator / precision DC supply (placeholder until its battery test mode is wired)."""

from __future__ import annotations

from drivers.scpi import ScpiInstrument


class Keithley2281S(ScpiInstrument):
    read_termination = "\n"
    write_termination = "\n"
