"""SCPI command parsing and dispatch, the error queue and IEEE 488.2 status registers, shared by every simulated instrument.

An instrument declares its commands as header patterns in the manuals' notation
(`:SOURce:CURRent[:LEVel]`: upper case is the short form, `[...]` is optional) with a
set handler and/or a query handler. `ScpiInstrument.handle_line` splits a line into
`;`-separated commands, resolves each header (case-insensitive, short or long form,
optional leading ':', a header without ':' continues the previous command's path),
runs it, and joins the query replies with ';' into one reply line. Errors go to the
error queue with the standard codes and set the matching ESR bit.
"""

from __future__ import annotations

import math
import re
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

ERROR_QUEUE_DEPTH = 10

# Standard Event Status Register bits (IEEE 488.2)
ESR_OPC = 1 << 0
ESR_QUERY_ERROR = 1 << 2
ESR_DEVICE_ERROR = 1 << 3
ESR_EXECUTION_ERROR = 1 << 4
ESR_COMMAND_ERROR = 1 << 5
# Status Byte bits
STB_ERROR_AVAILABLE = 1 << 2
STB_ESB = 1 << 5
STB_MSS = 1 << 6


class ScpiError(Exception):
    """A command failed: `code` and `text` go to the error queue exactly as the instrument reports them."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f'{code},"{text}"')
        self.code = code
        self.text = text


def undefined_header() -> ScpiError:
    return ScpiError(-113, "Undefined header")


def out_of_range() -> ScpiError:
    return ScpiError(-222, "Data out of range")


def missing_parameter() -> ScpiError:
    return ScpiError(-109, "Missing parameter")


def settings_conflict() -> ScpiError:
    return ScpiError(-221, "Settings conflict")


# ---------------------------------------------------------------- parameters

def expect_count(params: Sequence[str], count: int) -> None:
    """Exactly `count` parameters, else -109 (too few) or -108 (too many)."""
    if len(params) < count:
        raise missing_parameter()
    if len(params) > count:
        raise ScpiError(-108, "Parameter not allowed")


def parse_float(text: str) -> float:
    """A SCPI numeric value in any float form (`1e-3`, `+1.0E+0`, `.5`); -104 if it is not a number."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ScpiError(-104, "Data type error") from None
    if not math.isfinite(value):
        raise ScpiError(-104, "Data type error")
    return value


def parse_float_in(text: str, low: float, high: float) -> float:
    """A number within [low, high]; MIN/MAX accepted; -222 outside."""
    word = text.strip().upper()
    if word in ("MIN", "MINIMUM"):
        return low
    if word in ("MAX", "MAXIMUM"):
        return high
    value = parse_float(text)
    if not low <= value <= high:
        raise out_of_range()
    return value


def parse_bool(text: str) -> bool:
    """ON|OFF|1|0 (numbers are rounded, as SCPI allows); -224 for anything else."""
    word = text.strip().upper()
    if word == "ON":
        return True
    if word == "OFF":
        return False
    try:
        return round(float(word)) != 0
    except ValueError:
        raise ScpiError(-224, "Illegal parameter value") from None


def parse_choice(text: str, choices: Sequence[str]) -> str:
    """One of `choices` given in manual notation (`MEDium`), short or long form; returns the short form."""
    word = unquote(text).strip().upper()
    for choice in choices:
        short = short_form(choice)
        if word in (short, choice.upper()):
            return short
    raise ScpiError(-224, "Illegal parameter value")


def unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def short_form(mnemonic: str) -> str:
    """`FREQuency` -> `FREQ`; an all-upper mnemonic is its own short form."""
    short = "".join(ch for ch in mnemonic if ch.isupper() or ch.isdigit() or ch == "*" or ch == "?")
    return short or mnemonic.upper()


