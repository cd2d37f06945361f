"""A local OpenAI-compatible chat completions server that answers deterministically.

Used by the tests and the examples instead of any network service. Behaviour is chosen by
the base URL's path (so one server serves every case): ``/v1`` answers at once,
``/slow/0.2/v1`` after 0.2 s, ``/fail/v1`` with HTTP 500, ``/notjson/v1`` with prose where
JSON was asked for. A prompt that contains ``[fail]`` also gets a 500.

The answer: with a JSON Schema (``response_format``), an object filled from the schema (strings
from the prompt's words, numbers from its length); otherwise "Summary: <first words>".
``GET /stats`` (``?reset`` to start again) says how many calls came, how many were answered at
once at most, over how many connections, and how long a call took here beyond its asked delay
(bench/actions.py reads it).

Run it alone with ``python examples/fake_llm.py [PORT]`` (default 8090).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import sys
import threading
import time


def _words(text: str, n: int) -> str:
    return " ".join(re.findall(r"[\w'-]+", text)[:n])


def fill(schema: dict, prompt: str, name: str = ""):
    """A value that matches a (simple) JSON Schema, derived from the prompt."""
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][len(prompt) % len(schema["enum"])]
    if kind == "object":
        props = schema.get("properties", {})
        return {key: fill(sub, prompt, key) for key, sub in props.items()}
    if kind == "array":
        return [fill(schema.get("items", {"type": "string"}), prompt, name)]
    if kind == "integer":
        return len(prompt.split())
    if kind == "number":
        return round(len(prompt) / 10, 1)
    if kind == "boolean":
        return len(prompt) % 2 == 0
    return f"{name}: {_words(prompt, 6)}".strip(": ")


def answer(path: str, request: dict, number: int) -> tuple[int, dict]:
    """The status and JSON body for one POST to ``path`` (the delay is the caller's)."""
    if not path.endswith("/chat/completions"):
        return 404, {"error": {"message": "not found"}}
    messages = request.get("messages", [])
    prompt = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
    if "/fail/" in path or "[fail]" in prompt:
        return 500, {"error": {"message": "the fake model failed, as asked"}}
    response_format = request.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema")
    if "/notjson/" in path:
        text = "I am sorry, here is prose instead of JSON."
    elif schema:
        text = json.dumps(fill(schema, prompt))
    elif response_format.get("type") == "json_object":
        text = json.dumps({"answer": _words(prompt, 6)})
    else:
        text = f"Summary: {_words(prompt, 8)}"
    usage = {"prompt_tokens": len(prompt.split()) + 5, "completion_tokens": len(text.split())}
    return 200, {
        "id": f"fake-{number}", "object": "chat.completion", "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
    }


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error"}
MAX_BODY = 16 * 1024 * 1024


class FakeLLM:
    """The server on its own event loop in a background thread, on a loopback port (0: any free one).

    asyncio, not a thread per connection: a ``slow`` reply is a sleep on the loop, so a hundred
    waiting calls cost no threads, and each reply leaves in one write (headers and body together;
    http.server wrote them apart, and Nagle's algorithm held the body back for the client's
    delayed ACK: 40 ms a call on a kept-alive connection).
    """

    def __init__(self, port: int = 0):
        # bound here, in the caller's thread: a taken port raises OSError to the caller
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
            self.sock.listen(1024)  # many clients connect at once
        except OSError:
            self.sock.close()
            raise
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.calls = 0
        self.in_flight = self.most_in_flight = 0  # calls being answered now, and at most (``stats``)
        self.beyond_delay = 0.0  # seconds calls took here beyond the delay they asked for
        self.connections = 0  # connections opened to this server
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="fake-llm", daemon=True)
        self.thread.start()
        self._started.wait()

    def url(self, mode: str = "") -> str:
        """The base URL for a behaviour: '', 'slow/0.2', 'fail' or 'notjson'."""
        return f"http://127.0.0.1:{self.port}/{mode + '/' if mode else ''}v1"

    def close(self) -> None:
        if self.loop.is_closed() or not self.thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    # -- on the server's loop --------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self.loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self.sock, backlog=1024)
        self._started.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
                task.cancel()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        except asyncio.CancelledError:  # the server is closing: end quietly (a cancelled handler
            pass                        # task makes asyncio 3.11 log a traceback)
        finally:
            writer.close()

    async def _request(self, reader, writer) -> bool:
        """Answer one request; False when the connection is to close."""
        head = await reader.readuntil(b"\r\n\r\n")
        line, *fields = head.decode("latin-1").split("\r\n")
        method, path, version = line.split(" ", 2)
        headers = {}
        for field in fields:
            if field:
                name, _, value = field.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length") or 0)
        if not 0 <= length <= MAX_BODY:
            raise ValueError("bad Content-Length")
        body = await reader.readexactly(length) if length else b""
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if method == "GET" and path.startswith("/stats"):
            status, payload = 200, self.stats(reset=path.endswith("?reset"))
        else:
            status, payload = await self._answer(method, path, body)
        data = json.dumps(payload).encode()
        close = "" if keep else "Connection: close\r\n"
        writer.write(f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n{close}\r\n".encode() + data)  # one write
        await writer.drain()
        return keep

    async def _answer(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        start = time.perf_counter()
        self.calls += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        delay = 0.0
        try:
            if method != "POST":
                return 405, {"error": {"message": "POST only"}}
            slow = re.search(r"/slow/([\d.]+)/", path)
            if slow:
                delay = float(slow.group(1))
                await asyncio.sleep(delay)
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = None
            if not isinstance(request, dict):
                return 400, {"error": {"message": "the body is not a JSON object"}}
            return answer(path, request, self.calls)
        finally:
            self.in_flight -= 1
            self.beyond_delay += time.perf_counter() - start - delay

    def stats(self, reset: bool = False) -> dict:
        """Calls answered, most at once, and the mean time a call took here beyond its asked delay
        (late wake-ups and this server's own work: the server's share of a slow call)."""
        done = self.calls - self.in_flight
        out = {"calls": self.calls, "most_in_flight": self.most_in_flight, "connections": self.connections,
               "beyond_delay_ms": round(self.beyond_delay / done * 1000, 3) if done else 0.0}
        if reset:
            self.calls = self.most_in_flight = self.connections = 0
            self.beyond_delay = 0.0
        return out


def main(argv: list[str]) -> int:
    """Serve on the port given (8090 by default) until stopped; a taken port is said in one line."""
    try:
        port = int(argv[1]) if len(argv) > 1 else 8090
        fake = FakeLLM(port)
    except ValueError:
        print(f"fake LLM: the port must be a number, got {argv[1]!r}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fake LLM: cannot listen on 127.0.0.1:{port} ({exc.strerror}); another `make run` may hold "
              f"it: choose a free one with `make run LLM_PORT=...` (or `python examples/fake_llm.py PORT` "
              f"and WORKFLOW_LLM_BASE_URL=http://127.0.0.1:PORT/v1 for the server)", file=sys.stderr)
        return 1
    print(f"fake LLM on {fake.base_url}", flush=True)
    try:
        fake.thread.join()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
