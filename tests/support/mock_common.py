"""What the mock provider servers (mock_telegram.py, mock_whatsapp.py, mock_twilio.py) share:
the threading HTTP(S) server, the recorded calls and their counters, failure rules (matching and
consumption), the control endpoints (/__calls, /__stats, /__reset, /__fail), delays and
connection resets, and main()'s common part (options, the `PORT <n>` line, SIGTERM/SIGINT).
Each mock keeps its own API, options and helpers. Standard library only.

Also, for the mocks' self-tests: start_mock(script, *args), stop_mock(proc) and request(...)."""

import argparse
import http.client
import json
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def blank(s):
    return not isinstance(s, str) or s.strip() == ""


class State:
    """Recorded calls (the last `keep`), exact counts and the queued failure rules. A mock
    subclasses it for what else it keeps (reset_extra()) and how a call is recorded."""

    def __init__(self, keep):
        self.lock = threading.Lock()
        self.keep = keep
        self.reset()

    def reset(self):
        with self.lock:
            self.calls = deque(maxlen=self.keep if self.keep > 0 else None)
            self.counts = {}
            self.total = 0
            self.rules = []
            self.reset_extra()

    def reset_extra(self):
        """Called under the lock by reset(): the mock's own state."""

    def take_rule_where(self, matches):
        """The first rule for which matches(rule) holds, as a copy; consumes one of its times
        (omitted = 1, null or negative = until /__reset). None when no rule matches."""
        with self.lock:
            for rule in self.rules:
                if not matches(rule):
                    continue
                times = rule.get("times", 1)
                if times is not None and times >= 0:
                    rule["times"] = times - 1
                    if rule["times"] <= 0:
                        self.rules.remove(rule)
                return dict(rule)
        return None

    def add_rules(self, rules):
        with self.lock:
            self.rules.extend(rules)
            return len(self.rules)

    def append(self, key, call, **fields):
        """Records `call` (counted under `key`) as it arrives: seq, status null, at, delay_ms 0,
        reset false, then `fields`. Returns it for finish()."""
        with self.lock:
            self.total += 1
            self.counts[key] = self.counts.get(key, 0) + 1
            call.update({"seq": self.total, "status": None})
            call.update(fields)
            call.update({"at": time.time(), "delay_ms": 0, "reset": False})
            self.calls.append(call)
            return call

    def finish(self, call, status, delay_ms=0, reset=False, **extra):
        """Records how a call was answered: its status (0: the connection was cut, reset)."""
        with self.lock:
            call["status"] = status
            call["delay_ms"] = delay_ms
            call["reset"] = reset
            self.finish_extra(call, **extra)

    def finish_extra(self, call, **fields):
        """Called under the lock by finish() with its extra keyword arguments: by default they
        are set on the call."""
        call.update(fields)

    def select(self, keep):
        """Copies of the recorded calls for which keep(call) holds, oldest first."""
        with self.lock:
            return [dict(c) for c in self.calls if keep(c)]

    def stats(self):
        with self.lock:
            return {"counts": dict(self.counts), "total": self.total}


