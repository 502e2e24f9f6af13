"""A fault-injecting TCP proxy on loopback, between the offices and the hub: the link that a storm cuts.

It forwards bytes (TLS passes through untouched: the offices still verify the hub's certificate). ``cut()``
drops every open connection and refuses new ones until ``heal()``; ``drop_replies`` (a probability)
closes a connection after the request went through but before the reply comes back — the hub has
applied the batch, the office never hears it (a lost acknowledgement). Runs its own event loop in a
thread; stopped with ``close()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading

from monitor.sandbox import require_loopback


class FaultProxy:
    def __init__(self, upstream_port: int, *, host: str = "127.0.0.1", seed: int = 15) -> None:
        self.host = require_loopback(host)
        self.upstream_port = upstream_port
        self.port = 0
        self.cut_now = False
        self.drop_replies = 0.0
        self.connections = 0
        self.dropped = 0
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._client, self.host, 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_now:
            writer.close()
            return
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_w))
        drop = self._rng.random() < self.drop_replies

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool) -> None:
            try:
                while not self.cut_now:
                    data = await src.read(65536)
                    if not data:
                        break
                    if replies and drop:   # the reply is lost on the way back
                        self.dropped += 1
                        break
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                for w in (dst, writer if dst is up_w else up_w):
                    with contextlib.suppress(Exception):
                        w.close()

        await asyncio.gather(pipe(reader, up_w, False), pipe(up_r, writer, True))
        self._writers.discard(writer)
        self._writers.discard(up_w)

    def cut(self) -> None:
        """The link goes down: open connections are dropped, new ones refused."""
        self.cut_now = True

        def close_all() -> None:
            for w in list(self._writers):
                w.close()
        self._loop.call_soon_threadsafe(close_all)

    def heal(self) -> None:
        self.cut_now = False

    def close(self) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
