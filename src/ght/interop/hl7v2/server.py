"""The MLLP listener: python-hl7's asyncio streams, one task per connection, the database work
of each message in a worker thread so that a slow message never holds up the others.

Framing (MLLP release 1): <VT> message <FS><CR>. Within a connection, messages are answered in
order, one ACK per frame (original acknowledgement mode). A frame that cannot be taken whole
(no <VT>, truncated by the peer's end of stream, larger than MAX_FRAME_BYTES) is answered AR
when the connection still allows it; nothing a peer sends can stop the listener.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
from contextlib import suppress
from dataclasses import dataclass

from hl7.mllp import start_hl7_server
from hl7.mllp.streams import CARRIAGE_RETURN, END_BLOCK, START_BLOCK

from ght.config import Settings
from ght.db.engine import check_connection, make_engine
from ght.db.migrate import upgrade
from ght.sockets import bind_port
from ght.interop.hl7v2.ack import ErrorCode, Hl7Error, reject
from ght.interop.hl7v2.feed import Feed

log = logging.getLogger("ght.mllp")

MAX_FRAME_BYTES = 16 * 1024 * 1024  # room for the documents later feeds carry (MDM, ORU)
SHUTDOWN_GRACE_SECONDS = 10.0
_END = END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True)
class Frame:
    data: bytes
    error: Hl7Error | None = None
    last: bool = False  # the peer ended its stream: answer, then close


async def read_frame(reader: asyncio.StreamReader, limit: int = MAX_FRAME_BYTES) -> Frame | None:
    """The next frame of a connection; None at a clean end of stream."""
    try:
        block = await reader.readuntil(_END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        data = exc.partial.split(START_BLOCK)[-1]
        return Frame(data, reject(ErrorCode.SEGMENT_SEQUENCE,
                                  "trame MLLP tronquée : la connexion s'est terminée avant la fin de bloc <FS><CR>"),
                     last=True)
    except asyncio.LimitOverrunError as exc:
        await _discard_frame(reader, exc.consumed)
        size = f"{limit // (1024 * 1024)} Mo" if limit >= 1024 * 1024 else f"{limit // 1024} Ko"
        return Frame(b"", reject(ErrorCode.DATA_TYPE, f"message trop volumineux (plus de {size}) : non traité"))
    body = block[: -len(_END)]
    if START_BLOCK not in body:
        return Frame(body, reject(ErrorCode.SEGMENT_SEQUENCE,
                                  "trame MLLP invalide : caractère de début de bloc <VT> absent"))
    junk, _, data = body.rpartition(START_BLOCK)
    if junk.strip():
        # An unfinished frame followed by a new one: the unfinished part was never a message.
        log.warning("mllp bytes outside a frame dropped", extra={"bytes": len(junk)})
    return Frame(data)


async def _discard_frame(reader: asyncio.StreamReader, consumed: int) -> None:
    """Skip the rest of an oversized frame, up to and including its end block."""
    while True:
        if consumed:
            await reader.readexactly(consumed)
        try:
            await reader.readuntil(_END)
            return
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed


class MllpListener:
    """Serves a Feed on an already bound socket."""

    def __init__(self, feed: Feed, sock: socket.socket, *, max_frame: int = MAX_FRAME_BYTES) -> None:
        self.feed = feed
        self.sock = sock
        self.max_frame = max_frame
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task] = set()
        self._idle: set[asyncio.Task] = set()
        self._stopping = False

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()[:2]

    async def start(self) -> None:
        """Finish what a previous run left (recovery), then accept connections."""
        recovered = await asyncio.to_thread(self.feed.recover)
        if recovered:
            log.info("hl7 recovery", extra={"messages": recovered})
        self._server = await start_hl7_server(self._connection, sock=self.sock, limit=self.max_frame)
        host, port = self.address
        log.info("mllp listening", extra={"address": f"{host}:{port}"})

    async def close(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop accepting, let the messages being applied finish and be answered, then close."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task in list(self._idle):
            task.cancel()
        if self._connections:
            _, late = await asyncio.wait(self._connections, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        log.info("mllp stopped")

    async def _connection(self, reader, writer) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        peer_info = writer.get_extra_info("peername") or ("?", 0)
        peer = f"{peer_info[0]}:{peer_info[1]}"
        try:
            while not self._stopping:
                self._idle.add(task)
                try:
                    frame = await read_frame(reader, self.max_frame)
                finally:
                    self._idle.discard(task)
                if frame is None:
                    break
                if frame.error is not None:
                    reply = await asyncio.to_thread(self.feed.refuse_frame, frame.data, frame.error, peer)
                else:
                    reply = await asyncio.to_thread(self.feed.receive, frame.data, peer)
                writer.writeblock(reply.payload)
                await writer.drain()
                if frame.last:
                    break
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError) as exc:
            log.info("mllp connection lost", extra={"peer": peer, "reason": str(exc)})
        except Exception:
            log.exception("mllp connection failed", extra={"peer": peer})
        finally:
            self._connections.discard(task)
            writer.close()
            with suppress(Exception):
                await writer.wait_closed()


def bind(host: str, port: int) -> socket.socket:
    """Bind (not listen) the MLLP socket: a taken port fails at once with a clear message;
    listening starts only once the recovery pass is done."""
    return bind_port(host, port, service="MLLP", variable="GHT_MLLP_PORT")


async def _serve(feed: Feed, sock: socket.socket) -> None:
    listener = MllpListener(feed, sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await listener.start()
    await stop.wait()
    await listener.close()


def serve(settings: Settings, engine=None) -> None:
    """`ght mllp serve`: bind (a taken port fails before anything else), migrations,
    recovery, then serve until SIGTERM/SIGINT."""
    sock = bind(settings.mllp_host, settings.mllp_port)
    try:
        if engine is None:
            engine = make_engine(settings.database_url)
            check_connection(engine)
            upgrade(engine)
        asyncio.run(_serve(Feed(engine), sock))
    finally:
        sock.close()
        if engine is not None:
            engine.dispose()


class BackgroundListener:
    """The listener on its own event loop in a daemon thread (tests, embedding in another
    process). `with BackgroundListener(feed, "127.0.0.1", 0) as listener: listener.port`."""

    def __init__(self, feed: Feed, host: str = "127.0.0.1", port: int = 0, *,
                 max_frame: int = MAX_FRAME_BYTES) -> None:
        self.listener = MllpListener(feed, bind(host, port), max_frame=max_frame)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="mllp", daemon=True)

    @property
    def port(self) -> int:
        return self.listener.address[1]

    def __enter__(self) -> BackgroundListener:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.listener.start(), self.loop).result(timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.listener.close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
        self.listener.sock.close()
