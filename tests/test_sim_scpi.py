"""The SCPI layer of the simulated instruments: headers, compound lines, parameters, error queue, status bits."""

from __future__ import annotations

import pytest

from drivers.sim.scpi import (
    ESR_COMMAND_ERROR,
    ESR_EXECUTION_ERROR,
    STB_ERROR_AVAILABLE,
    ScpiInstrument,
    expect_count,
    parse_choice,
    parse_float_in,
    parse_pattern,
    short_form,
)


class Meter(ScpiInstrument):
    """A tiny instrument with one numeric setting, one choice and one query-only reading."""

    def __init__(self) -> None:
        super().__init__("ACME,METER,1,1.0")
        self.level = 0.0
        self.mode = "CURR"
        self.triggers = 0
        self.table.add(":SOURce:CURRent[:LEVel]", self._set_level, lambda p: f"{self.level:g}")
        self.table.add(":SOURce:FUNCtion", self._set_mode, lambda p: self.mode)
        self.table.add(":FETCh", query=lambda p: f"{self.triggers}")

    def _set_level(self, p: list[str]) -> None:
        expect_count(p, 1)
        self.level = parse_float_in(p[0], -1.05, 1.05)

    def _set_mode(self, p: list[str]) -> None:
        expect_count(p, 1)
        self.mode = parse_choice(p[0], ("CURRent", "VOLTage"))

    def trigger(self) -> None:
        self.triggers += 1

    def reset(self) -> None:
        self.level = 0.0


@pytest.fixture()
def meter() -> Meter:
    return Meter()


def test_short_form_and_pattern_nodes() -> None:
    assert short_form("FREQuency") == "FREQ"
    assert short_form("RV") == "RV"
    nodes = parse_pattern(":SOURce:CURRent[:LEVel]")
    assert [(n.short, n.long, n.optional) for n in nodes] == [
        ("SOUR", "SOURCE", False), ("CURR", "CURRENT", False), ("LEV", "LEVEL", True)]


@pytest.mark.parametrize("header", [":SOUR:CURR", "SOUR:CURR", ":source:current", ":SoUrCe:CuRr:LeV", "SOURCE:CURRENT:LEVEL"])
def test_short_long_any_case_and_optional_nodes(meter: Meter, header: str) -> None:
    assert meter.handle_line(f"{header} 0.25") is None
    assert meter.handle_line(f"{header}?") == "0.25"
    assert meter.handle_line(":SYST:ERR?") == '0,"No error"'


def test_partial_mnemonics_are_not_headers(meter: Meter) -> None:
    meter.handle_line(":SOURC:CURR 0.5")  # neither short nor long form
    assert meter.handle_line(":SYST:ERR?") == '-113,"Undefined header"'
    assert meter.level == 0.0


@pytest.mark.parametrize("number", ["0.5", "+0.5", "5e-1", "5E-1", ".5", "+500.0E-3"])
def test_numbers_in_any_float_form(meter: Meter, number: str) -> None:
    meter.handle_line(f":SOUR:CURR {number}")
    assert meter.level == pytest.approx(0.5)


def test_compound_line_with_relative_path_and_joined_replies(meter: Meter) -> None:
    # `CURR?` after `:SOUR:FUNC ...` continues the SOURce path; replies of one line are joined with ';'
    assert meter.handle_line(":SOUR:FUNC VOLT;CURR 0.1;:SOUR:CURR?;FUNC?") == "0.1;VOLT"


def test_trigger_wait_fetch_as_one_line(meter: Meter) -> None:
    assert meter.handle_line("*TRG;*WAI;FETCH?") == "1"
    assert meter.handle_line("*trg;*wai;:fetc?") == "2"


def test_errors_go_to_the_queue_in_order_and_set_esr_bits(meter: Meter) -> None:
    meter.handle_line(":NOPE 1")
    meter.handle_line(":SOUR:CURR 2")
    meter.handle_line(":SOUR:CURR")
    assert int(meter.handle_line("*STB?")) & STB_ERROR_AVAILABLE
    assert meter.handle_line(":SYST:ERR?") == '-113,"Undefined header"'
    assert meter.handle_line(":SYSTem:ERRor:NEXT?") == '-222,"Data out of range"'
    assert meter.handle_line(":syst:err?") == '-109,"Missing parameter"'
    assert meter.handle_line(":SYST:ERR?") == '0,"No error"'
    esr = int(meter.handle_line("*ESR?"))
    assert esr & ESR_COMMAND_ERROR and esr & ESR_EXECUTION_ERROR
    assert meter.handle_line("*ESR?") == "0"  # reading clears it
    assert meter.level == 0.0


