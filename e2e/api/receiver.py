"""A webhook receiver for scripts/api-conformance: answers 204 to every POST and appends what it
got (path, headers, body) as one JSON line to a file, which every_operation.py reads and checks
with the Standard Webhooks library.

Usage: python receiver.py PORT FILE
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main(port: int, path: str) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            line = {"path": self.path, "headers": dict(self.headers), "body": body.decode()}
            with open(path, "a") as f:
                f.write(json.dumps(line) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
