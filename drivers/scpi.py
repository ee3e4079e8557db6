"""The SCPI session every driver talks through: lines out, replies in, the error queue, retries.

What it promises the drivers:

- `query` retries (after reopening the link) only commands that are safe to repeat:
  queries that read something. A command that changes a source is never re-sent
  blindly; after a failed write the link is reopened before the *next* command, and
  the failed one is reported, not repeated.
- `check_errors(after=cmd)` drains `:SYST:ERR?` and turns every entry into one
  InstrumentError that names the instrument and the command that caused it.
- replies are parsed strictly: a malformed number is an InstrumentError naming the
  instrument, the command and the reply, never a silent NaN or a Python traceback.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from drivers.protocols import ConnectionLost, InstrumentError
from drivers.transport import Transport

NUMBER_PATTERN = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
INTEGER_PATTERN = re.compile(r"^\s*[+-]?\d+\s*$")
ERROR_ENTRY_PATTERN = re.compile(r'^\s*([+-]?\d+)\s*,\s*"(.*)"\s*$')
MAX_ERROR_ENTRIES = 32  # a real queue holds 10-30 entries; more means the replies are not error entries
DEFAULT_QUERY_ATTEMPTS = 2
PARSE_FAILURE_QUIET_MS = 100
T = TypeVar("T")


class UnconfirmedCommand(ConnectionLost):
    """The link dropped after a command was sent and before anything confirmed it arrived.

    Whether the instrument applied it is unknown, so it is reported, never repeated; the
    link is already reopened, so the caller can still turn outputs off.
    """


@dataclass(frozen=True)
class ErrorEntry:
    """One entry of the SCPI error queue."""

    code: int
    message: str

    def __str__(self) -> str:
        return f'{self.code},"{self.message}"'


def parse_number(reply: str, *, instrument: str, command: str) -> float:
    """A single SCPI number (NR1/NR2/NR3). Rejects NaN, inf, blanks and trailing garbage."""
    if not NUMBER_PATTERN.match(reply):
        raise InstrumentError(f"{instrument}: reply to {command!r} is not a number: {reply!r}")
    return float(reply)


def parse_numbers(reply: str, count: int, *, instrument: str, command: str) -> tuple[float, ...]:
    """Exactly `count` comma-separated SCPI numbers."""
    fields = reply.split(",")
    if len(fields) != count:
        raise InstrumentError(
            f"{instrument}: reply to {command!r} should hold {count} comma-separated numbers, got {reply!r}"
        )
    if not all(NUMBER_PATTERN.match(field) for field in fields):
        raise InstrumentError(f"{instrument}: reply to {command!r} holds something that is not a number: {reply!r}")
    return tuple(float(field) for field in fields)


def parse_integer(reply: str, *, instrument: str, command: str) -> int:
    if not INTEGER_PATTERN.match(reply):
        # Some instruments answer integers in NR3 form ("+1.000000E+00"); accept those only if whole.
        if NUMBER_PATTERN.match(reply) and float(reply).is_integer():
            return int(float(reply))
        raise InstrumentError(f"{instrument}: reply to {command!r} is not a whole number: {reply!r}")
    return int(reply)


def parse_boolean(reply: str, *, instrument: str, command: str) -> bool:
    text = reply.strip().upper()
    if text in ("1", "ON"):
        return True
    if text in ("0", "OFF"):
        return False
    raise InstrumentError(f"{instrument}: reply to {command!r} should be 0/1 or ON/OFF, got {reply!r}")


def parse_error_entry(reply: str, *, instrument: str) -> ErrorEntry:
    match = ERROR_ENTRY_PATTERN.match(reply)
    if match is None:
        raise InstrumentError(f"{instrument}: reply to ':SYST:ERR?' is not an error-queue entry: {reply!r}")
    return ErrorEntry(int(match.group(1)), match.group(2))


def _failure_without_name(message: str, name: str) -> str:
    """`"bt4560: no reply from X within 1000 ms"` -> `"no reply from X within 1000 ms"`, to reword it in context."""
    prefix = f"{name}: "
    return message[len(prefix):] if message.startswith(prefix) else message


class ScpiSession:
    """One instrument's SCPI conversation over a Transport.

    `name` is the instrument's name in the station file; it starts every error message.
    """

    def __init__(self, transport: Transport, name: str, *, query_attempts: int = DEFAULT_QUERY_ATTEMPTS) -> None:
        if query_attempts < 1:
            raise ValueError(f"query_attempts must be >= 1, got {query_attempts}")
        self.transport = transport
        self.name = name
        self.query_attempts = query_attempts
        self._needs_reconnect = False
        self._closed = False
        self._quiet_ms: int | None = None  # how long a serial line must be quiet after the next reconnect
        self._unconfirmed: str | None = None  # last command written since the last reply arrived
        self._link_failure: str | None = None  # what went wrong with the link, for the next message
        self._idn: str | None = None

    @property
    def resource(self) -> str:
        return self.transport.resource

    def _ensure_link(self) -> None:
        """Reopen a link that failed earlier. Nothing is re-sent: the next command starts clean.

        If commands were written since the last reply, a reply would have proved they
        arrived; without one their fate is unknown and UnconfirmedCommand says so.
        """
        if self._closed:
            raise ConnectionLost(f"{self.name}: the session was closed; open the instrument again")
        if self._needs_reconnect or not self.transport.is_open:
            unconfirmed, self._unconfirmed = self._unconfirmed, None
            quiet_ms, self._quiet_ms = self._quiet_ms, None
            try:
                self.transport.reconnect(quiet_ms=quiet_ms)
            except InstrumentError as exc:
                self._needs_reconnect = True
                raise ConnectionLost(f"{exc}") from None
            self._needs_reconnect = False
            if unconfirmed is not None:
                failure = self._link_failure or f"the connection to {self.resource} dropped"
                raise UnconfirmedCommand(
                    f"{self.name}: {failure} after {unconfirmed!r} was sent; it may not have been applied"
                )

    def write(self, command: str) -> None:
        """Send one command. Never retried: a failed write is reported and the link reopened next time."""
        self._ensure_link()
        try:
            self.transport.write(command)
        except ConnectionLost as exc:
            self._needs_reconnect = True
            self._link_failure = _failure_without_name(str(exc), self.name)
            raise
        self._unconfirmed = command

    def query(self, command: str, *, idempotent: bool = True, timeout_ms: int | None = None) -> str:
        """Send `command` and return its reply line.

        An idempotent query (one that only reads) is retried after reopening the link, up
        to `query_attempts` times in all; any other is tried once. `timeout_ms` extends the
        wait for slow measurements (a 0.1 Hz impedance point takes seconds).
        """
        attempts = self.query_attempts if idempotent else 1
        last_error: ConnectionLost | None = None
        for _attempt in range(attempts):
            try:
                self._ensure_link()
                self.transport.write(command)
                reply = self.transport.read(timeout_ms=timeout_ms).strip()
                self._unconfirmed = None  # a reply proves everything sent before it arrived
                self._link_failure = None
                return reply
            except UnconfirmedCommand:
                raise
            except ConnectionLost as exc:
                self._needs_reconnect = True  # a late reply may still arrive: never read it as the next answer
                self._link_failure = _failure_without_name(str(exc), self.name)
                last_error = exc
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        raise ConnectionLost(f"{last_error}{tries}: check the connection to {self.name}") from None

    def query_parsed(self, command: str, parse: Callable[[str], T], *, idempotent: bool = True,
                     timeout_ms: int | None = None) -> T:
        """Query and parse. A reply that does not parse (line noise on a serial link) is asked for
        again, within the same bound as lost replies, only when the query is idempotent."""
        attempts = self.query_attempts if idempotent else 1
        for attempt in range(attempts):
            reply = self.query(command, idempotent=idempotent, timeout_ms=timeout_ms)
            try:
                return parse(reply)
            except ConnectionLost:
                raise
            except InstrumentError:
                # Garbled, or the answer to an earlier question: resynchronise before asking again.
                # The instrument is answering, so any reply still due is close behind: a short drain.
                self._needs_reconnect = True
                self._quiet_ms = PARSE_FAILURE_QUIET_MS
                if attempt + 1 == attempts:
                    raise
        raise AssertionError("unreachable")

    def query_number(self, command: str, **kwargs) -> float:
        return self.query_parsed(command, lambda r: parse_number(r, instrument=self.name, command=command), **kwargs)

    def query_numbers(self, command: str, count: int, **kwargs) -> tuple[float, ...]:
        return self.query_parsed(
            command, lambda r: parse_numbers(r, count, instrument=self.name, command=command), **kwargs)

    def query_integer(self, command: str, **kwargs) -> int:
        return self.query_parsed(command, lambda r: parse_integer(r, instrument=self.name, command=command), **kwargs)

    def query_boolean(self, command: str, **kwargs) -> bool:
        return self.query_parsed(command, lambda r: parse_boolean(r, instrument=self.name, command=command), **kwargs)

    @property
    def idn(self) -> str:
        """The `*IDN?` reply, read once per session (it does not change while connected)."""
        if self._idn is None:
            self._idn = self.query_parsed("*IDN?", self._parse_idn)
        return self._idn

    def _parse_idn(self, reply: str) -> str:
        if reply.count(",") < 3 or not reply.isprintable():
            raise InstrumentError(f"{self.name}: reply to '*IDN?' is not 'maker,model,serial,firmware': {reply!r}")
        return reply

    def opc(self, *, timeout_ms: int | None = None) -> None:
        """Wait for pending operations with `*OPC?`; the instrument must answer 1."""
        if self.query_integer("*OPC?", timeout_ms=timeout_ms) != 1:
            raise InstrumentError(f"{self.name}: reply to '*OPC?' should be 1")

    def reset(self) -> None:
        """`*RST` then `*CLS`, and wait until the instrument is done."""
        self.write("*RST")
        self.write("*CLS")
        self.opc()

    def clear_status(self) -> None:
        self.write("*CLS")

    def read_errors(self) -> list[ErrorEntry]:
        """Drain the error queue until `0,...`; the entries in the order the instrument queued them."""
        entries: list[ErrorEntry] = []
        for _ in range(MAX_ERROR_ENTRIES):
            entry = self.query_parsed(":SYST:ERR?", lambda r: parse_error_entry(r, instrument=self.name))
            if entry.code == 0:
                return entries
            entries.append(entry)
        raise InstrumentError(
            f"{self.name}: the error queue did not empty after {MAX_ERROR_ENTRIES} reads: reset the instrument"
        )

    def check_errors(self, *, after: str) -> None:
        """Raise InstrumentError naming `after` if the error queue holds anything."""
        entries = self.read_errors()
        if entries:
            detail = "; ".join(str(entry) for entry in entries)
            raise InstrumentError(f"{self.name}: command {after!r} failed: {detail}")

    def write_checked(self, command: str) -> None:
        """Send one command and check the error queue right after it, so an error names its cause."""
        self.write(command)
        self.check_errors(after=command)

    def close(self) -> None:
        """Close the link for good: later commands raise instead of quietly reopening it."""
        self._closed = True
        self.transport.close()


class ScpiInstrument:
    """What every SCPI driver shares: a session, identity, reset, close, and its link's line endings.

    Subclasses set the class attributes to the instrument's own terminators and default
    serial speed; `drivers.registry` reads them to open the transport.
    """

    read_termination: str = "\n"
    write_termination: str = "\n"
    default_baud_rate: int = 9600

    def __init__(self, session: ScpiSession) -> None:
        self.session = session

    @property
    def name(self) -> str:
        return self.session.name

    @property
    def idn(self) -> str:
        return self.session.idn

    def reset(self) -> None:
        self.session.reset()

    def configure(self) -> None:
        """Bring the instrument into the state the driver's methods expect; overridden per model."""

    def errors(self) -> list[ErrorEntry]:
        """Drain and return the error queue (for `bench instruments check`)."""
        return self.session.read_errors()

    def close(self) -> None:
        self.session.close()
