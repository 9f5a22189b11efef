"""What the in-test store servers share: a threaded HTTP/1.1 server on a free loopback port that
prints `listening on PORT` when ready, JSON answers with Content-Length, an optional credential
check, and fault injection.

Faults (`--fault ROUTE:N:KIND[:TIMES]`, repeatable): the N-th request (1-based) to ROUTE and the
TIMES-1 requests to ROUTE after it (TIMES defaults to 1; `always` never stops) are answered with
KIND instead of being executed:
  500   HTTP 500 with the store's error body and `Retry-After: 0`
  429   HTTP 429 with the store's error body and `Retry-After: --retry-after` (default 1)
  drop  the connection is closed without an answer
A request refused by a fault is counted, so `upsert:3:500` fails the 3rd upsert once and its
retry (the 4th upsert request) goes through; `upsert:3:500:always` fails every upsert from the
3rd on. `GET /_faults` answers how many requests each route received (for the tests).
"""

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit


def arguments(description):
    """The command line every store server takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fault", action="append", default=[], help="ROUTE:N:KIND[:TIMES]")
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--api-key", help="require this API key")
    parser.add_argument("--basic", help="require this user:password (Basic auth)")
    return parser.parse_args()


class Faults:
    """Counts requests per route and says which to refuse."""

    def __init__(self, specs):
        self.lock = threading.Lock()
        self.counts = {}
        self.rules = []
        for spec in specs:
            parts = spec.split(":")
            if len(parts) not in (3, 4) or parts[2] not in ("500", "429", "drop"):
                sys.exit(f"bad --fault {spec!r}: want ROUTE:N:500|429|drop[:TIMES]")
            times = parts[3] if len(parts) == 4 else "1"
            last = float("inf") if times == "always" else int(parts[1]) + int(times) - 1
            self.rules.append((parts[0], int(parts[1]), last, parts[2]))

    def take(self, route):
        """The fault to answer this request to `route` with, or None."""
        with self.lock:
            n = self.counts[route] = self.counts.get(route, 0) + 1
        for name, first, last, kind in self.rules:
            if name == route and first <= n <= last:
                return kind
        return None


class StoreError(Exception):
    """A request the store refuses: HTTP status and the store's JSON error body."""

    def __init__(self, status, body):
        super().__init__(str(body))
        self.status = status
        self.body = body


def handler_class(store, options):
    """A request handler that parses the request and hands it to `store.handle(method, path,
    query, headers, body_bytes)`, which returns (status, JSON value) or raises StoreError."""
    faults = Faults(options.fault)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, value, headers=()):
            data = b"" if value is None else json.dumps(value).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, text in headers:
                self.send_header(name, text)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = self.read_chunked()
            else:
                body = self.rfile.read(length)
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            if path == "/_faults":
                return self.answer(200, faults.counts)
            query = dict(parse_qsl(parts.query, keep_blank_values=True))
            try:
                store.authorize(self.headers, options)
                route = store.route(self.command, path)
                kind = faults.take(route)
                if kind == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if kind == "500":
                    return self.answer(500, store.error_body(500, "injected failure"), [("Retry-After", "0")])
                if kind == "429":
                    return self.answer(
                        429, store.error_body(429, "injected: too many requests"), [("Retry-After", options.retry_after)]
                    )
                status, value = store.handle(self.command, path, query, self.headers, body)
                self.answer(status, value)
            except StoreError as e:
                self.answer(e.status, e.body)

        def read_chunked(self):
            data = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = serve

    return Handler


def run(store, options):
    """Serves `store` on a free loopback port until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(store, options))
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
