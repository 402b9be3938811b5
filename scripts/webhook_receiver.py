#!/usr/bin/env python3
"""A webhook receiver on loopback that verifies Standard Webhooks signatures, for avad's tests and for users who
want to see what `avad watch --webhook` sends.

    AVAD_WEBHOOK_SECRET=whsec_... python3 scripts/webhook_receiver.py [--port 0] [--fail-first N] [--hang]

Prints `READY http://127.0.0.1:<port>/` once listening, then one JSON line per request:
`{"id", "timestamp", "verified", "status", "attempt", "body"}`. Verification follows the specification
(https://www.standardwebhooks.com): the key is the base64 after `whsec_`; the signed content is
`<webhook-id>.<webhook-timestamp>.<body>`; `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256>`
entries; the timestamp must be within 5 minutes. Standard library only.

--fail-first N: answer 500 to the first N attempts of every webhook-id (then 204).
--hang: never answer (hold the connection until the client gives up).
Binds 127.0.0.1 only; exits on SIGTERM / SIGINT.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300


def verify(key: bytes, headers, body: bytes) -> bool:
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return False
    try:
        if abs(time.time() - int(ts)) > TOLERANCE_S:
            return False
    except ValueError:
        return False
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in sigs.split(" "):
        version, _, sig = entry.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--hang", action="store_true")
    ap.add_argument("--secret-env", default="AVAD_WEBHOOK_SECRET")
    args = ap.parse_args()
    secret = os.environ.get(args.secret_env, "")
    if not secret.startswith("whsec_"):
        print(f"webhook_receiver: set {args.secret_env}=whsec_<base64>", file=sys.stderr)
        return 2
    key = base64.b64decode(secret[len("whsec_"):])
    attempts = {}
    lock = threading.Lock()
    hang = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            msg_id = self.headers.get("webhook-id", "")
            with lock:
                attempts[msg_id] = attempts.get(msg_id, 0) + 1
                attempt = attempts[msg_id]
            ok = verify(key, self.headers, body)
            if args.hang:
                status = None
            elif not ok:
                status = 401
            elif attempt <= args.fail_first:
                status = 500
            else:
                status = 204
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            line = {
                "id": msg_id,
                "timestamp": self.headers.get("webhook-timestamp"),
                "verified": ok,
                "status": status,
                "attempt": attempt,
                "body": parsed,
            }
            with lock:
                print(json.dumps(line), flush=True)
            if status is None:
                hang.wait()  # until shutdown
                return
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *a):  # quiet: the JSON lines are the log
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            # The sender gave up on an answer (its timeout; it retries under the same id): not worth a traceback.
            if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                return
            super().handle_error(request, client_address)

    server = Server(("127.0.0.1", args.port), Handler)

    def stop(*_):
        hang.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"READY http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
