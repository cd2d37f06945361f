"""A real local HTTP server for the http action's tests (a thread, a loopback port)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def _route(self, method):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            Handler.hits[parts.path] = Handler.hits.get(parts.path, 0) + 1
            count = Handler.hits[parts.path]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = parts.path
        if path == "/echo":
            self._send(200, json.dumps({"method": method, "query": query, "body": body.decode(),
                                        "auth": self.headers.get("Authorization")}).encode())
        elif path.startswith("/item/"):
            time.sleep(float(query.get("delay", 0)))
            self._send(200, json.dumps({"id": int(path.rsplit("/", 1)[1]), "t": time.time()}).encode())
        elif path == "/text":
            self._send(200, b"plain words", "text/plain")
        elif path == "/status":
            self._send(int(query["code"]), b'{"error": "as asked"}')
        elif path == "/flaky":
            if count <= int(query.get("fail", 1)):
                self._send(503, b"busy", "text/plain", {"Retry-After": query.get("after", "0")})
            else:
                self._send(200, json.dumps({"calls": count}).encode())
        elif path == "/redirect":
            self._send(302, b"", headers={"Location": query["to"]})
        elif path == "/big":
            self._send(200, b"x" * int(query["size"]), "text/plain")
        else:
            self._send(404, b'{"error": "no such page"}')


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connect at once


class LocalServer:
    def __init__(self):
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
