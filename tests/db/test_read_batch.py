"""Statements of concurrent requests read in one pipeline (ght.db.read_batch, PostgreSQL): each
request gets its own rows, a failing statement fails only its own request, and a request alone
still gets its answer."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from ght.db.async_pool import make_engine_pool
from ght.db.read_batch import ReadBatch

SQUARE = "SELECT %(n)s::int * %(n)s::int"
FAILS = "SELECT 1 / %(n)s::int"  # division by zero when n = 0


@pytest.fixture
def postgres(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the read batch runs on the event loop with psycopg (PostgreSQL)")
    return engine


def run(engine, work):
    async def main():
        pool = make_engine_pool(engine)
        await pool.open()
        try:
            return await work(ReadBatch(pool))
        finally:
            await pool.close()

    return asyncio.run(main())


def test_concurrent_statements_share_pipelines_and_each_gets_its_rows(postgres):
    async def work(batch):
        answers = await asyncio.gather(*(batch.rows(SQUARE, {"n": n}) for n in range(200)))
        return answers, batch.batches, batch.statements

    answers, batches, statements = run(postgres, work)
    assert answers == [[(n * n,)] for n in range(200)]
    # 200 requests of the same turn: a first batch on its way, the others together behind it.
    assert statements >= 150 and batches <= 10


def test_a_failing_statement_fails_its_request_only(postgres):
    async def work(batch):
        return await asyncio.gather(*(batch.rows(FAILS, {"n": n}) for n in (1, 0, 2, 4)), return_exceptions=True)

    one, zero, two, four = run(postgres, work)
    assert one == [(1,)] and two == [(0,)] and four == [(0,)]
    assert isinstance(zero, psycopg.errors.DivisionByZero)


def test_a_request_alone_is_answered(postgres):
    async def work(batch):
        first = await batch.rows(SQUARE, {"n": 3})
        second = await batch.rows(SQUARE, {"n": 4})
        return first, second, batch.batches

    assert run(postgres, work) == ([(9,)], [(16,)], 0)  # one statement at a time: no pipeline needed
