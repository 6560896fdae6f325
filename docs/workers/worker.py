"""A minimal ontime worker in Python, standard library only.

    ADDR=127.0.0.1:8092 python3 docs/workers/worker.py
    bin/ontime --processor http --worker-url http://127.0.0.1:8092/work

It answers each event with a small JSON result. An event whose payload has
"workMs" makes it work that long first; it gives up when the event's budget
(Ontime-Timeout-Ms) runs out. (http.server cannot tell that ontime hung up at
the deadline, so the budget is what stops it.)
"""

import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Worker(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: ontime reuses connections
    # http.server writes an answer's headers and its body separately, and
    # with Nagle's algorithm on the body waits for the ACK of the headers,
    # which the caller delays (40 ms on Linux): every call would take 40 ms
    # more. So the answer is buffered and sent in one write (wbufsize), and
    # any write is sent at once (disable_nagle_algorithm).
    wbufsize = -1
    disable_nagle_algorithm = True

    def do_POST(self):
        if self.path != "/work":
            return self.answer(404, {"error": "POST /work"})
        start = time.monotonic()
        budget = self.headers.get("Ontime-Timeout-Ms")
        give_up = start + int(budget) / 1000 if budget is not None else None
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if length > 1 << 20:
                raise ValueError("body too large")
            event = json.loads(self.rfile.read(length))
        except ValueError as e:
            self.close_connection = True
            return self.answer(400, {"error": "not an event: %s" % e})

        payload = event.get("payload")
        work_ms = payload.get("workMs", 0) if isinstance(payload, dict) else 0
        done = start + work_ms / 1000
        if give_up is not None and done > give_up:
            # Not enough time: work until the budget runs out, no longer.
            time.sleep(max(0, give_up - time.monotonic()))
            return self.answer(504, {"error": "out of time"})
        time.sleep(max(0, done - time.monotonic()))

        size = len(json.dumps(payload, separators=(",", ":"))) if payload is not None else 0
        self.answer(200, {"worker": "python", "id": event.get("id"), "payloadBytes": size})

    def answer(self, status, result):
        body = json.dumps(result, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # ontime hung up at the deadline

    def log_message(self, format, *args):
        pass  # one line per event is too many


def main():
    host, _, port = os.environ.get("ADDR", "127.0.0.1:8092").rpartition(":")
    server = ThreadingHTTPServer((host, int(port)), Worker)
    server.daemon_threads = True
    print("listening on http://%s:%d/work" % server.server_address[:2], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
