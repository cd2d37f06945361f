"""A local OpenAI-compatible chat completions server that answers deterministically.

Used by the tests and the examples instead of any network service. Behaviour is chosen by
the base URL's path (so one server serves every case): ``/v1`` answers at once,
``/slow/0.2/v1`` after 0.2 s, ``/fail/v1`` with HTTP 500, ``/notjson/v1`` with prose where
JSON was asked for. A prompt that contains ``[fail]`` also gets a 500.

The answer: with a JSON Schema (``response_format``), an object filled from the schema (strings
from the prompt's words, numbers from its length); otherwise "Summary: <first words>".

Run it alone with ``python examples/fake_llm.py [PORT]`` (default 8090).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    calls = 0

    def log_message(self, *args):
        pass

    def _reply(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        Handler.calls += 1
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        path = self.path
        slow = re.search(r"/slow/([\d.]+)/", path)
        if slow:
            time.sleep(float(slow.group(1)))
        if not path.endswith("/chat/completions"):
            return self._reply(404, {"error": {"message": "not found"}})
        messages = request.get("messages", [])
        prompt = " ".join(str(m.get("content", "")) for m in messages if m.get("role") == "user")
        if "/fail/" in path or "[fail]" in prompt:
            return self._reply(500, {"error": {"message": "the fake model failed, as asked"}})
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
        self._reply(200, {
            "id": f"fake-{Handler.calls}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
        })


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connect at once


class FakeLLM:
    """The server in a background thread on a loopback port (0: any free one)."""

    def __init__(self, port: int = 0):
        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode: str = "") -> str:
        """The base URL for a behaviour: '', 'slow/0.2', 'fail' or 'notjson'."""
        return f"http://127.0.0.1:{self.port}/{mode + '/' if mode else ''}v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
