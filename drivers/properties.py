"""Declarative instrument settings: one line per setting, its query form as getter.

A driver class declares, e.g.::

    frequency_hz = setting(":FREQ {:.6g}", ":FREQ?", validator=in_range(0.1, 1050.0), parse=as_float,
                           doc="Measurement frequency of the next impedance point.")

Reading `meter.frequency_hz` sends the query and parses the reply strictly; assigning
validates the value first (SettingOutOfRange, before anything is sent), writes the
command and checks the error queue so that an instrument-side refusal names the exact
command. The owning object only needs a `session` attribute (a `drivers.scpi.ScpiSession`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Generic, TypeVar

from drivers.protocols import InstrumentError
from drivers.scpi import ScpiSession, parse_boolean, parse_integer, parse_number

T = TypeVar("T")

Validator = Callable[[Any], Any]
Parser = Callable[[str, str, str], Any]  # (reply, instrument, command) -> value


class SettingOutOfRange(InstrumentError, ValueError):
    """A value outside what the instrument accepts; raised before anything is sent."""


class InvalidValue(ValueError):
    """Raised by a validator; the Setting adds the instrument and setting names."""


def in_range(low: float, high: float) -> Validator:
    """A finite number with low <= value <= high."""

    def validate(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidValue(f"{value!r} is not a number") from None
        if not math.isfinite(number) or not low <= number <= high:
            raise InvalidValue(f"{value!r} is outside {low:g}..{high:g}")
        return number

    return validate


def int_in_range(low: int, high: int) -> Validator:
    """A whole number with low <= value <= high."""

    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
            raise InvalidValue(f"{value!r} is not a whole number")
        if not low <= value <= high:
            raise InvalidValue(f"{value!r} is outside {low}..{high}")
        return int(value)

    return validate


def one_of(*choices: str) -> Validator:
    """A keyword from `choices`, any case; sent in the spelling given here."""
    canonical = {choice.upper(): choice for choice in choices}

    def validate(value: Any) -> str:
        if not isinstance(value, str) or value.strip().upper() not in canonical:
            raise InvalidValue(f"{value!r} is not one of {', '.join(choices)}")
        return canonical[value.strip().upper()]

    return validate


def discrete(*values: float, rel_tol: float = 1e-6) -> Validator:
    """One of a few numbers (e.g. measurement ranges); returns the listed value itself."""

    def validate(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidValue(f"{value!r} is not a number") from None
        for allowed in values:
            if math.isclose(number, allowed, rel_tol=rel_tol):
                return allowed
        raise InvalidValue(f"{value!r} is not one of {', '.join(f'{v:g}' for v in values)}")

    return validate


def on_off(value: Any) -> str:
    """True/False (or 'ON'/'OFF', 1/0) as the SCPI keyword ON/OFF."""
    if isinstance(value, str) and value.strip().upper() in ("ON", "OFF"):
        return value.strip().upper()
    if isinstance(value, bool) or value in (0, 1):
        return "ON" if value else "OFF"
    raise InvalidValue(f"{value!r} is not on/off")


def as_float(reply: str, instrument: str, command: str) -> float:
    return parse_number(reply, instrument=instrument, command=command)


def as_int(reply: str, instrument: str, command: str) -> int:
    return parse_integer(reply, instrument=instrument, command=command)


def as_bool(reply: str, instrument: str, command: str) -> bool:
    return parse_boolean(reply, instrument=instrument, command=command)


def as_keyword(*choices: str) -> Parser:
    """The reply must be one of `choices` (short or long form, any case); returns the listed spelling.

    Replies that echo a selector first (`Z,MED` to `:SAMP:RATE? Z`) are judged by their last field.
    """

    def parse(reply: str, instrument: str, command: str) -> str:
        word = reply.strip().split(",")[-1].strip().strip('"').upper()
        for choice in choices:
            if word == choice.upper():
                return choice
        for choice in choices:  # short form answered for a long-form choice, or the other way round
            upper = choice.upper()
            if len(word) >= 3 and len(upper) >= 3 and (upper.startswith(word) or word.startswith(upper)):
                return choice
        raise InstrumentError(
            f"{instrument}: reply to {command!r} should be one of {', '.join(choices)}, got {reply!r}"
        )

    return parse


class Setting(Generic[T]):
    """A descriptor: get = query and parse; set = validate, write, check the error queue."""

    def __init__(
        self,
        set_format: str | None,
        query: str | None,
        *,
        validator: Validator | None = None,
        parse: Parser = as_float,
        check_errors: bool = True,
        doc: str = "",
    ) -> None:
        self.set_format = set_format
        self.query = query
        self.validator = validator
        self.parse = parse
        self.check_errors = check_errors
        self.__doc__ = doc
        self.attribute = "<setting>"

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        if self.query is None:
            raise AttributeError(f"{self.attribute} can be set but not read back")
        session: ScpiSession = instance.session
        query = self.query
        return session.query_parsed(query, lambda reply: self.parse(reply, session.name, query))

    def command_for(self, value: Any, instrument: str = "instrument") -> str:
        """The command that would set `value`; raises SettingOutOfRange before anything is sent."""
        if self.set_format is None:
            raise AttributeError(f"{self.attribute} is read-only")
        if self.validator is not None:
            try:
                value = self.validator(value)
            except InvalidValue as exc:
                raise SettingOutOfRange(f"{instrument}: {self.attribute} {exc}") from None
        return self.set_format.format(value)

    def __set__(self, instance: Any, value: Any) -> None:
        session: ScpiSession = instance.session
        command = self.command_for(value, session.name)
        session.write(command)
        if self.check_errors:
            session.check_errors(after=command)


def setting(
    set_format: str | None,
    query: str | None,
    *,
    validator: Validator | None = None,
    parse: Parser = as_float,
    check_errors: bool = True,
    doc: str = "",
) -> Any:
    """Declare a setting (see the module docstring). Typed `Any` so drivers can annotate the attribute."""
    return Setting(set_format, query, validator=validator, parse=parse, check_errors=check_errors, doc=doc)
