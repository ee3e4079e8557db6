"""The SCPI session and the reply parsers, against recorded replies and a tiny scripted TCP server.

The scripted server only answers what each test tells it to; the drivers' full feature
sets are tested against the simulated instruments in test_drivers_*.py.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from drivers.protocols import ConnectionLost, InstrumentError
from drivers.scpi import (
    ScpiSession,
    UnconfirmedCommand,
    parse_boolean,
    parse_error_entry,
    parse_integer,
    parse_number,
    parse_numbers,
)
from drivers.transport import ResourceUnavailable, TransportSettings, open_transport

Handler = Callable[[str], "str | None | Ellipsis"]  # reply, None for no reply, ... to drop the connection


class ScriptedServer:
    """A TCP server on 127.0.0.1 answering each LF-terminated line through `handler`; records what it got."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.received: list[str] = []
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def resource(self) -> str:
        return f"TCPIP0::127.0.0.1::{self.port}::SOCKET"

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        buffer = b""
        conn.settimeout(0.1)
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    command = line.decode().strip()
                    self.received.append(command)
                    reply = self.handler(command)
                    if reply is ...:
                        return  # drop the connection without answering
                    if reply is not None:
                        conn.sendall(reply.encode() + b"\n")

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=2)


@pytest.fixture
def server_factory() -> Iterator[Callable[[Handler], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(handler: Handler) -> ScriptedServer:
        servers.append(ScriptedServer(handler))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def session_for(server: ScriptedServer, *, timeout_ms: int = 500) -> ScpiSession:
    transport = open_transport(server.resource, TransportSettings(timeout_ms=timeout_ms), name="dut")
    return ScpiSession(transport, "dut")


# --- parsers on recorded replies -------------------------------------------------------------

@pytest.mark.parametrize(("reply", "value"), [
    ("+28.512E-3", 28.512e-3), ("-1.204E-3", -1.204e-3), ("3.7121", 3.7121), ("1", 1.0), (".5", 0.5),
    (" +3.712345E+00 ", 3.712345), ("9.91E37", 9.91e37),
])
def test_parse_number_accepts_scpi_numbers(reply: str, value: float) -> None:
    assert parse_number(reply, instrument="m", command=":X?") == pytest.approx(value)


@pytest.mark.parametrize("reply", ["", "nan", "inf", "1.2.3", "+3.71V", "3,7", "E5", "0x10", "3.7\x00", "--1"])
def test_parse_number_rejects_malformed_replies_naming_instrument_command_and_reply(reply: str) -> None:
    with pytest.raises(InstrumentError) as caught:
        parse_number(reply, instrument="bt4560", command=":MEAS:TEMP?")
    message = str(caught.value)
    assert message.startswith("bt4560: ") and "':MEAS:TEMP?'" in message and repr(reply) in message


def test_parse_numbers_checks_count_and_every_field() -> None:
    assert parse_numbers("+28.512E-3,-1.204E-3,+3.7121E+0", 3, instrument="m", command="c") == pytest.approx(
        (28.512e-3, -1.204e-3, 3.7121))
    with pytest.raises(InstrumentError, match="3 comma-separated"):
        parse_numbers("+28.512E-3,-1.204E-3", 3, instrument="m", command="c")
    with pytest.raises(InstrumentError, match="not a number"):
        parse_numbers("+28.512E-3,#!,+3.7", 3, instrument="m", command="c")


def test_parse_integer_boolean_and_error_entries() -> None:
    assert parse_integer("+8", instrument="m", command="c") == 8
    assert parse_integer("+8.000000E+00", instrument="m", command="c") == 8
    with pytest.raises(InstrumentError):
        parse_integer("8.5", instrument="m", command="c")
    assert parse_boolean("1", instrument="m", command="c") is True
    assert parse_boolean("OFF", instrument="m", command="c") is False
    with pytest.raises(InstrumentError):
        parse_boolean("2", instrument="m", command="c")
    entry = parse_error_entry('-222,"Data out of range"', instrument="m")
    assert (entry.code, entry.message, str(entry)) == (-222, "Data out of range", '-222,"Data out of range"')
    assert parse_error_entry('0,"No error"', instrument="m").code == 0
    with pytest.raises(InstrumentError, match="not an error-queue entry"):
        parse_error_entry("garbage", instrument="m")


# --- the session over a real TCP socket ------------------------------------------------------

def test_check_errors_drains_the_queue_and_names_the_command(server_factory) -> None:
    queue = ['-222,"Data out of range"', '-113,"Undefined header"']

    def handler(command: str) -> str | None:
        if command == ":SYST:ERR?":
            return queue.pop(0) if queue else '0,"No error"'
        return None

    server = server_factory(handler)
    session = session_for(server)
    try:
        session.write(":SOUR:CURR 5")
        with pytest.raises(InstrumentError) as caught:
            session.check_errors(after=":SOUR:CURR 5")
        assert str(caught.value) == (
            "dut: command ':SOUR:CURR 5' failed: -222,\"Data out of range\"; -113,\"Undefined header\"")
        session.check_errors(after="*CLS")  # the queue is empty now
        assert server.received.count(":SYST:ERR?") == 4
    finally:
        session.close()


def test_idn_is_read_once_and_checked(server_factory) -> None:
    server = server_factory(lambda c: "ACME,MODEL 1,42,1.0" if c == "*IDN?" else None)
    session = session_for(server)
    try:
        assert session.idn == "ACME,MODEL 1,42,1.0"
        assert session.idn == "ACME,MODEL 1,42,1.0"
        assert server.received == ["*IDN?"]
    finally:
        session.close()


def test_idempotent_query_is_retried_over_a_new_connection_after_a_drop(server_factory) -> None:
    calls = {"n": 0}

    def handler(command: str):
        calls["n"] += 1
        return ... if calls["n"] == 1 else "+1.5"

    server = server_factory(handler)
    session = session_for(server)
    try:
        assert session.query_number(":MEAS:TEMP?") == 1.5
        assert server.connections == 2
        assert server.received == [":MEAS:TEMP?", ":MEAS:TEMP?"]
    finally:
        session.close()


def test_a_silent_instrument_gives_a_clear_error_within_the_bounded_retries(server_factory) -> None:
    server = server_factory(lambda c: None)
    session = session_for(server, timeout_ms=200)
    try:
        start = time.monotonic()
        with pytest.raises(ConnectionLost) as caught:
            session.query(":READ?")
        elapsed_s = time.monotonic() - start
        assert elapsed_s < 2.0
        message = str(caught.value)
        assert "dut" in message and server.resource in message and "2 attempts" in message
        assert server.received == [":READ?", ":READ?"]
    finally:
        session.close()


def test_a_write_lost_in_a_drop_is_reported_not_resent(server_factory) -> None:
    def handler(command: str):
        if command.startswith(":SOUR:CURR"):
            return ...  # the instrument closes the link on this command
        if command == ":SYST:ERR?":
            return '0,"No error"'
        return None

    server = server_factory(handler)
    session = session_for(server)
    try:
        session.write(":SOUR:CURR -1")
        time.sleep(0.1)
        with pytest.raises(UnconfirmedCommand, match="':SOUR:CURR -1'.*may not have been applied"):
            session.check_errors(after=":SOUR:CURR -1")
        assert server.received.count(":SOUR:CURR -1") == 1
        session.check_errors(after="next")  # the link was reopened for what comes next
        assert server.connections == 2
    finally:
        session.close()


def test_non_idempotent_query_is_not_retried(server_factory) -> None:
    server = server_factory(lambda c: None)
    session = session_for(server, timeout_ms=150)
    try:
        with pytest.raises(ConnectionLost):
            session.query(":INIT;:FETC?", idempotent=False)
        assert server.received == [":INIT;:FETC?"]
    finally:
        session.close()


@pytest.mark.parametrize("resource", ["not a resource", "TCPIP0::127.0.0.1::1::SOCKET", "ASRL/dev/does-not-exist::INSTR"])
def test_a_resource_that_cannot_be_opened_names_instrument_and_resource(resource: str) -> None:
    with pytest.raises(ResourceUnavailable) as caught:
        open_transport(resource, TransportSettings(timeout_ms=300), name="keithley2400")
    message = str(caught.value)
    assert message.startswith("keithley2400: ") and repr(resource) in message and "\n" not in message


def test_a_closed_session_does_not_quietly_reopen(server_factory) -> None:
    server = server_factory(lambda c: "1")
    session = session_for(server)
    assert session.query("*OPC?") == "1"
    session.close()
    with pytest.raises(ConnectionLost, match="dut: the session was closed"):
        session.write(":OUTP ON")
    assert server.connections == 1
