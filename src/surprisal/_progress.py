"""Progress bars on stderr: one labelled bar per call, with an ETA.

The rule every verb follows (``progress=`` keyword, ``--progress``/``--quiet`` flags):

* ``None`` (default): a bar when stderr is a terminal, none when it is a log file or a pipe
  (a bar redrawn into a file is noise: one line per update);
* ``True``: a bar even when stderr is not a terminal;
* ``False``: never.

A call that runs several scoring passes (:func:`surprisal.grammar.membership`: the model and
its random-weight chance twins) is one *task*: its passes advance one bar labelled with the
call (``membership dyck2``) whose total, and so its ETA, covers every pass. :func:`bar` is
the one place a bar is made; :func:`one_bar` marks a function as such a task.

>>> from surprisal import _progress
>>> _progress.bar(False, 100) is None
True
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["bar", "one_bar", "task", "wanted"]

F = TypeVar("F", bound=Callable[..., Any])


def wanted(progress: bool | None) -> bool:
    """Whether a bar is shown: ``progress`` if given, else whether stderr is a terminal."""
    if progress is not None:
        return bool(progress)
    isatty = getattr(sys.stderr, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # a closed stream
        return False


def _make_bar(**kwargs: Any) -> Any:
    """A tqdm bar on stderr (the one place tqdm is called)."""
    from tqdm.auto import tqdm

    return tqdm(file=sys.stderr, dynamic_ncols=True, **kwargs)


class _Part:
    """One pass's view of its task's bar: updates go to the task's bar; closing is the
    task's business."""

    def __init__(self, shared: Any) -> None:
        self._bar = shared

    def update(self, n: int) -> None:
        self._bar.update(n)

    def close(self) -> None:
        pass


class _Task:
    """The bar of one call made of ``passes`` scoring passes, created at the first pass."""

    def __init__(self, label: str, progress: bool | None, passes: int, unit: str) -> None:
        self.label, self.progress, self.passes, self.unit = label, progress, max(passes, 1), unit
        self.bar: Any = None
        self.seen = 0  # passes begun
        self.known = 0  # their units, summed

    def part(self, total: int) -> _Part | None:
        self.seen += 1
        self.known += int(total)
        # passes still to come are taken to be the size of the mean pass so far
        left = max(self.passes - self.seen, 0)
        estimate = self.known + round(left * self.known / self.seen)
        if self.bar is None:
            if not wanted(self.progress):
                return None
            self.bar = _make_bar(total=estimate, desc=self.label, unit=self.unit, leave=False)
        else:
            self.bar.total = estimate
            self.bar.refresh()
        return _Part(self.bar)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


_TASK: ContextVar[_Task | None] = ContextVar("surprisal_progress_task", default=None)


@contextmanager
def task(
    label: str, progress: bool | None, *, passes: int = 1, unit: str = "tok"
) -> Iterator[None]:
    """Every :func:`bar` asked for inside this block advances one bar labelled ``label``
    (shown by the rule above); ``passes`` is how many passes the block will run, for the
    ETA. Inside another task the outer one keeps counting."""
    if _TASK.get() is not None:
        yield
        return
    t = _Task(label, progress, passes, unit)
    token = _TASK.set(t)
    try:
        yield
    finally:
        _TASK.reset(token)
        t.close()


def bar(
    progress: bool | None,
    total: int | None,
    *,
    label: str = "surprisal",
    unit: str = "tok",
    small: bool = False,
) -> Any:
    """A bar for one pass of ``total`` ``unit`` (None: unknown, no ETA), or None when none is
    shown. ``update(n)`` and ``close()`` it. Inside a :func:`task` it is the task's bar. A
    ``small`` pass shows none unless asked (a bar that flashes for a moment is noise)."""
    t = _TASK.get()
    if t is not None:
        return t.part(total or 0)
    if (small and progress is None) or not wanted(progress):
        return None
    return _make_bar(total=total, desc=label, unit=unit, leave=False)


def one_bar(
    label: str | Callable[[Mapping[str, Any]], str],
    *,
    passes: Callable[[Mapping[str, Any]], int] | None = None,
) -> Callable[[F], F]:
    """Decorate a function with a ``progress`` keyword: each call is one :func:`task`.

    ``label`` and ``passes`` may read the call's arguments (by name, defaults filled in).
    """

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError:
                return fn(*args, **kwargs)  # let the function say what is wrong
            bound.apply_defaults()
            a = bound.arguments
            try:
                name = label(a) if callable(label) else label
                n = passes(a) if passes is not None else 1
            except Exception:  # a bad argument: the function's own check names it
                return fn(*args, **kwargs)
            with task(name, a.get("progress"), passes=n):
                return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap
