"""Work for the machine's other cores: a function run in a forked child process, its result
sent back pickled. Fork, not spawn: the child starts with the parent's memory (a million rows
read once, shared copy-on-write), so only the result crosses the pipe, and nothing has to be
importable or picklable on the way in."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def available() -> int:
    """How many processes can work at once: the cores this process may run on."""
    if not hasattr(os, "fork"):
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def in_child(work: Callable[[], T]) -> Callable[[], T]:
    """Start `work()` in a forked child; the function returned waits for its result (or raises
    the child's exception). The child leaves by os._exit (multiprocessing's fork start): none
    of the parent's atexit handlers, open sessions or buffered files are run or flushed twice."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_run, args=(work, send), daemon=True)
    process.start()
    send.close()

    def result() -> T:
        try:
            ok, value = receive.recv()
        except EOFError:
            process.join()
            raise ChildProcessError(f"the worker process ended (exit code {process.exitcode}) without its result") from None
        finally:
            receive.close()
        process.join()
        if not ok:
            raise value
        return value

    return result


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
