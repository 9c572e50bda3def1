"""The statements of concurrent requests sent together, in psycopg's pipeline mode (PostgreSQL,
on the server's event loop).

Profiled under load, a quarter of a worker's CPU per read by id went to sending its one
statement and reading the answer (libpq's send and the socket's system calls, which are slow on
a virtual machine), and as much again in PostgreSQL's own reads and writes of the socket. Here
the requests of one process hand their statement to a batch: the statements that arrived while
the previous batch was on its way go in one pipeline on one pooled connection (one write, one
synchronisation point, the answers read together), and each request gets its own rows. Alone, a
request waits for its own round trip, as before.

Each statement stays its own: read-only, in autocommit, its parameters its own. In pipeline
mode the statements before one synchronisation point share an implicit transaction, so a
statement that fails aborts the others: the batch is then run again one statement at a time,
and only the faulty one fails (a lost connection: on a new one, once, as run_read does)."""

from __future__ import annotations

import asyncio

from ght.db.async_pool import run_read


class ReadBatch:
    def __init__(self, pool, in_flight: int = 2) -> None:
        self.pool = pool
        self.in_flight = in_flight  # batches on their way at once; the next requests wait for one
        self._queue: list[tuple[str, dict, asyncio.Future]] = []
        self._running = 0
        self._scheduled = False
        self.batches = 0  # for the benchmarks and the tests
        self.statements = 0

    async def rows(self, sql: str, parameters: dict) -> list:
        """The rows of `sql` with `parameters`, read in the next batch."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((sql, parameters, future))
        self._schedule(loop)
        return await future

    def _schedule(self, loop) -> None:
        # Soon, not now: the requests the loop handles in this same turn join the batch.
        if not self._scheduled and self._queue and self._running < self.in_flight:
            self._scheduled = True
            loop.call_soon(self._start)

    def _start(self) -> None:
        self._scheduled = False
        if not self._queue or self._running >= self.in_flight:
            return
        batch, self._queue = self._queue, []
        self._running += 1
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[str, dict, asyncio.Future]]) -> None:
        try:
            try:
                outcomes = await run_read(self.pool, lambda connection: self._pipeline(connection, batch))
            except Exception:  # noqa: BLE001 - a statement of the batch failed: each alone
                if len(batch) == 1:
                    raise
                outcomes = [await self._alone(sql, parameters) for sql, parameters, _ in batch]
            for (_, _, future), (rows, error) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(rows)
                else:
                    future.set_exception(error)
        except Exception as error:  # noqa: BLE001 - the one statement's failure is its request's
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
        finally:
            self._running -= 1
            self._schedule(asyncio.get_running_loop())

    async def _pipeline(self, connection, batch) -> list[tuple[list, None]]:
        if len(batch) == 1:
            sql, parameters, _ = batch[0]
            return [(await (await connection.execute(sql, parameters)).fetchall(), None)]
        cursors = []
        async with connection.pipeline() as pipeline:
            for sql, parameters, _ in batch:
                cursor = connection.cursor()
                await cursor.execute(sql, parameters)
                cursors.append(cursor)
            await pipeline.sync()
            results = [(await cursor.fetchall(), None) for cursor in cursors]
        self.batches += 1
        self.statements += len(batch)
        return results

    async def _alone(self, sql: str, parameters: dict) -> tuple[list | None, Exception | None]:
        async def fetch(connection):
            return await (await connection.execute(sql, parameters)).fetchall()

        try:
            return await run_read(self.pool, fetch), None
        except Exception as error:  # noqa: BLE001 - this statement's own failure
            return None, error
