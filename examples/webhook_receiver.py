"""A roomtimer webhook receiver that verifies signatures: Python's standard library only.

    WEBHOOK_SECRET=... python examples/webhook_receiver.py --port 8000

Answers 204 to a delivery whose signature is valid and recent (printing its event, one
JSON line each), and 401 otherwise (roomtimer then retries it with backoff).
"""

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

MAX_AGE_S = 300  # refuse replays of old deliveries


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """True when `signature` is sha256=HMAC-SHA256(secret, "{timestamp}.{body}") and recent."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE_S:
        return False
    message = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Handler(BaseHTTPRequestHandler):
    secret = ""

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        timestamp = self.headers.get("X-Roomtimer-Timestamp", "")
        signature = self.headers.get("X-Roomtimer-Signature", "")
        if not verify(self.secret, timestamp, body, signature):
            self.send_response(401)
            self.end_headers()
            return
        delivery = json.loads(body)
        # Deliveries may arrive more than once (retries): act once per delivery id.
        print(
            json.dumps(
                {
                    "delivery": delivery["id"],
                    "event": delivery["event"],
                    "roomId": delivery["roomId"],
                }
            ),
            flush=True,
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet: stdout carries only verified events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    Handler.secret = os.environ.get("WEBHOOK_SECRET", "")
    if not Handler.secret:
        print("set WEBHOOK_SECRET to the webhook's secret", file=sys.stderr)
        return 2
    HTTPServer((args.host, args.port), Handler).serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
