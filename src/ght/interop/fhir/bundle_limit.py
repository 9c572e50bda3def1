"""At most GHT_HTTP_BUNDLES batch or transaction bundles at work in one server process; the
others wait their turn here, before anything of them runs.

A bundle of a hundred resources is tens of milliseconds of CPU in the route's thread and as
much in PostgreSQL. Fifty clients posting at once had eight of them interleaved per process (the
route threads): CPU per resource went up by about 40 % in the worker and in PostgreSQL (the GIL
handed back and forth, more transactions open at once) and throughput fell
(docs/benchmarks.md). Waiting here holds nothing: the body is not read yet, and no session,
connection or thread is taken. asyncio's semaphore serves its waiters in order."""

from __future__ import annotations

import asyncio

from ght.interop.fhir.http import PREFIX


class BundleLimit:
    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit
        # One per event loop: a semaphore is bound to the loop of its first wait (tests run the
        # same application on several loops).
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in (PREFIX, PREFIX + "/"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
            for other in [known for known in self._semaphores if known.is_closed()]:
                del self._semaphores[other]
        async with semaphore:
            await self.app(scope, receive, send)
