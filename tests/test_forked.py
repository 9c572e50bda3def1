"""ght.forked: a function run in a forked child, its result or its exception back in the parent."""

import os
import time

import pytest

from ght import forked

SHARED = list(range(100_000))  # the child reads the parent's memory, nothing is sent to it


def test_the_result_comes_back_and_the_child_sees_the_parents_memory():
    pending = [forked.in_child(lambda k=k: (os.getpid(), sum(SHARED[k::3]))) for k in range(3)]
    results = [child.result() for child in pending]
    assert [total for _, total in results] == [sum(SHARED[k::3]) for k in range(3)]
    assert os.getpid() not in {pid for pid, _ in results} and len({pid for pid, _ in results}) == 3


def test_the_childs_exception_is_raised_in_the_parent():
    def refuse():
        raise ValueError("ligne 3 : refusée")

    with pytest.raises(ValueError, match="ligne 3 : refusée"):
        forked.in_child(refuse).result()


def test_a_child_that_dies_is_an_error_not_a_hang():
    with pytest.raises(ChildProcessError, match="exit code 7"):
        forked.in_child(lambda: os._exit(7)).result()


def test_an_unpicklable_result_is_an_error():
    with pytest.raises(ChildProcessError, match="could not be sent back"):
        forked.in_child(lambda: (lambda: None)).result()


def test_a_child_no_longer_wanted_is_stopped():
    child = forked.in_child(lambda: time.sleep(60))
    started = time.monotonic()
    child.cancel()
    assert time.monotonic() - started < 10 and not child._process.is_alive()
