"""Simulated tray switch (a relay multiplexer): connects one slot of the tray to every instrument.

`:ROUTe:CLOSe (@n)` connects slot n (1..N) and disconnects the previous one;
`:ROUTe:CLOSe?` answers the closed slot or 0; `:ROUTe:OPEN:ALL` disconnects; `:ROUTe:SLOTs?`
answers N. Moving the relays while a source output is on would break a live current,
so it is refused with -221 "Settings conflict".
"""

from __future__ import annotations

import re

from drivers.clock import ScaledClock
from drivers.sim.base import TrayInstrument
from drivers.sim.scpi import ScpiError, expect_count, out_of_range, settings_conflict
from drivers.sim.tray import Tray


def parse_channel(text: str) -> int:
    """`(@3)` or a bare `3` -> 3; anything else is -224."""
    match = re.fullmatch(r"\(\s*@\s*(\d+)\s*\)|(\d+)", text.strip())
    if not match:
        raise ScpiError(-224, "Illegal parameter value")
    return int(match.group(1) or match.group(2))


class TraySwitch(TrayInstrument):
    def __init__(self, tray: Tray, clock: ScaledClock, *, seed: int, serial: str = "000101") -> None:
        super().__init__(f"BENCH,TRAYSWITCH-{tray.slot_count},{serial},1.0", tray, clock, seed)
        self._add_commands()

    def reset(self) -> None:
        """*RST keeps the relays where they are: opening them is an explicit command."""

    def _move(self, slot: int | None) -> None:
        with self.changing_tray():
            if slot == self.tray.connected_slot:
                return
            if self.tray.any_output_on():
                raise settings_conflict()
            self.tray.connected_slot = slot

    def _close(self, params: list[str]) -> None:
        expect_count(params, 1)
        slot = parse_channel(params[0])
        if not 1 <= slot <= self.tray.slot_count:
            raise out_of_range()
        self._move(slot)

    def _open(self, params: list[str]) -> None:
        expect_count(params, 1)
        if parse_channel(params[0]) == self.tray.connected_slot:
            self._move(None)

    def _add_commands(self) -> None:
        t = self.table
        t.add(":ROUTe:CLOSe", self._close, lambda p: str(self.tray.connected_slot or 0))
        t.add(":ROUTe:OPEN:ALL", lambda p: self._move(None))
        t.add(":ROUTe:OPEN", self._open)
        t.add(":ROUTe:SLOTs", query=lambda p: str(self.tray.slot_count))
