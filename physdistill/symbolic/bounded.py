"""Bounded sympy work: a rewrite that runs past its deadline gives up and the caller keeps the
unsimplified form.

sympy has no timeout of its own, and some of its rewrites (``trigsimp`` -> ``factor`` ->
polynomial gcd on float coefficients) can run for many minutes on a small expression. Two
bounds apply to every rewrite in the search and load paths:

- **size**: an expression with more than ``max_ops`` operations (:func:`sympy.count_ops`) is
  not rewritten at all;
- **time**: the rewrite runs under :func:`deadline`, which interrupts it at the next bytecode
  boundary after the deadline. sympy's algorithms are pure Python loops, so the interrupt
  arrives within milliseconds of the deadline (one long C call, e.g. a gmpy2 operation on a
  huge integer, finishes first).

The interrupt is :class:`SympyTimeout`, a :class:`BaseException` so that sympy's own
``except Exception`` fallbacks cannot swallow it. It works in any thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sympy

T = TypeVar("T")

#: seconds one rewrite may take: most rewrites of engine output finish in well under 0.1 s,
#: ``trigsimp`` of a 30-operation trigonometric candidate in about 1.5 s on a busy 2-core CPU;
#: one still running after this long is in one of sympy's unbounded paths
REWRITE_SECONDS = 3.0
#: operations above which an expression is not rewritten (larger ones are rarely simplified
#: by the cheap rewrites and cost the most)
MAX_REWRITE_OPS = 60


class SympyTimeout(BaseException):
    """A bounded sympy call ran past its deadline (caught by :func:`bounded`)."""


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`SympyTimeout` inside the block once ``seconds`` have passed.

    A timer thread raises the exception asynchronously in the calling thread
    (``PyThreadState_SetAsyncExc``; it arrives at the next bytecode boundary, at no cost while
    the block runs). A timeout that fires as the block ends is withdrawn before it is
    delivered, or surfaces as a timeout of the block. Off CPython the check runs as a trace
    function on every Python call instead (slower).
    """
    set_async = getattr(getattr(ctypes, "pythonapi", None), "PyThreadState_SetAsyncExc", None)
    if set_async is None or sys.implementation.name != "cpython":
        with _traced_deadline(seconds):
            yield
        return
    tid = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"done": False, "fired": False}

    def fire() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                set_async(tid, ctypes.py_object(SympyTimeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            state["done"] = True
            if state["fired"]:
                set_async(tid, None)  # withdraw it if it has not arrived yet


@contextlib.contextmanager
def _traced_deadline(seconds: float) -> Iterator[None]:
    end = time.perf_counter() + seconds
    previous = sys.gettrace()

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if event == "call" and time.perf_counter() > end:
            raise SympyTimeout(f"sympy call ran past its {seconds:g} s deadline")
        return previous(frame, event, arg) if previous is not None else None

    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


def bounded(fn: Callable[..., T], expr: sympy.Basic, *args: Any,
            seconds: float = REWRITE_SECONDS, max_ops: int | None = MAX_REWRITE_OPS,
            **kwargs: Any) -> T | None:
    """``fn(expr, *args, **kwargs)`` under a size and a time bound; ``None`` when a bound is hit.

    Args:
        fn: a sympy rewrite (``sympy.trigsimp``, ``sympy.simplify``, ...).
        expr: the expression to rewrite.
        seconds: the deadline (:func:`deadline`).
        max_ops: skip expressions with more operations than this (``None``: no size bound).

    Returns:
        The rewrite's result, or ``None`` when ``expr`` is too large or the deadline passed;
        the caller then keeps ``expr`` as it is. Exceptions of ``fn`` propagate.
    """
    if max_ops is not None and sympy.count_ops(expr) > max_ops:
        return None
    try:
        with deadline(seconds):
            return fn(expr, *args, **kwargs)
    except SympyTimeout:
        return None