def test_query_of_a_setting_only_command_and_set_of_a_query_are_undefined(meter: Meter) -> None:
    meter.handle_line("*RST?")
    meter.handle_line(":FETCH 3")
    assert meter.handle_line(":SYST:ERR?;:SYST:ERR?") == '-113,"Undefined header";-113,"Undefined header"'


def test_error_discards_the_rest_of_the_line(meter: Meter) -> None:
    assert meter.handle_line(":SOUR:CURR 9;:SOUR:CURR?") is None
    assert meter.handle_line(":SYST:ERR?") == '-222,"Data out of range"'


def test_bad_choice_and_not_a_number(meter: Meter) -> None:
    meter.handle_line(":SOUR:FUNC RES")
    meter.handle_line(":SOUR:CURR abc")
    assert meter.handle_line(":SYST:ERR?") == '-224,"Illegal parameter value"'
    assert meter.handle_line(":SYST:ERR?") == '-104,"Data type error"'


def test_common_commands(meter: Meter) -> None:
    assert meter.handle_line("*IDN?") == "ACME,METER,1,1.0"
    assert meter.handle_line("*OPC?") == "1"
    meter.handle_line("*OPC")
    assert int(meter.handle_line("*ESR?")) & 1
    meter.handle_line("*ESE 32")
    assert meter.handle_line("*ESE?") == "32"
    meter.handle_line(":BAD")
    assert int(meter.handle_line("*STB?")) & (1 << 5)  # ESB: a command error is enabled in ESE
    assert not int(meter.handle_line("*STB?")) & (1 << 6)  # no service request enabled yet
    meter.handle_line("*SRE 32")
    assert meter.handle_line("*SRE?") == "32"
    assert int(meter.handle_line("*STB?")) & (1 << 6)  # MSS follows ESB & SRE
    meter.handle_line("*CLS")
    assert meter.handle_line("*STB?") == "0"
    assert meter.handle_line(":SYST:ERR?") == '0,"No error"'
    meter.handle_line(":SOUR:CURR 0.3;*RST")
    assert meter.level == 0.0


def test_error_queue_overflow_keeps_the_oldest_and_marks_overflow(meter: Meter) -> None:
    for _ in range(15):
        meter.handle_line(":BAD")
    replies = [meter.handle_line(":SYST:ERR?") for _ in range(11)]
    assert replies[:9] == ['-113,"Undefined header"'] * 9
    assert replies[9] == '-350,"Queue overflow"'
    assert replies[10] == '0,"No error"'


def _spellings(draw, node) -> str:
    from hypothesis import strategies as st

    form = draw(st.sampled_from([node.short, node.long]))
    return "".join(draw(st.sampled_from([ch.lower(), ch.upper()])) for ch in form)


def test_every_keithley_header_resolves_in_any_spelling() -> None:
    """Property: any mix of short/long forms and case, with or without optional nodes, finds the same command."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from drivers.clock import ScaledClock
    from drivers.sim.keithley2400 import Keithley2400
    from drivers.sim.tray import make_tray

    instrument = Keithley2400(make_tray(1, seed=0), ScaledClock(1.0), seed=0)
    commands = [c for c in instrument.table.commands if not c.nodes[0].short.startswith("*")]

    @settings(max_examples=150, deadline=None)
    @given(st.data())
    def check(data) -> None:
        command = data.draw(st.sampled_from(commands))
        tokens = []
        for node in command.nodes:
            if node.optional and data.draw(st.booleans()):
                continue
            tokens.append(_spellings(data.draw, node))
        header = data.draw(st.sampled_from(["", ":"])) + ":".join(tokens)
        found = instrument.table.find(tuple(header.lstrip(":").split(":")))
        assert found is command, header

    check()
