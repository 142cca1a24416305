"""Pausing Python's cyclic garbage collector around one hot request (an upload, a poll)."""

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    """Hold off the cyclic collector while a request builds and drops many containers.

    An upload (~30,000 containers) or a poll (~1,500) made the collector promote them, and every
    so often the request paid a full collection of the worker's heap (~100–130 ms on the bench,
    ~800 ms when ten workers hit it together: that was the p95, not a lock wait). The callers
    build no reference cycles: everything is freed by reference counting before the collector
    is switched back on. Process-wide, so with threaded workers another request may also run
    without it for that long — harmless."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
