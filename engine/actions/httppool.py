"""The connection pool of the ``http`` and ``llm`` actions: httpcore's decisions, at half its CPU
a request (see ``_pool_classes``); ``netguard.pinned_transport`` puts its address checks in front.
"""

from __future__ import annotations

import functools
import time

from ..errors import ActionError


async def read_capped(response, limit: int, too_big: str) -> bytes:
    """A streamed response's body, refused with ``too_big`` once past ``limit`` bytes: checked
    against its declared length first, then as the chunks arrive (never after)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ActionError(too_big, retryable=False)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ActionError(too_big, retryable=False)
        chunks.append(chunk)
    return b"".join(chunks)


def pooled_transport(limits, connect=None):
    """An HTTP/1.1 httpx transport on ``_pool_classes``' cheaper pool; ``connect(inner)``, if
    given, makes the ``connect_tcp`` that replaces the inner backend's (``pinned_transport``'s)."""
    import httpcore
    import httpx

    _stream_class, backend_class, pool_class = _pool_classes()

    class Transport(httpx.AsyncHTTPTransport):
        def __init__(self):
            super().__init__(http2=False, limits=limits)
            # httpx 0.28 has no public network_backend option (encode/httpx#3749): replace its pool,
            # and refuse to run at all if the pool is no longer where we expect it.
            if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
                raise RuntimeError("httpx changed: the transport cannot install its backend")
            self._pool = pool_class(
                ssl_context=httpx.create_ssl_context(), max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry, http1=True, http2=False,
                network_backend=backend_class(connect))

    return Transport()


#: the httpcore versions whose pool internals ``Pool`` was written against (others: the stock pool)
POOL_TESTED = ("1.0.9",)
#: seconds between two looks at every pooled connection (expired? closed by the server?)
SWEEP = 1.0


@functools.cache
def _pool_classes() -> tuple:
    """(stream, backend, pool) classes, made once (httpcore is imported lazily).

    Per request, httpcore 1.0's pool asks every idle connection whether its socket is readable
    (the server closed it), and the anyio stream answers by building its whole dict of extra
    attributes (getpeername and more) each time; it also counts idle connections once per idle
    connection (quadratic). With 20 connections that was a third of a call's CPU. The stream
    here keeps its socket for that question, the pool counts once, and asks it of the
    connection it is about to reuse (every connection once a ``SWEEP``): a connection the
    server closed is still never reused.
    """
    import httpcore
    from httpcore._utils import is_socket_readable

    class Stream(httpcore.AsyncNetworkStream):
        def __init__(self, inner):
            self.inner = inner
            self.sock = inner.get_extra_info("socket")

        async def read(self, max_bytes, timeout=None):
            return await self.inner.read(max_bytes, timeout)

        async def write(self, buffer, timeout=None):
            await self.inner.write(buffer, timeout)

        async def aclose(self):
            await self.inner.aclose()

        async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            return Stream(await self.inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info):
            if info == "is_readable":
                return is_socket_readable(self.sock)
            return self.inner.get_extra_info(info)

    class Backend(httpcore.AsyncNetworkBackend):
        def __init__(self, connect=None):
            self.inner = httpcore.AnyIOBackend()
            self.connect = connect(self.inner) if connect else self.inner.connect_tcp

        async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            return Stream(await self.connect(host, port, timeout, local_address, socket_options))

        async def connect_unix_socket(self, path, timeout=None, socket_options=None):
            raise httpcore.ConnectError("unix sockets are not for http steps")

        async def sleep(self, seconds):
            await self.inner.sleep(seconds)

    class Pool(httpcore.AsyncConnectionPool):
        _swept = 0.0

        def _assign_requests_to_connections(self):
            """httpcore 1.0.9's decisions, counting connections once, and asking whether a
            connection has expired (idle too long, or closed by the server: a poll) of the one
            about to be reused, and of all only once a ``SWEEP`` (so a dead idle socket is let go
            within that time instead of at once)."""
            closing = []
            now = time.monotonic()
            sweep = now - self._swept >= SWEEP
            if sweep:
                self._swept = now
            for connection in list(self._connections):
                if connection.is_closed():
                    self._connections.remove(connection)
                elif sweep and connection.has_expired():
                    self._connections.remove(connection)
                    closing.append(connection)
                elif connection.is_idle() and len(self._connections) > self._max_keepalive_connections:
                    # (httpcore compares the count of every connection, idle or not: kept as is)
                    self._connections.remove(connection)
                    closing.append(connection)
            for pool_request in [request for request in self._requests if request.is_queued()]:
                origin = pool_request.request.url.origin
                connection = None
                for candidate in [c for c in self._connections if c.can_handle_request(origin) and c.is_available()]:
                    if not candidate.has_expired():
                        connection = candidate
                        break
                    self._connections.remove(candidate)
                    closing.append(candidate)
                if connection is None:
                    if len(self._connections) >= self._max_connections:
                        idle = next((c for c in self._connections if c.is_idle()), None)
                        if idle is None:
                            continue  # stays queued
                        self._connections.remove(idle)
                        closing.append(idle)
                    connection = self.create_connection(origin)
                    self._connections.append(connection)
                pool_request.assign_to_connection(connection)
            return closing

    if httpcore.__version__ not in POOL_TESTED or not hasattr(httpcore.AsyncConnectionPool,
                                                                "_assign_requests_to_connections"):
        Pool = httpcore.AsyncConnectionPool  # noqa: N806 - untested internals: the stock pool
    return Stream, Backend, Pool
