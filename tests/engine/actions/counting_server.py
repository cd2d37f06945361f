"""A loopback HTTP server that counts: every request's arrival and end, and the most it had in
flight at once (the throttle tests measure global limits with it, across processes too)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # a buffered wfile, flushed once a response: headers and body leave in one write (written apart
    # on a kept-alive connection, Nagle held the body for the client's delayed ACK: 40 ms a reply)
    wbufsize = -1

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        server: CountingServer = self.server.owner
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        tag = query.get("tag", "")
        started = server.enter(tag)
        try:
            time.sleep(min(float(query.get("delay", 0)), 120))
        finally:
            server.leave(tag, started)
        body = json.dumps({"tag": tag, "t": started}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class CountingServer:
    """``GET /anything?delay=S&tag=T`` answers after S seconds. ``requests`` lists
    ``(tag, start, end)`` (wall-clock times), ``arrivals`` the start times in order, ``most`` the
    most requests in flight at once (``most_of(tag)`` for one tag)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.lock = threading.Lock()
        self.requests: list[tuple[str, float, float]] = []
        self.arrivals: list[float] = []
        self.in_flight: dict[str, int] = {}
        self.most = 0
        self.most_by_tag: dict[str, int] = {}
        self.server = _Server((host, 0), _Handler)
        self.server.owner = self
        self.port = self.server.server_address[1]
        self.base = f"http://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def enter(self, tag: str) -> float:
        with self.lock:
            now = time.time()
            self.arrivals.append(now)
            self.in_flight[tag] = self.in_flight.get(tag, 0) + 1
            self.most = max(self.most, sum(self.in_flight.values()))
            self.most_by_tag[tag] = max(self.most_by_tag.get(tag, 0), self.in_flight[tag])
            return now

    def leave(self, tag: str, started: float) -> None:
        with self.lock:
            self.in_flight[tag] -= 1
            self.requests.append((tag, started, time.time()))

    def seen(self, tag: str | None = None) -> int:
        """Requests that arrived (with ``tag``, or all)."""
        with self.lock:
            if tag is None:
                return len(self.arrivals)
            return sum(1 for t, _, _ in self.requests if t == tag) + self.in_flight.get(tag, 0)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.arrivals.clear()
            self.in_flight.clear()
            self.most = 0
            self.most_by_tag.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fits_rate(arrivals: list[float], rate: float, slack: float = 0.1) -> bool:
    """True when no window of the arrivals holds more than a bucket of max(1, rate) plus ``rate``
    a second (``slack`` seconds allowed for the clocks and the network)."""
    times = sorted(arrivals)
    burst = max(1.0, rate)
    for i in range(len(times)):
        for j in range(i, len(times)):
            if j - i + 1 > burst + rate * (times[j] - times[i] + slack) + 1e-9:
                return False
    return True
