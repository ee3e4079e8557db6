"""Opening an instrument's byte pipe: a PyVISA resource, or a serial port through pyserial.

Why a module of its own: every driver needs the same three things from its link (write
one line, read one line with a deadline, reopen after the link broke), and every
failure of the link must reach the user as one line that names the instrument and the
resource, whatever the backend said. Drivers and the SCPI session see only `Transport`.

Resource strings:
- any VISA resource string, e.g. `TCPIP0::10.0.0.5::5025::SOCKET`, `ASRL/dev/ttyUSB0::INSTR`,
  `GPIB0::24::INSTR`, opened with `pyvisa.ResourceManager(visa_library)` (`"@py"`,
  the pure-Python pyvisa-py backend, unless the station file names a vendor VISA);
- `serial:<port>` (e.g. `serial:/dev/ttyUSB0`, `serial:COM3`) for a serial device opened
  with pyserial alone, for machines without a VISA serial backend.
"""

from __future__ import annotations

import os
import select
import socket
import time
from dataclasses import dataclass
from typing import Protocol

from drivers.protocols import ConnectionLost, InstrumentError

SERIAL_SCHEME = "serial:"
PARITY_NAMES = ("none", "odd", "even", "mark", "space")
STOP_BITS_ALLOWED = (1.0, 1.5, 2.0)
DATA_BITS_ALLOWED = (5, 6, 7, 8)


DRAIN_LIMIT_S = 4.0  # at most this long spent discarding late replies after a serial reconnect


def serial_quiet_ms(timeout_ms: int) -> int:
    """How long a serial line must stay silent after a reconnect before it counts as drained.

    As long as the timeout (up to 2 s): a reply that was merely late arrives within that.
    """
    return max(50, min(timeout_ms, 2000))


class ResourceUnavailable(InstrumentError):
    """The resource could not be opened (wrong address, device absent, port busy)."""


@dataclass(frozen=True)
class TransportSettings:
    """How to talk to one resource. Serial fields are ignored by network and GPIB resources."""

    read_termination: str = "\n"
    write_termination: str = "\n"
    timeout_ms: int = 5000
    baud_rate: int | None = None
    data_bits: int | None = None
    parity: str | None = None  # one of PARITY_NAMES
    stop_bits: float | None = None  # 1, 1.5 or 2
    visa_library: str = "@py"

    def __post_init__(self) -> None:
        if self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be > 0, got {self.timeout_ms}")
        if self.baud_rate is not None and self.baud_rate <= 0:
            raise ValueError(f"baud_rate must be > 0, got {self.baud_rate}")
        if self.data_bits is not None and self.data_bits not in DATA_BITS_ALLOWED:
            raise ValueError(f"data_bits must be one of {DATA_BITS_ALLOWED}, got {self.data_bits}")
        if self.parity is not None and self.parity.lower() not in PARITY_NAMES:
            raise ValueError(f"parity must be one of {', '.join(PARITY_NAMES)}, got {self.parity!r}")
        if self.stop_bits is not None and float(self.stop_bits) not in STOP_BITS_ALLOWED:
            raise ValueError(f"stop_bits must be 1, 1.5 or 2, got {self.stop_bits}")


class Transport(Protocol):
    """A line-oriented link to one instrument. Every failure raises ConnectionLost naming the resource."""

    resource: str
    name: str
    settings: TransportSettings

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def write(self, text: str) -> None: ...

    def read(self, *, timeout_ms: int | None = None) -> str: ...

    def reconnect(self, *, quiet_ms: int | None = None) -> None: ...

    def close(self) -> None: ...


