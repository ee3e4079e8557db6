"""Fault injection: parse a fault spec and decide, command by command, what goes wrong.

Spec: `<instrument>:<kind>=<value>[,<kind>=<value>...][;<instrument>:...]`, e.g.
`keithley2400:drop_after=40;bt4560:delay_ms=300,corrupt_every=7`. Transport faults
(`delay_ms`, `no_reply_after`, `drop_after`, `corrupt_every`, `error_after`) act on the
named instrument's connection; `open_lead` acts on that instrument's leads; `reversed`
and `over_temp` are properties of a cell in the tray, whichever instrument names them.
Counts are of command lines received by the instrument, 1-based, across connections.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

INSTRUMENT_NAMES = ("bt4560", "keithley2400", "keithley2281s", "switch", "tray")
TRANSPORT_KINDS = ("delay_ms", "no_reply_after", "drop_after", "corrupt_every", "error_after")
SLOT_KINDS = ("open_lead", "reversed", "over_temp")


@dataclass
class InstrumentFaults:
    """The faults of one instrument, and the counters that decide when they strike."""

    delay_ms: float = 0.0
    no_reply_after: int | None = None
    drop_after: int | None = None
    corrupt_every: int | None = None
    error_after: int | None = None
    open_lead: set[int] = field(default_factory=set)
    commands_seen: int = 0
    replies_sent: int = 0
    dropped: bool = False
    error_pushed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_command(self) -> "CommandFate":
        """Count one received command line and say what happens to it."""
        with self.lock:
            self.commands_seen += 1
            n = self.commands_seen
            drop = self.drop_after is not None and n >= self.drop_after and not self.dropped
            if drop:
                self.dropped = True
            push_error = self.error_after is not None and n >= self.error_after and not self.error_pushed
            if push_error:
                self.error_pushed = True
            silent = self.no_reply_after is not None and n >= self.no_reply_after
            return CommandFate(drop_connection=drop, silent=silent, push_system_error=push_error)

    def on_reply(self, reply: str) -> str:
        """Count one reply; garble it if it is the k-th; sleep is the transport's job (`delay_ms`)."""
        with self.lock:
            self.replies_sent += 1
            if self.corrupt_every and self.replies_sent % self.corrupt_every == 0:
                return garble(reply)
            return reply


@dataclass(frozen=True)
class CommandFate:
    drop_connection: bool
    silent: bool
    push_system_error: bool


def garble(reply: str) -> str:
    """A reply that arrived damaged: the middle bytes replaced, so it no longer parses."""
    middle = len(reply) // 2
    return reply[:middle] + "#\x7f?" + reply[middle + 1:]


@dataclass
class FaultPlan:
    """Every fault of a station, by instrument name, plus the tray's cell faults."""

    instruments: dict[str, InstrumentFaults] = field(default_factory=dict)
    reversed_slots: set[int] = field(default_factory=set)
    over_temp_slots: set[int] = field(default_factory=set)

    def for_instrument(self, name: str) -> InstrumentFaults:
        return self.instruments.setdefault(name, InstrumentFaults())


def parse_faults(spec: str | None) -> FaultPlan:
    """Parse a fault spec; ValueError with one line naming the bad part and the allowed forms."""
    plan = FaultPlan()
    if not spec or not spec.strip():
        return plan
    for clause in spec.split(";"):
        clause = clause.strip()
        if not clause:
            continue
        name, sep, body = clause.partition(":")
        name = name.strip().lower()
        if not sep or name not in INSTRUMENT_NAMES:
            raise ValueError(
                f"fault spec {clause!r}: start with an instrument name ({', '.join(INSTRUMENT_NAMES)}) and a colon, "
                "e.g. 'bt4560:delay_ms=300'"
            )
        faults = plan.for_instrument(name)
        for item in body.split(","):
            kind, eq, value_text = item.strip().partition("=")
            kind = kind.strip().lower()
            if not eq or kind not in TRANSPORT_KINDS + SLOT_KINDS:
                raise ValueError(
                    f"fault spec {clause!r}: {item.strip()!r} is not <kind>=<value> with kind one of "
                    f"{', '.join(TRANSPORT_KINDS + SLOT_KINDS)}"
                )
            try:
                value = float(value_text) if kind == "delay_ms" else int(value_text)
            except ValueError:
                raise ValueError(f"fault spec {clause!r}: {kind} needs a number, got {value_text.strip()!r}") from None
            if value < (0 if kind == "delay_ms" else 1):
                raise ValueError(f"fault spec {clause!r}: {kind} must be {'>= 0' if kind == 'delay_ms' else '>= 1'}")
            if kind == "open_lead":
                faults.open_lead.add(int(value))
            elif kind == "reversed":
                plan.reversed_slots.add(int(value))
            elif kind == "over_temp":
                plan.over_temp_slots.add(int(value))
            else:
                setattr(faults, kind, value)
    return plan