class Handler(BaseHTTPRequestHandler):
    """The control endpoints and the shared plumbing. A mock's handler sets `name`, `state`
    (a State) and implements calls_query(), not_found(), api_get() and api_post()."""

    protocol_version = "HTTP/1.1"
    name = "mock"
    json_type = "application/json"
    error_key = "description"  # the key of the control endpoints' error text

    # Set on the class by main().
    state = None
    verbose = False
    latency_ms = 0

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write(self.name + ": " + (fmt % args) + "\n")

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status, obj, raw=None, headers=None):
        data = raw.encode("utf-8") if raw is not None else json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", self.json_type if raw is None else "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    # -- what a mock implements

    def calls_query(self, query):
        """/__calls: the recorded calls selected by the parsed query string."""
        return self.state.select(lambda c: True)

    def not_found(self, url):
        self.send_json(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    def api_get(self, url):
        self.not_found(url)

    def api_post(self, url, raw):
        self.not_found(url)

    # -- dispatch

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/__calls":
            return self.send_json(200, self.calls_query(urllib.parse.parse_qs(url.query)))
        if url.path == "/__stats":
            return self.send_json(200, self.state.stats())
        self.api_get(url)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        raw = self.read_body()
        if url.path == "/__reset":
            self.state.reset()
            return self.send_json(200, {"ok": True})
        if url.path == "/__fail":
            try:
                rules = json.loads(raw or b"{}")
            except ValueError:
                return self.send_json(400, {"ok": False, self.error_key: "invalid JSON"})
            rules = rules if isinstance(rules, list) else [rules]
            if not all(isinstance(r, dict) for r in rules):
                return self.send_json(400, {"ok": False, self.error_key: "a rule is a JSON object"})
            return self.send_json(200, {"ok": True, "rules": self.state.add_rules(rules)})
        self.api_post(url, raw)

    # -- failure rules

    def apply_rule(self, call, rule):
        """Waits --latency plus the rule's delay_ms, then does what the rule says that every mock
        does alike: "reset" cuts the connection, "body" answers that raw body. Returns (delay_ms,
        done); done is True when the call has been answered (or cut) and finished."""
        delay_ms = self.latency_ms
        if rule and rule.get("delay_ms"):
            delay_ms += float(rule["delay_ms"])
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        if rule and rule.get("reset"):
            self.state.finish(call, 0, delay_ms, reset=True)
            self.cut_connection()
            return delay_ms, True
        if rule and "body" in rule:
            status = int(rule.get("status", 200))
            self.state.finish(call, status, delay_ms)
            self.send_json(status, None, raw=str(rule["body"]))
            return delay_ms, True
        return delay_ms, False

    def cut_connection(self):
        """Closes the connection with a TCP RST and no answer (nor a TLS close_notify)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # the socket's descriptor closes only when no file object holds it
            self.connection.close()
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    tls = None  # an ssl.SSLContext with --tls

    def handle_error(self, request, client_address):
        # A client that goes away mid-call (a test killing aula) is no error of the mock's.
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError, socket.timeout)):
            return
        super().handle_error(request, client_address)

    def finish_request(self, request, client_address):
        # Runs in the connection's thread: the TLS handshake must not hold up accept().
        if self.tls is None:
            return super().finish_request(request, client_address)
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        conn.settimeout(None)
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# main()

def arg_parser(description):
    """The parser with the leading options every mock has: PORT and --host."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("port", nargs="?", type=int, default=0, help="port (0 = any free one)")
    ap.add_argument("--host", default="127.0.0.1")
    return ap


def add_server_args(ap, latency_help="answer every API call this late"):
    """The trailing options every mock has: --keep, --verbose, --tls, --latency."""
    ap.add_argument("--keep", type=int, default=100000, help="calls kept for /__calls (0 = all)")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate and key (PEM)")
    ap.add_argument("--latency", type=float, default=0, metavar="MS", help=latency_help)


def serve(args, handler, state):
    """Serves `handler` (its class attributes set from the common options and `state`) on
    args.host:args.port, prints `PORT <n>`, and returns 0 once SIGTERM or SIGINT arrives."""
    handler.state = state
    handler.verbose = args.verbose
    handler.latency_ms = max(0.0, args.latency)
    server = Server((args.host, args.port), handler)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.tls = ctx
    print("PORT %d" % server.server_address[1], flush=True)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


# ---------------------------------------------------------------------------------------------
# For the self-tests: a mock as a child process.

def start_mock(script, *args):
    """Starts `script` (a mock's path) on a free port; returns (process, port)."""
    proc = subprocess.Popen([sys.executable, script, "0", *args], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait(5)
        raise RuntimeError("mock did not start: %r" % line)
    return proc, int(line.split()[1])


def stop_mock(proc):
    """SIGTERM, then (if needed) SIGKILL; returns the exit status after SIGTERM."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def request(port, method, path, body=None, headers=None, content_type="application/json", tls_context=None):
    """One HTTP request to a mock on 127.0.0.1 (over HTTPS to localhost with tls_context); a
    body that is not bytes or str is sent as JSON. Returns (status, parsed JSON or text)."""
    if tls_context:
        conn = http.client.HTTPSConnection("localhost", port, timeout=10, context=tls_context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = dict(headers or {})
        if body is not None:
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            headers.setdefault("Content-Type", content_type)
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        try:
            return resp.status, json.loads(data)
        except ValueError:
            return resp.status, data.decode("utf-8", "replace")
    finally:
        conn.close()
