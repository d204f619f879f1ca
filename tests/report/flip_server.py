"""A tiny HTTP server process for probe tests: answers every GET with the status in a file.

Usage: python flip_server.py PORT STATUS_FILE. Writing another number into the file
flips the answer; a missing or empty file means 200.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATUS_FILE = Path(sys.argv[2])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            status = int(STATUS_FILE.read_text().strip() or "200")
        except (OSError, ValueError):
            status = 200
        body = f"status {status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
