"""The export's memory: the cyclic garbage collector paused while a window is converted, and what a run freed
handed back to the operating system at its end.

A window's records are millions of new lists and floats that die together; a run converts windows of tens of
MB on two threads. Without these, collections would traverse the records again and again, and the Functions
host process would stay at the run's peak until it is recycled.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a window's records are parsed and converted: they are
    millions of new lists and floats (no reference cycles) that die together at the end, and allocating
    them would otherwise trigger collections that traverse all of them again and again (a third of the
    parse time)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def release_freed_memory() -> None:
    """Hand what the run freed back to the operating system. A run converts windows of tens of MB of
    messages, values and tables on two threads; without this, glibc keeps much of it in its per-thread heaps
    and Arrow's allocator keeps its pool, and the Functions host process stays at the run's peak until it is
    recycled. Once per run, not per window: trimming between windows makes the next one fault the pages in
    again (measured: about 8 % slower for a peak 8 % lower). pyarrow is imported: a window was converted."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None on another C library."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None