class VisaTransport:
    """A PyVISA resource with the instrument's terminators, timeout and serial settings."""

    def __init__(self, resource: str, settings: TransportSettings, *, name: str) -> None:
        self.resource = resource
        self.settings = settings
        self.name = name
        self._manager = None
        self._handle = None

    @property
    def is_open(self) -> bool:
        """False once closed, and also once a TCP peer has closed its end (seen without blocking).

        Checking before each command keeps a command from vanishing into a dead socket, which
        a send() would otherwise accept without complaint.
        """
        return self._handle is not None and not self._peer_closed()

    def _peer_closed(self) -> bool:
        sock = _socket_of(self._handle)
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def open(self) -> None:
        """Open the resource; ResourceUnavailable names the instrument, the resource and what to check."""
        import pyvisa

        try:
            self._manager = pyvisa.ResourceManager(self.settings.visa_library)
        except (OSError, ValueError, pyvisa.errors.Error) as exc:
            raise ResourceUnavailable(
                f"{self.name}: cannot load the VISA library {self.settings.visa_library!r} ({_first_line(exc)}): "
                "fix visa_library in the station file"
            ) from None
        try:
            handle = self._manager.open_resource(self.resource, open_timeout=self.settings.timeout_ms,
                                                 **self._open_kwargs())
        except Exception as exc:  # pyvisa, pyvisa-py and pyserial each raise their own types here
            self._close_manager()
            raise ResourceUnavailable(
                f"{self.name}: cannot open resource {self.resource!r} ({_first_line(exc)}): "
                "check the resource string in the station file and that the instrument is on and connected"
            ) from None
        handle.encoding = "latin-1"  # never fail on a garbled byte; the reply parser rejects it with context
        sock = _socket_of(handle)
        if sock is not None:
            # pyvisa-py reports a refused TCP connection as opened; ask the socket itself.
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            try:
                sock.getpeername()
            except OSError as exc:
                error = error or exc.errno or -1
            if error:
                handle.close()
                self._close_manager()
                raise ResourceUnavailable(
                    f"{self.name}: cannot open resource {self.resource!r} ({os.strerror(error) if error > 0 else 'not connected'}): "
                    "check the resource string in the station file and that the instrument is on and connected"
                )
        if self.resource.upper().startswith("TCPIP"):
            self._disable_nagle(handle)
        self._handle = handle

    @staticmethod
    def _disable_nagle(handle: object) -> None:
        """SCPI is many small lines; with Nagle's algorithm two writes in a row wait ~40 ms for an ACK."""
        from pyvisa import constants

        try:
            handle.set_visa_attribute(constants.ResourceAttribute.tcpip_nodelay, constants.VisaBoolean.true)  # type: ignore[attr-defined]
            return
        except Exception:  # pyvisa-py SOCKET sessions do not take the attribute; set it on the socket
            pass
        sock = _socket_of(handle)
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # slower, still correct
                pass

    def _open_kwargs(self) -> dict:
        from pyvisa import constants

        kwargs: dict = {
            "read_termination": self.settings.read_termination,
            "write_termination": self.settings.write_termination,
            "timeout": self.settings.timeout_ms,
        }
        if self.resource.upper().startswith("ASRL"):
            kwargs["baud_rate"] = self.settings.baud_rate or 9600
            if self.settings.data_bits is not None:
                kwargs["data_bits"] = self.settings.data_bits
            if self.settings.parity is not None:
                kwargs["parity"] = getattr(constants.Parity, self.settings.parity.lower())
            if self.settings.stop_bits is not None:
                kwargs["stop_bits"] = {1.0: constants.StopBits.one, 1.5: constants.StopBits.one_and_a_half,
                                       2.0: constants.StopBits.two}[float(self.settings.stop_bits)]
        return kwargs

    def _require_open(self):
        if self._handle is None:
            raise ConnectionLost(f"{self.name}: the connection to {self.resource} is closed")
        return self._handle

    def write(self, text: str) -> None:
        handle = self._require_open()
        try:
            handle.write(text)
        except Exception as exc:
            raise ConnectionLost(f"{self.name}: sending {text!r} to {self.resource} failed ({_first_line(exc)})") from None

    def read(self, *, timeout_ms: int | None = None) -> str:
        """One reply line without its terminator. `timeout_ms` overrides the timeout for this read only."""
        handle = self._require_open()
        previous_ms = handle.timeout
        if timeout_ms is not None:
            handle.timeout = timeout_ms
        waited_ms = timeout_ms if timeout_ms is not None else self.settings.timeout_ms
        try:
            self._wait_for_reply(handle, waited_ms)
            return handle.read()
        except ConnectionLost:
            raise
        except Exception as exc:
            raise ConnectionLost(
                f"{self.name}: no reply from {self.resource} within {waited_ms} ms ({_first_line(exc)})"
            ) from None
        finally:
            if timeout_ms is not None and self._handle is not None:
                try:
                    handle.timeout = previous_ms
                except Exception:  # the link died under us; the next call reports it
                    pass

    def _wait_for_reply(self, handle: object, waited_ms: int) -> None:
        """On a TCP socket, wait for the first byte ourselves so that a closed peer is seen at once.

        pyvisa-py would otherwise wait out the whole timeout on a socket the instrument has
        closed. Other backends and resources go straight to the library's own read.
        """
        sock = _socket_of(handle)
        session = _session_of(handle)
        if sock is None or getattr(session, "_pending_buffer", b"x"):
            return
        readable, _, _ = select.select([sock], [], [], waited_ms / 1000.0)
        if not readable:
            raise ConnectionLost(f"{self.name}: no reply from {self.resource} within {waited_ms} ms")
        if self._peer_closed():
            raise ConnectionLost(f"{self.name}: {self.resource} closed the connection before replying")

    def reconnect(self, *, quiet_ms: int | None = None) -> None:
        """Close and reopen: revives a dropped TCP link; a new socket never carries a late reply.

        A serial port keeps bytes that arrived while it was closed, so there late replies
        are drained until the line has been quiet for `quiet_ms` (default: as long as the
        timeout); otherwise every later answer would be one off.
        """
        self.close()
        self.open()
        if self.resource.upper().startswith("ASRL"):
            self._drain_late_replies(serial_quiet_ms(self.settings.timeout_ms) if quiet_ms is None else quiet_ms)

    def _drain_late_replies(self, quiet_ms: int) -> None:
        handle = self._handle
        if handle is None:
            return
        previous_ms = handle.timeout
        deadline = time.monotonic() + DRAIN_LIMIT_S
        try:
            handle.timeout = quiet_ms
            while time.monotonic() < deadline:
                handle.read_raw()  # one stale line; a timeout means the line is quiet
        except Exception:
            pass
        finally:
            try:
                handle.timeout = previous_ms
            except Exception:
                pass

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            try:
                handle.close()
            except Exception:  # closing a dead link must never hide the error that killed it
                pass
        self._close_manager()

    def _close_manager(self) -> None:
        # PyVISA shares one ResourceManager per VISA library across the process; closing it would
        # close every other instrument's resource too. Only our reference is dropped.
        self._manager = None


