"""Every use of asyncio's private internals, behind one small interface.

The native loop's wake-up (``_loop.NativeLoop._drain``) wakes the tasks
waiting on the events of a batch with ``Future.set_result``, which schedules
their steps with ``loop.call_soon``. When nothing else was waiting in
asyncio's ready queue, those steps would run first thing in the next loop
iteration anyway; running them at the end of the same wake-up saves a whole
iteration (an ``epoll_wait`` and the selector's bookkeeping) per message.
Doing so needs three private names of CPython's asyncio: ``loop._ready`` (the
ready queue, a deque of ``asyncio.Handle``), ``Handle._cancelled`` and
``Handle._run()``.

If a runtime lacks any of them (another Python, a future asyncio, a loop that
is not asyncio's own such as uvloop), or ``W3SOCK_NO_INTERNALS=1`` is set in
the environment, the public fallback is used: nothing is run early, and the
callbacks ``call_soon`` scheduled run in the loop's next iteration, as
asyncio always runs them. Only speed differs, never behaviour (the test
suite runs a second time with the fallback forced).
"""

from __future__ import annotations

import asyncio
import collections
import os
from typing import Any, Optional

__all__ = ["ENV_NO_INTERNALS", "internals_allowed", "ReadyRunner"]

ENV_NO_INTERNALS = "W3SOCK_NO_INTERNALS"


def internals_allowed() -> bool:
    """False when the environment forces the public-API fallback."""
    return os.environ.get(ENV_NO_INTERNALS, "") in ("", "0")


def _handles_runnable() -> bool:
    """Whether asyncio.Handle still has the private members used here."""
    return (callable(getattr(asyncio.Handle, "_run", None))
            and hasattr(asyncio.Handle, "_cancelled"))


def _ready_queue(loop: asyncio.AbstractEventLoop) -> "Optional[collections.deque[Any]]":
    if not internals_allowed() or not isinstance(loop, asyncio.BaseEventLoop):
        return None
    ready = getattr(loop, "_ready", None)
    if not isinstance(ready, collections.deque) or not _handles_runnable():
        return None
    return ready


class ReadyRunner:
    """Runs, at the end of a native wake-up, what the wake-up scheduled, when
    the loop's ready queue was empty before it (see the module docstring)."""

    __slots__ = ("_ready",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ready = _ready_queue(loop)

    @property
    def uses_internals(self) -> bool:
        """False when the public fallback is in use."""
        return self._ready is not None

    def idle(self) -> bool:
        """True when nothing waits in the ready queue (so what a wake-up
        schedules may be run at its end); always False in the fallback."""
        ready = self._ready
        return ready is not None and not ready

    def run_scheduled(self) -> None:
        """Runs the callbacks scheduled since idle() was true, in order,
        exactly as the next iteration would have run them first; what they
        schedule in turn waits for that iteration."""
        ready = self._ready
        if not ready:
            return
        for _ in range(len(ready)):
            handle = ready.popleft()
            if not handle._cancelled:
                handle._run()
