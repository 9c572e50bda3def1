"""The trace written with group commit, on the server's event loop (PostgreSQL).

Every read appends an entry and may answer only once the entry is durable, so each read used to
pay a commit of its own: a WAL flush, which on this kind of machine costs more than the read.
Here the requests of one server process hand their entries to one writer and wait; the writer
inserts all the entries that arrived since its last commit in one transaction and wakes their
requests when it has committed. Under load a commit carries the entries of tens of requests;
alone, a request waits for one commit, as before. Nothing changes in what is written (the same
rows as ght.audit.trail, sealed later by ght.audit.chain) nor in the guarantee: no answer before
its entries are committed.

A batch that fails on the data of one request (a value the table refuses) is written again one
request at a time, so only that request fails; a lost connection fails the batch (its requests
answer 500 and none of them shows data) and the next batch opens a new connection. Nothing is
retried blindly: a commit whose answer was lost may have happened, and an entry must not be
written twice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from ght.audit.trail import COLUMNS, AccessEvent, entry_row, insert_sql
from ght.db.async_pool import conninfo_of

log = logging.getLogger("ght.audit.group_commit")

class GroupCommitTrail:
    def __init__(self, url: str, dialect) -> None:
        self.conninfo = conninfo_of(url)
        self.sql = insert_sql(dialect)
        self._queue: list[tuple[list[dict], asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._connection = None
        self._closing = False
        self.commits = 0  # transactions committed, for the benchmarks and the tests
        self.entries = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ght-trace-group-commit")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._connection is not None:
            await self._connection.close()

    async def append(self, events: Sequence[AccessEvent]) -> None:
        """Return once `events` are committed; raise what failed them."""
        if not events:
            return
        if self._task is None or self._task.done():
            raise RuntimeError("the trace writer is not running")
        future = asyncio.get_running_loop().create_future()
        self._queue.append(([entry_row(event) for event in events], future))
        self._wake.set()
        # Shielded: a client that disconnects does not take its entries out of a commit under way.
        await asyncio.shield(future)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if batch:
                await self._commit(batch)
            if self._closing and not self._queue:
                return

    async def _commit(self, batch: list[tuple[list[dict], asyncio.Future]]) -> None:
        import psycopg

        try:
            await self._insert([row for rows, _ in batch for row in rows])
            outcomes = [None] * len(batch)
        except psycopg.OperationalError as error:  # the connection: nothing to isolate
            log.error("trace batch of %d requests failed", len(batch), exc_info=True)
            await self._drop_connection()
            outcomes = [error] * len(batch)
        except psycopg.Error:
            outcomes = []
            for rows, _ in batch:  # one request at a time: only the faulty one fails
                try:
                    await self._insert(rows)
                    outcomes.append(None)
                except psycopg.Error as error:
                    log.error("trace entries refused by the database", exc_info=True)
                    if isinstance(error, psycopg.OperationalError):
                        await self._drop_connection()
                    outcomes.append(error)
        except Exception as error:  # not the database's: every request of the batch fails, the writer goes on
            log.exception("trace batch of %d requests failed", len(batch))
            outcomes = [error] * len(batch)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)

    async def _insert(self, rows: list[dict]) -> None:
        import psycopg

        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        await self._connection.execute(self.sql, {c: [row[c] for row in rows] for c in COLUMNS})
        self.commits += 1
        self.entries += len(rows)

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            finally:
                self._connection = None
