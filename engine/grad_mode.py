"""Grad mode: whether operations are recorded for backward.

Thread-local, like torch: a new thread starts with grad enabled whatever its parent
does.  ``no_grad``, ``enable_grad`` and ``set_grad_enabled`` are context managers and
decorators; ``set_grad_enabled(False)`` also switches at once when called as a function.

>>> import engine
>>> x = engine.Value(2.0, requires_grad=True)
>>> with engine.no_grad():
...     y = x * 2
>>> y.requires_grad, engine.is_grad_enabled()
(False, True)
>>> @engine.no_grad()
... def double(v):
...     return v * 2
>>> double(x).requires_grad
False
"""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Optional

__all__ = ["no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled"]


class _State(threading.local):
    enabled = True  # class attribute: every new thread starts enabled
    off: Optional[_OffToken] = None  # while this thread's mode is off


#: This thread's grad mode, ``state.enabled``: change it with ``set_enabled`` only.
state = _State()


class _AllThreads:
    """Whether grad mode is on in every thread (``enabled``), and in how many it is
    off (``off``).  An op records if ``all_threads.enabled or state.enabled``: reading
    a plain slot costs a fraction of reading a ``threading.local`` (about 80 ns, an
    eighth of an op), and only when some thread has turned grad mode off does an op
    need to read its own thread's mode."""

    __slots__ = ("enabled", "off")

    def __init__(self):
        self.enabled = True
        self.off = 0


all_threads = _AllThreads()
_count_lock = threading.Lock()


class _OffToken:
    """Held by a thread while its grad mode is off: counts it in ``all_threads.off``
    until the mode goes back on or the thread ends (its thread-local state is
    dropped, and the token with it)."""

    __slots__ = ()

    def __init__(self):
        with _count_lock:
            all_threads.off += 1
            all_threads.enabled = False

    def __del__(self):
        with _count_lock:
            all_threads.off -= 1
            all_threads.enabled = all_threads.off == 0


def set_enabled(enabled: bool) -> bool:
    """Set this thread's grad mode and return what it was: the one way the engine
    changes it, so that ``all_threads`` stays true."""
    previous = state.enabled
    if enabled and not previous:
        state.enabled = True
        state.off = None  # (after: all_threads is never on while this thread is off)
    elif previous and not enabled:
        state.off = _OffToken()  # (before, for the same reason)
        state.enabled = False
    return previous


def is_grad_enabled() -> bool:
    """True if operations are currently recorded for backward."""
    return state.enabled


class _GradModeContext:
    """Base of the grad-mode context managers; subclasses say which mode they set."""

    _mode: bool

    def __enter__(self):
        self._prev = set_enabled(self._mode)

    def __exit__(self, *exc_info):
        set_enabled(self._prev)
        return False

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self.__class__._fresh(self):
                return func(*args, **kwargs)

        return wrapper

    def _wrap_generator(self, func):
        """A generator function: the mode holds whenever the generator's own code runs
        (each resumption), and the caller's mode is back at every ``yield``, as in torch."""
        fresh = self.__class__._fresh

        @functools.wraps(func)
        def generator_context(*args, **kwargs):
            gen = func(*args, **kwargs)
            try:
                with fresh(self):
                    response = gen.send(None)
                while True:
                    try:
                        request = yield response
                    except GeneratorExit:
                        with fresh(self):
                            gen.close()
                        raise
                    except BaseException as exc:
                        with fresh(self):
                            response = gen.throw(exc)
                    else:
                        with fresh(self):
                            response = gen.send(request)
            except StopIteration as e:
                return e.value

        return generator_context

    @staticmethod
    def _fresh(ctx):
        return ctx.__class__()


class no_grad(_GradModeContext):
    """Context manager and decorator that turns recording off.

    Results computed inside are leaves with ``requires_grad=False``.  Usable as
    ``@no_grad()`` or ``@no_grad``.
    """

    _mode = False

    def __new__(cls, func=None):
        self = super().__new__(cls)
        if callable(func):  # used as a bare decorator: @no_grad
            return self(func)
        return self

    def __init__(self, func=None):
        pass


class enable_grad(no_grad):
    """Context manager and decorator that turns recording back on (e.g. inside ``no_grad``)."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Set grad mode to ``mode``: at once when called, restored on exiting a ``with``.

    >>> import engine
    >>> _ = engine.set_grad_enabled(False); engine.is_grad_enabled()
    False
    >>> _ = engine.set_grad_enabled(True); engine.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(
                "set_grad_enabled(): argument 'enabled' (position 1) must be bool, "
                f"not {type(mode).__name__}"
            )
        self._mode = mode
        self._prev = set_enabled(mode)

    def __enter__(self):
        pass  # the mode was already set in __init__

    def __call__(self, func):
        set_enabled(self._prev)  # as a decorator, switch only while func runs
        return super().__call__(func)

    @staticmethod
    def _fresh(ctx):
        return set_grad_enabled(ctx._mode)
