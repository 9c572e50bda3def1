"""Work for the machine's other cores: a function run in a forked child process, its result
sent back pickled. Fork, not spawn: the child starts with the parent's memory (a million rows
read once, shared copy-on-write), so only the result crosses the pipe, and nothing has to be
importable or picklable on the way in."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


def available() -> int:
    """How many processes can work at once: the cores this process may run on."""
    if not hasattr(os, "fork"):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Child(Generic[T]):
    """`work()` running in a forked child. The child leaves by os._exit (multiprocessing's fork
    start): none of the parent's atexit handlers, open sessions or buffered files are run or
    flushed twice."""

    def __init__(self, work: Callable[[], T]) -> None:
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_run, args=(work, send), daemon=True)
        self._process.start()
        send.close()

    def result(self) -> T:
        """Wait for the child's result, or raise its exception."""
        try:
            ok, value = self._receive.recv()
        except EOFError:
            self._process.join()
            raise ChildProcessError(f"the worker process ended (exit code {self._process.exitcode}) without its result") from None
        finally:
            self._receive.close()
        self._process.join()
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        """Stop the child if it still runs (its result no longer wanted); nothing once it is in."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._receive.close()


def in_child(work: Callable[[], T]) -> Child[T]:
    """Start `work()` in a forked child."""
    return Child(work)


def _run(work: Callable, send) -> None:
    try:
        outcome = (True, work())
    except BaseException as exc:  # told to the parent, which raises it
        outcome = (False, exc)
    try:
        send.send(outcome)
    except Exception as exc:  # an unpicklable result or exception
        send.send((False, ChildProcessError(f"the worker's result could not be sent back: {exc!r}")))
    send.close()