class SerialTransport:
    """A serial port through pyserial alone (`serial:/dev/ttyUSB0`), for hosts without a VISA serial backend."""

    def __init__(self, resource: str, settings: TransportSettings, *, name: str) -> None:
        self.resource = resource
        self.settings = settings
        self.name = name
        self.port = resource[len(SERIAL_SCHEME):]
        self._serial = None
        self._pending = b""

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        import serial

        parity = (self.settings.parity or "none").lower()
        try:
            self._serial = serial.serial_for_url(
                self.port,
                baudrate=self.settings.baud_rate or 9600,
                bytesize=self.settings.data_bits or 8,
                parity={"none": serial.PARITY_NONE, "odd": serial.PARITY_ODD, "even": serial.PARITY_EVEN,
                        "mark": serial.PARITY_MARK, "space": serial.PARITY_SPACE}[parity],
                stopbits=float(self.settings.stop_bits or 1),
                timeout=0.05,
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise ResourceUnavailable(
                f"{self.name}: cannot open serial port {self.port!r} ({_first_line(exc)}): "
                "check the port name in the station file and that no other program holds it"
            ) from None
        self._pending = b""

    def write(self, text: str) -> None:
        if self._serial is None:
            raise ConnectionLost(f"{self.name}: the serial port {self.port} is closed")
        try:
            self._serial.write((text + self.settings.write_termination).encode("latin-1"))
            self._serial.flush()
        except Exception as exc:
            raise ConnectionLost(f"{self.name}: sending {text!r} to {self.port} failed ({_first_line(exc)})") from None

    def read(self, *, timeout_ms: int | None = None) -> str:
        if self._serial is None:
            raise ConnectionLost(f"{self.name}: the serial port {self.port} is closed")
        waited_ms = timeout_ms if timeout_ms is not None else self.settings.timeout_ms
        terminator = self.settings.read_termination.encode("latin-1")
        deadline = time.monotonic() + waited_ms / 1000.0
        while terminator not in self._pending:
            if time.monotonic() >= deadline:
                raise ConnectionLost(f"{self.name}: no reply from {self.port} within {waited_ms} ms")
            try:
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except Exception as exc:
                raise ConnectionLost(f"{self.name}: reading from {self.port} failed ({_first_line(exc)})") from None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(terminator)
        return line.decode("latin-1")

    def reconnect(self, *, quiet_ms: int | None = None) -> None:
        """Reopen the port and drain late replies (see VisaTransport.reconnect)."""
        self.close()
        self.open()
        if self._serial is None:
            return
        quiet_s = (serial_quiet_ms(self.settings.timeout_ms) if quiet_ms is None else quiet_ms) / 1000.0
        deadline = time.monotonic() + DRAIN_LIMIT_S
        last_byte_s = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - last_byte_s < quiet_s:
            if self._serial.read(max(1, self._serial.in_waiting)):
                last_byte_s = time.monotonic()
        self._pending = b""

    def close(self) -> None:
        port, self._serial = self._serial, None
        self._pending = b""
        if port is not None:
            try:
                port.close()
            except Exception:
                pass


def open_transport(resource: str, settings: TransportSettings, *, name: str) -> Transport:
    """Open `resource` with the backend its scheme asks for; raise ResourceUnavailable naming it."""
    if not resource or not resource.strip():
        raise ResourceUnavailable(f"{name}: the resource string is empty: set 'resource' in the station file")
    transport: Transport
    if resource.lower().startswith(SERIAL_SCHEME):
        transport = SerialTransport(resource, settings, name=name)
    else:
        transport = VisaTransport(resource, settings, name=name)
    transport.open()
    return transport


def list_visa_resources(visa_library: str = "@py") -> tuple[str, ...]:
    """The resources the VISA backend can see (serial ports, USB, GPIB; network instruments are not discoverable)."""
    import pyvisa

    import warnings

    manager = pyvisa.ResourceManager(visa_library)  # shared per library: not closed here (see _close_manager)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyvisa-py suggests optional discovery packages on every call
        return tuple(manager.list_resources())


def _session_of(handle: object) -> object | None:
    """The pyvisa-py session object behind a resource, or None with another VISA library."""
    try:
        return handle.visalib.sessions[handle.session]  # type: ignore[attr-defined]
    except Exception:
        return None


def _socket_of(handle: object) -> socket.socket | None:
    """The TCP socket under a pyvisa-py SOCKET session, or None for any other backend or resource."""
    sock = getattr(_session_of(handle), "interface", None)
    return sock if isinstance(sock, socket.socket) else None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
