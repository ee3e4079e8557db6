"""Turning a source output off so that it is known to be off: shared by every source driver.

Why a module of its own: this is the one exchange that runs on every error path, often
over a link that just failed. It must never raise, must try more than once (a reconnect
may be what the first try does), must check with the query form rather than trust the
write, and must say, once, when it could not confirm, because then only a person at the
instrument can.
"""

from __future__ import annotations

import logging

from drivers.protocols import InstrumentError
from drivers.scpi import ScpiSession

log = logging.getLogger(__name__)

OFF_ATTEMPTS = 2


def confirm_output_off(session: ScpiSession, name: str, *, off_command: str, state_query: str, was_confirmed: bool) -> bool:
    """Send `off_command` and check `state_query` reads off; True when confirmed. Never raises.

    `was_confirmed` is what the previous call returned: a failure is logged only when it
    is new, so the several safety nets that call this on one error path say it once.
    """
    last_error: InstrumentError | None = None
    for _attempt in range(OFF_ATTEMPTS):
        try:
            session.write(off_command)
            if not session.query_boolean(state_query):
                return True
            last_error = InstrumentError(f"{name}: the output still reads on after {off_command!r}")
        except InstrumentError as exc:  # includes a lost link and a command whose fate is unknown: try again
            last_error = exc
    if was_confirmed:
        log.warning("%s: could not confirm the output is off (%s): switch it off at the instrument", name, last_error)
    return False
