"""Starts what an end-to-end test needs, as real processes on loopback: a redis-server of its
own (when the test stops Redis), the mock Telegram Bot API and `aula serve`. Standard library
only; run by ctest with Debian's /usr/bin/python3."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.environ.get("AULA_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
AULA_BIN = os.environ.get("AULA_BIN", os.path.join(ROOT, "build", "bot", "aula"))

TG_TOKEN = "123456:ABC-test-token"
TG_SECRET = "s3cret-token_for-tests"
ADMIN_TOKEN = "admin-t0ken-for-tests"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def http(method, url, body=None, headers=None, timeout=10):
    """Returns (status, body text, headers); never raises for HTTP error statuses."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else (json.dumps(body) if not isinstance(body, str) else body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


class Redis:
    """A redis-server of the test's own, on a free port, in a temporary folder."""

    def __init__(self, aof=False):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="aula-e2e-redis-")
        self.proc = None
        self.aof = aof

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: subprocess.run(["redis-cli", "-p", str(self.port), "ping"], capture_output=True,
                                          text=True).stdout.strip() == "PONG", what="redis-server")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True).stdout

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class MockTelegram:
    def __init__(self):
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "support", "mock_telegram.py"),
                                      "0"], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "PORT", f"mock did not start: {line}"
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def calls(self, method=None):
        _, body, _ = http("GET", self.url + "/__calls")
        calls = json.loads(body)
        return [c for c in calls if method is None or c.get("method") == method]

    def sent_texts(self):
        return [c["body"].get("text", "") for c in self.calls("sendMessage")]

    def reset(self):
        http("POST", self.url + "/__reset", {})

    def fail(self, **spec):
        http("POST", self.url + "/__fail", spec)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


class Aula:
    """`aula serve` as a child process with the environment of DESIGN.md's table."""

    def __init__(self, redis_url, telegram_api=None, extra_env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="aula-e2e-", suffix=".log", delete=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        env.update({
            "AULA_LISTEN": f"127.0.0.1:{self.port}",
            "AULA_PUBLIC_URL": self.url,
            "AULA_REDIS_URL": redis_url,
            "AULA_FLOWS": os.path.join(ROOT, "flows"),
            "AULA_CONFIG": os.path.join(ROOT, "config", "aula.yaml"),
            "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}",
            "AULA_TEST_CLOCK": "1",
        })
        if telegram_api:
            env.update({"AULA_TELEGRAM_TOKEN": TG_TOKEN, "AULA_TELEGRAM_SECRET": TG_SECRET,
                        "AULA_TELEGRAM_API": telegram_api})
        env.update(extra_env or {})
        self.env = env
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([AULA_BIN, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT)
        wait_until(lambda: self._healthy(), timeout=15, what="aula serve /healthz")
        return self

    def _healthy(self):
        if self.proc.poll() is not None:
            raise AssertionError("aula serve exited:\n" + self.output())
        return http("GET", self.url + "/healthz", timeout=2)[0] == 200

    def output(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)

    def close(self):
        self.kill(signal.SIGTERM)
        self.log.close()
        os.unlink(self.log.name)

    def telegram(self, update, secret=TG_SECRET):
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        return http("POST", self.url + "/webhooks/telegram", update, headers)

    def advance_clock(self, duration):
        return http("POST", self.url + "/admin/test/clock", {"advance": duration},
                    {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})


_update_id = [1000]


def tg_text(chat_id, text, first_name="Ana", language_code="es"):
    _update_id[0] += 1
    return {"update_id": _update_id[0],
            "message": {"message_id": _update_id[0], "date": int(time.time()), "text": text,
                        "from": {"id": chat_id, "is_bot": False, "first_name": first_name,
                                 "language_code": language_code},
                        "chat": {"id": chat_id, "type": "private", "first_name": first_name}}}


def tg_tap(chat_id, data, first_name="Ana"):
    _update_id[0] += 1
    return {"update_id": _update_id[0],
            "callback_query": {"id": f"cb{_update_id[0]}", "data": data, "chat_instance": "x",
                               "from": {"id": chat_id, "is_bot": False, "first_name": first_name},
                               "message": {"message_id": 1, "date": int(time.time()),
                                           "chat": {"id": chat_id, "type": "private"}}}}
