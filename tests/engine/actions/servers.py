"""A real local HTTP server for the http action's tests (a thread, a loopback port, TLS if asked)."""

from __future__ import annotations

import datetime
import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # a buffered wfile, flushed once a response: headers and body leave in one write (written apart
    # on a kept-alive connection, Nagle held the body for the client's delayed ACK: 40 ms a reply)
    wbufsize = -1
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
        self.server.seen.append({"path": parts.path, "headers": dict(self.headers)})
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
            extra = {"Set-Cookie": "jar=from-redirect; Path=/"} if "cookie" in query else {}
            self._send(int(query.get("code", 302)), b"", headers={"Location": query["to"], **extra})
        elif path == "/headers":
            self._send(200, json.dumps({k.lower(): v for k, v in self.headers.items()}).encode())
        elif path == "/big":
            self._send(200, b"x" * int(query["size"]), "text/plain")
        elif path.startswith("/chat/") and path.endswith("/chat/completions"):
            self._chat(path.split("/")[2:-2], body)
        else:
            self._send(404, b'{"error": "no such page"}')


    def _chat(self, mode: list[str], body: bytes):
        """An OpenAI-compatible endpoint that misbehaves as its base URL says (the llm action's
        tests): ``/chat/status/CODE/v1`` answers CODE with a JSON error, ``/chat/text/CODE/v1``
        with plain text, ``/chat/quote/v1`` 401 quoting the Authorization header,
        ``/chat/big/N/v1`` a completion N bytes long, ``/chat/odd/v1`` a completion with odd
        usage and no model, ``/chat/cookie/v1`` sets a cookie and answers with the Cookie
        and Authorization headers it was sent."""
        kind = mode[0]
        if kind == "status":
            return self._send(int(mode[1]), json.dumps({"error": {"message": f"as asked ({mode[1]})"}}).encode())
        if kind == "quote":  # an error that quotes the request's headers, key and all
            quoted = f"bad key: {self.headers.get('Authorization')}"
            return self._send(401, json.dumps({"error": {"message": quoted}}).encode())
        if kind == "text":
            return self._send(int(mode[1]), b"upstream trouble\nsecond line", "text/plain")
        usage = {"prompt_tokens": 3, "completion_tokens": 2}
        extra, model = {}, "chat-1"
        if kind == "big":
            text = "y" * int(mode[1])
        elif kind == "odd":
            text, usage, model = None, {"prompt_tokens": -4, "completion_tokens": "7"}, None
        else:
            text = json.dumps({"cookie": self.headers.get("Cookie"), "auth": self.headers.get("Authorization"),
                               "sent": json.loads(body)})
            extra = {"Set-Cookie": "session=from-the-model; Path=/"}
        reply = {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": usage, "model": model}
        self._send(200, json.dumps(reply).encode(), headers=extra)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connect at once


class LocalServer:
    """One server on ``host:port`` (port 0: any free one); ``seen`` lists each request's path and headers."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.server = _Server((host, port), Handler)
        self.server.daemon_threads = True
        self.server.seen = self.seen = []
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def tls_for(name: str, directory) -> tuple[ssl.SSLContext, str, list]:
    """A server context with a certificate for ``name`` from a fresh CA; the CA file; SNI names seen."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(subject, key, issuer, issuer_key, ca):
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = cert(ca_name, ca_key, ca_name, ca_key, True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = (f"{directory}/ca.pem", f"{directory}/cert.pem", f"{directory}/key.pem")
    with open(ca_file, "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(cert_file, "wb") as f:
        f.write(leaf.public_bytes(pem))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    names: list = []
    context.sni_callback = lambda _sock, server_name, _ctx: names.append(server_name)
    return context, ca_file, names
