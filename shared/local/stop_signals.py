"""How the local commands stop: SIGTERM (a process manager, a test harness, ``kill``), SIGINT (Ctrl-C) and SIGHUP
(a closed terminal) all end a command the way Ctrl-C does, so its cleanup (``finally``, ``with``, ``ExitStack``)
stops every process group it started; then whatever its process registry still records as its own is stopped too,
and it exits with the conventional status, 128 + the signal's number (143, 130, 129).

The first signal raises :class:`Stopped` in the main thread; later ones are noted and ignored, so a second Ctrl-C
cannot cut the cleanup short (it is bounded: SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType

from shared.local.process_registry import ProcessRegistry

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so code that cleans up after Ctrl-C cleans up after each."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal_name(signum)}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class _StopState:
    def __init__(self) -> None:
        self.signum: int | None = None
        self.raising = True

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None or not self.raising:
            self.signum = self.signum or signum
            return
        self.signum = signum
        raise Stopped(signum)


def run_stoppable(
    body: Callable[[], int], *, name: str, registries: Sequence[ProcessRegistry] = (), announce: bool = True
) -> int:
    """Run the command ``body`` (returns its exit status) so that a stop signal ends it as described above.
    ``name`` prefixes the line saying which signal stopped it (``announce``)."""
    state = _StopState()
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, state.handle)
    status = 1
    try:
        status = body()
    except BaseException:
        if state.signum is None:
            raise
        if not isinstance(sys.exc_info()[1], Stopped):  # the body's cleanup failed on the way out: say how
            traceback.print_exc()
    finally:
        state.raising = False
        for registry in registries:
            registry.stop_owned()
    if state.signum is None:
        return status
    if announce:
        print(f"[{name}] stopped by {signal_name(state.signum)}; every process it started was stopped", file=sys.stderr)
    return 128 + state.signum
