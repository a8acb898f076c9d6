"""SIGINT and SIGTERM, one path wherever they arrive.

Ctrl-C and a CI system cancelling the job (SIGTERM, then SIGKILL after a grace period) must end
a run the same way: containers removed, what completed written, exit status 130. While a job is
running ("armed") the first signal becomes KeyboardInterrupt, and any further one is ignored so
that the cleanup it started can finish. Writing the results is shielded: a signal then waits until
they are whole. Once the outcome is decided, a late signal changes nothing. A signal that arrives
while seedmatrix is still loading is noted, and the job exits 130 before it starts anything.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_HELD = {signal.SIGINT, signal.SIGTERM}


class _State:
    phase = "loading"  # loading → armed (a job runs) → decided (its outcome is written)
    received: list[int] = []  # noqa: RUF012 - one record for the process: signals that interrupt


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _State.phase == "decided":
        return
    first = not _State.received
    _State.received.append(signum)
    if _State.phase == "armed" and first:
        raise KeyboardInterrupt


def install() -> None:
    for number in _HELD:
        signal.signal(number, _on_signal)


def arm() -> bool:
    """Start a job; False when a signal already came while loading: then do not start it."""
    if _State.received:
        return False
    _State.phase = "armed"
    return True


def decided() -> None:
    """The outcome is written: from here on a signal changes nothing."""
    _State.phase = "decided"


def interrupted() -> bool:
    """Whether a signal interrupted the job; resets, for a next job in this process (tests)."""
    found = bool(_State.received)
    _State.received.clear()
    _State.phase = "loading"
    return found


@contextmanager
def shielded() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while results are being written; they take effect right after."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
