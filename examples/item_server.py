"""The local server `examples/url_batch.yaml` fetches from: ``GET /item/N`` answers ``{"id": N}``.

Run it with ``python examples/item_server.py [PORT]`` (default 8095), then the example with
``WORKFLOW_HTTP_ALLOW=127.0.0.1 python manage.py runworkflow examples/url_batch.yaml
--input base=http://127.0.0.1:8095`` (http steps may reach loopback addresses only when
allowed). Standard library only, one thread per request.
"""

import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEM = re.compile(r"^/item/(\d{1,9})$")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the http.server name)
        match = ITEM.match(self.path)
        status, body = (200, {"id": int(match.group(1))}) if match else (404, {"error": "try /item/N"})
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet: 200 requests a run
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main(argv: list[str]) -> int:
    port = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 8095
    try:
        server = Server(("127.0.0.1", port), Handler)
    except OSError as exc:
        print(f"item server: cannot listen on 127.0.0.1:{port} ({exc.strerror}): give another port", file=sys.stderr)
        return 1
    print(f"items on http://127.0.0.1:{server.server_address[1]}/item/N", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
