"""The tray switch: a relay matrix that connects one slot (1-based) of the cell tray to the instruments.

`:ROUT:CLOS (@n)` connects slot n (and disconnects the one before), `:ROUT:CLOS?`
answers the connected slot or 0, `:ROUT:OPEN:ALL` disconnects everything and
`:ROUT:SLOT?` gives the number of slots. The switch refuses to move while a source
output is on (`-221,"Settings conflict"`): hot-switching a loaded cell arcs the relays.
That refusal reaches the caller as an InstrumentError that says what to do.
"""

from __future__ import annotations

from drivers.protocols import InstrumentError
from drivers.scpi import ScpiInstrument, ScpiSession

SETTINGS_CONFLICT = -221


class TraySwitch(ScpiInstrument):
    """Switch over the tray switch's SCPI command set."""

    read_termination = "\n"
    write_termination = "\n"
    default_baud_rate = 9600

    def __init__(self, session: ScpiSession) -> None:
        super().__init__(session)
        self._slot_count: int | None = None

    @property
    def slot_count(self) -> int:
        """Number of slots (`:ROUT:SLOT?`), read once: the hardware does not change while connected."""
        if self._slot_count is None:
            count = self.session.query_integer(":ROUT:SLOT?")
            if count < 1:
                raise InstrumentError(f"{self.name}: reply to ':ROUT:SLOT?' should be 1 or more, got {count}")
            self._slot_count = count
        return self._slot_count

    def configure(self) -> None:
        self.session.clear_status()
        _ = self.slot_count

    def connect_slot(self, slot: int) -> None:
        if isinstance(slot, bool) or not isinstance(slot, int) or not 1 <= slot <= self.slot_count:
            raise InstrumentError(f"{self.name}: slot {slot!r} does not exist; the tray has slots 1..{self.slot_count}")
        command = f":ROUT:CLOS (@{slot})"
        self.session.write(command)
        entries = self.session.read_errors()
        if any(entry.code == SETTINGS_CONFLICT for entry in entries):
            raise InstrumentError(
                f"{self.name}: the switch refused {command!r} ({'; '.join(map(str, entries))}): "
                "a source output is on; turn it off before changing slots"
            )
        if entries:
            raise InstrumentError(f"{self.name}: command {command!r} failed: {'; '.join(map(str, entries))}")

    def connected_slot(self) -> int | None:
        slot = self.session.query_integer(":ROUT:CLOS?")
        if slot == 0:
            return None
        if not 1 <= slot <= self.slot_count:
            raise InstrumentError(f"{self.name}: reply to ':ROUT:CLOS?' names slot {slot}, outside 1..{self.slot_count}")
        return slot

    def disconnect_all(self) -> None:
        self.session.write_checked(":ROUT:OPEN:ALL")
