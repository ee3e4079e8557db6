"""Serve a simulated instrument over a real transport: a TCP socket on loopback or a pseudo-terminal.

Both servers read lines (LF, CR or CR+LF end a line: lenient on input), hand each line
to a `LineSession` (the instrument plus its faults) and write the reply with the
instrument's own terminator. The TCP server takes several clients one after another
(one thread per connection); the instrument keeps its state, outputs included, when a
client disconnects. The pty server keeps the slave side open itself, so clients may open
and close the serial port as often as they like.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass

from drivers.sim.faults import InstrumentFaults
from drivers.sim.scpi import ScpiInstrument

POLL_S = 0.1
MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """What to do after a line: send `reply` (bytes, terminator included) if any, or drop the connection."""

    reply: bytes | None
    drop: bool = False


class LineSession:
    """One instrument behind one transport, with its injected faults."""

    def __init__(self, instrument: ScpiInstrument, faults: InstrumentFaults) -> None:
        self.instrument = instrument
        self.faults = faults

    def respond(self, line: str) -> Outcome:
        fate = self.faults.on_command()
        if fate.drop_connection:
            return Outcome(None, drop=True)
        if fate.silent:
            return Outcome(None)
        if fate.push_system_error:
            self.instrument.push_error(-310, "System error")
        reply = self.instrument.handle_line(line)
        if reply is None:
            return Outcome(None)
        if self.faults.delay_ms:
            time.sleep(self.faults.delay_ms / 1000.0)
        reply = self.faults.on_reply(reply)
        return Outcome((reply + self.instrument.terminator).encode("ascii", errors="replace"))


class LineSplitter:
    """Accumulates bytes and yields complete lines; any of CR, LF, CR+LF ends a line."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self._buffer.extend(data)
        lines: list[str] = []
        while True:
            cut = next((i for i, b in enumerate(self._buffer) if b in (0x0A, 0x0D)), -1)
            if cut < 0:
                break
            raw = bytes(self._buffer[:cut])
            del self._buffer[: cut + 1]
            if raw.strip():
                lines.append(raw.decode("ascii", errors="replace"))
        if len(self._buffer) > MAX_LINE_BYTES:
            self._buffer.clear()
        return lines


class TcpServer:
    """A raw-socket instrument server on 127.0.0.1 at an ephemeral port (`TCPIP0::127.0.0.1::<port>::SOCKET`)."""

    def __init__(self, session: LineSession, host: str = "127.0.0.1") -> None:
        self.session = session
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(POLL_S)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def resource(self) -> str:
        return f"TCPIP0::{self.host}::{self.port}::SOCKET"

    def start(self) -> None:
        thread = threading.Thread(target=self._accept_loop, name=f"sim-tcp-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(POLL_S)
            with self._lock:
                self._connections.add(connection)
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            thread.start()
            with self._lock:  # forget the threads of clients that have gone
                self._threads = [t for t in self._threads if t.is_alive()] + [thread]

    def _serve(self, connection: socket.socket) -> None:
        splitter = LineSplitter()
        try:
            while not self._stop.is_set():
                try:
                    data = connection.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    return
                for line in splitter.feed(data):
                    outcome = self.session.respond(line)
                    if outcome.drop:
                        return
                    if outcome.reply is not None:
                        connection.sendall(outcome.reply)
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(connection)
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=2.0)


class PtyServer:
    """An instrument on a pseudo-terminal (`ASRL/dev/pts/N::INSTR`), as if on an RS-232C port."""

    def __init__(self, session: LineSession) -> None:
        self.session = session
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)  # a client that stops reading must not hang the server
        self.device = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def resource(self) -> str:
        return f"ASRL{self.device}::INSTR"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=f"sim-pty-{self.device}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        splitter = LineSplitter()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], POLL_S)
                if not ready:
                    continue
                data = os.read(self._master, 4096)
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(POLL_S)
                continue
            for line in splitter.feed(data):
                outcome = self.session.respond(line)
                # a serial line cannot be "closed": a dropped connection loses that command's reply
                if outcome.reply is not None and not outcome.drop:
                    self._write(outcome.reply)

    def _write(self, data: bytes) -> None:
        """Write a reply; if nobody drains the port for a second, the rest is lost, as on a real serial line."""
        deadline = time.monotonic() + 1.0
        while data and time.monotonic() < deadline and not self._stop.is_set():
            try:
                written = os.write(self._master, data)
            except BlockingIOError:
                select.select([], [self._master], [], POLL_S)
                continue
            except OSError:
                return
            data = data[written:]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