def bool_reply(value: bool) -> str:
    return "1" if value else "0"


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """Split on `separator` except inside single or double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current.append(ch)
        elif ch == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


# ---------------------------------------------------------------- command table

@dataclass(frozen=True)
class Node:
    """One header level: its short and long forms, and whether it may be left out."""

    short: str
    long: str
    optional: bool

    def matches(self, token: str) -> bool:
        token = token.upper()
        if token in (self.short, self.long):
            return True
        # a numeric suffix of 1 is the default instance (SENSe1, OUTPut1)
        stripped = token.rstrip("0123456789")
        return stripped != token and token[len(stripped):] == "1" and stripped in (self.short, self.long)


def parse_pattern(pattern: str) -> tuple[Node, ...]:
    """`:SOURce:CURRent[:LEVel]` -> nodes; `*IDN` -> one node."""
    nodes: list[Node] = []
    for optional, mnemonic in re.findall(r"(\[?):?([*A-Za-z0-9]+)\]?", pattern):
        nodes.append(Node(short_form(mnemonic), mnemonic.upper(), optional == "["))
    return tuple(nodes)


Handler = Callable[[list[str]], str | None]


@dataclass
class Command:
    nodes: tuple[Node, ...]
    setter: Handler | None
    query: Handler | None

    def matches(self, tokens: Sequence[str]) -> bool:
        return _match(self.nodes, tuple(tokens))


def _match(nodes: tuple[Node, ...], tokens: tuple[str, ...]) -> bool:
    if not nodes:
        return not tokens
    head, rest = nodes[0], nodes[1:]
    if tokens and head.matches(tokens[0]) and _match(rest, tokens[1:]):
        return True
    return head.optional and _match(rest, tokens)


@dataclass
class CommandTable:
    """The commands of one instrument, looked up by the tokens of a header."""

    commands: list[Command] = field(default_factory=list)

    def add(self, pattern: str, setter: Handler | None = None, query: Handler | None = None) -> None:
        self.commands.append(Command(parse_pattern(pattern), setter, query))

    def find(self, tokens: Sequence[str]) -> Command | None:
        return next((command for command in self.commands if command.matches(tokens)), None)


# ---------------------------------------------------------------- instrument base

@dataclass
class StatusRegisters:
    """Error queue, Standard Event Status Register and its enable mask."""

    errors: deque[tuple[int, str]] = field(default_factory=deque)
    esr: int = 0
    ese: int = 0
    sre: int = 0

    def push_error(self, code: int, text: str) -> None:
        if len(self.errors) >= ERROR_QUEUE_DEPTH:
            self.errors[-1] = (-350, "Queue overflow")
        else:
            self.errors.append((code, text))
        if -199 <= code <= -100:
            self.esr |= ESR_COMMAND_ERROR
        elif -299 <= code <= -200:
            self.esr |= ESR_EXECUTION_ERROR
        elif -399 <= code <= -300 or code > 0:
            self.esr |= ESR_DEVICE_ERROR
        elif -499 <= code <= -400:
            self.esr |= ESR_QUERY_ERROR

    def pop_error(self) -> str:
        code, text = self.errors.popleft() if self.errors else (0, "No error")
        return f'{code},"{text}"'

    def stb(self) -> int:
        value = 0
        if self.errors:
            value |= STB_ERROR_AVAILABLE
        if self.esr & self.ese:
            value |= STB_ESB
        if value & self.sre & ~STB_MSS:
            value |= STB_MSS
        return value

    def clear(self) -> None:
        self.errors.clear()
        self.esr = 0


class ScpiInstrument:
    """Base of every simulated instrument: common commands, error queue, and line handling.

    Subclasses call `super().__init__`, then register their commands in `self.table`,
    and override `reset` and `trigger`. `before_command` runs before each line (the
    simulated instruments advance the tray there).
    """

    terminator = "\n"

    def __init__(self, idn: str) -> None:
        self.idn = idn
        self.status = StatusRegisters()
        self.table = CommandTable()
        self.lock = threading.RLock()
        self._add_common_commands()

    # hooks
    def reset(self) -> None:
        """*RST: the instrument's default settings."""

    def trigger(self) -> None:
        """*TRG: a bus trigger."""

    def before_command(self) -> None:
        """Runs once before each line is executed."""

    def _add_common_commands(self) -> None:
        t = self.table
        t.add("*IDN", query=lambda p: self.idn)
        t.add("*RST", setter=lambda p: self.reset())
        t.add("*CLS", setter=lambda p: self.status.clear())
        t.add("*OPC", setter=self._set_opc, query=lambda p: "1")
        t.add("*ESR", query=self._query_esr)
        t.add("*ESE", setter=self._set_ese, query=lambda p: str(self.status.ese))
        t.add("*SRE", setter=self._set_sre, query=lambda p: str(self.status.sre))
        t.add("*STB", query=lambda p: str(self.status.stb()))
        t.add("*WAI", setter=lambda p: None)
        t.add("*TRG", setter=lambda p: self.trigger())
        t.add("*TST", query=lambda p: "0")
        t.add(":SYSTem:ERRor[:NEXT]", query=lambda p: self.status.pop_error())
        t.add(":SYSTem:ERRor:COUNt", query=lambda p: str(len(self.status.errors)))
        t.add(":SYSTem:VERSion", query=lambda p: "1999.0")

    def _set_opc(self, params: list[str]) -> None:
        self.status.esr |= ESR_OPC

    def _query_esr(self, params: list[str]) -> str:
        value, self.status.esr = self.status.esr, 0
        return str(value)

    def _set_ese(self, params: list[str]) -> None:
        expect_count(params, 1)
        self.status.ese = int(parse_float_in(params[0], 0, 255))

    def _set_sre(self, params: list[str]) -> None:
        expect_count(params, 1)
        self.status.sre = int(parse_float_in(params[0], 0, 255)) & ~STB_MSS

    def push_error(self, code: int, text: str) -> None:
        with self.lock:
            self.status.push_error(code, text)

    def handle_line(self, line: str) -> str | None:
        """Execute one line of commands; the reply line (without terminator), or None if nothing was queried."""
        with self.lock:
            self.before_command()
            replies: list[str] = []
            path: tuple[str, ...] = ()
            for raw in split_outside_quotes(line.strip(), ";"):
                text = raw.strip()
                if not text:
                    continue
                try:
                    reply, path = self._execute(text, path)
                except ScpiError as exc:
                    self.status.push_error(exc.code, exc.text)
                    break  # the rest of the message is discarded after an error
                except Exception:  # a bug in the simulator: report it like a real instrument would, keep serving
                    traceback.print_exc(file=sys.stderr)
                    self.status.push_error(-300, "Device-specific error")
                    break
                if reply is not None:
                    replies.append(reply)
            return ";".join(replies) if replies else None

    def _execute(self, text: str, path: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
        header, _, argument = text.partition(" ")
        header = header.strip()
        if "\t" in header:
            header, _, more = header.partition("\t")
            argument = f"{more} {argument}"
        is_query = header.endswith("?")
        if is_query:
            header = header[:-1]
        params = [p.strip() for p in split_outside_quotes(argument.strip(), ",")] if argument.strip() else []
        if header.startswith("*"):
            tokens: tuple[str, ...] = (header.upper(),)
            command = self.table.find(tokens)
            next_path = path
        else:
            absolute = header.startswith(":")
            tokens = tuple(t for t in header.lstrip(":").split(":"))
            if not all(tokens) or not all(re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", t) for t in tokens):
                raise ScpiError(-102, "Syntax error") if not all(tokens) else undefined_header()
            command = None
            if not absolute and path:
                command = self.table.find(path + tokens)
                if command is not None:
                    tokens = path + tokens
            if command is None:
                command = self.table.find(tokens)
            next_path = tokens[:-1]
        if command is None:
            raise undefined_header()
        handler = command.query if is_query else command.setter
        if handler is None:
            raise undefined_header()
        try:
            reply = handler(params)
        except IndexError:
            raise missing_parameter() from None
        return (reply if is_query else None), next_path
