"""Starts what an end-to-end test needs, as real processes on loopback: a redis-server of its
own (when the test stops Redis), the mock Telegram Bot API and `aula serve`. Standard library
only; run by ctest with Debian's /usr/bin/python3."""

import ctypes
import json
import sqlite3
import os
import shutil
import signal
import socket
import ssl
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


# Every child process started here gets PR_SET_PDEATHSIG: none outlives the test, even when
# ctest kills it on a timeout or a setUpClass fails half-way.
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1. Children are started from the main thread only: the signal follows
    # the thread that forked, not the process.
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


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
    return http_ctx(method, url, body, headers, timeout=timeout)


def http_ctx(method, url, body=None, headers=None, cafile=None, timeout=10):
    """Like http(), over HTTPS trusting `cafile` when given."""
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else (json.dumps(body) if not isinstance(body, str) else body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    ctx = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
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
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
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
                                      "0"], stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
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


_records_dirs = []


def _records_dir():
    """A fresh folder for one aula's record store, removed when the test process exits (after
    every test read what it needs, even across restarts of that aula)."""
    if not _records_dirs:
        import atexit
        atexit.register(lambda: [shutil.rmtree(d, ignore_errors=True) for d in _records_dirs])
    d = tempfile.mkdtemp(prefix="aula-e2e-records-")
    _records_dirs.append(d)
    return d


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
            "AULA_CONFIG": quiet_free_config(),
            "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}",
            "AULA_TEST_CLOCK": "1",
            # Each instance its own record store (one file per port), never the repository's var/.
            "AULA_RECORDS_URL": "sqlite://" + os.path.join(_records_dir(), "records.db"),
        })
        if telegram_api:
            env.update({"AULA_TELEGRAM_TOKEN": TG_TOKEN, "AULA_TELEGRAM_SECRET": TG_SECRET,
                        "AULA_TELEGRAM_API": telegram_api})
        env.update(extra_env or {})
        if env.get("AULA_RECORDS_URL", "").startswith("sqlite://"):
            _record_dbs.append(env["AULA_RECORDS_URL"][len("sqlite://"):])
        self.env = env
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([AULA_BIN, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=ROOT, preexec_fn=_die_with_parent)
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


# ---------------------------------------------------------------------------------------------
# WhatsApp Cloud API and Twilio: their mocks, a test configuration, a flows folder with a
# reminder, and posting signed webhooks to aula.

import sys as _sys  # noqa: E402
import urllib.parse as _urlparse  # noqa: E402

_sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
import mock_twilio  # noqa: E402
import mock_whatsapp  # noqa: E402

WA_TOKEN = "EAAGtest-access-token-for-tests"
WA_APP_SECRET = "wa-app-secret-for-tests"
WA_VERIFY_TOKEN = "wa-verify-token-for-tests"
WA_PHONE_NUMBER_ID = "106540352242922"
TW_SID = "AC" + "0123456789abcdef" * 2
TW_TOKEN = "twilio-auth-token-for-tests"
TW_FROM = "+15005550006"
SMS_HINT = "Responde con el número de tu opción."  # twilio_options::menu_hint's default


def fnv1a64(s):
    h = 14695981039346656037
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def partition_of(conv, partitions=64):
    return fnv1a64(conv) % partitions


def header(headers, name):
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


class TestCA:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost, made with openssl, in
    `folder` (created if needed; a new temporary folder when omitted). ca, cert, key: PEM files."""

    def __init__(self, folder=None):
        if folder is None:
            self.dir = tempfile.mkdtemp(prefix="aula-e2e-ca-")
        else:
            self.dir = folder
            os.makedirs(folder, exist_ok=True)
        d = lambda name: os.path.join(self.dir, name)  # noqa: E731
        self.ca, self.cert, self.key = d("ca.pem"), d("server.pem"), d("server.key")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", d("ca.key"), "-out", self.ca, "-days", "2",
                      "-subj", "/CN=aula test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._openssl("req", *ec, "-keyout", self.key, "-out", d("server.csr"), "-subj", "/CN=127.0.0.1")
        with open(d("server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        self._openssl("x509", "-req", "-in", d("server.csr"), "-CA", self.ca, "-CAkey", d("ca.key"),
                      "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", d("server.ext"))

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (args[0], r.stderr))

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class _Mock:
    """A mock provider (tests/support/mock_*.py) as a child process."""

    script = None

    def __init__(self, args=(), ca=None):
        tls = ["--tls", ca.cert, ca.key] if ca else []
        self.cafile = ca.ca if ca else None
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "support", self.script), "0",
                                      *args, *tls], stdout=subprocess.PIPE, text=True,
                                     preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "PORT", f"mock did not start: {line}"
        self.port = int(line[1])
        self.url = f"{'https' if ca else 'http'}://127.0.0.1:{self.port}"

    def _call(self, method, path, body=None):
        status, text, _ = http_ctx(method, self.url + path, body, cafile=self.cafile)
        assert status == 200, f"{self.script} {path}: {status} {text}"
        return json.loads(text)

    def reset(self):
        self._call("POST", "/__reset", {})

    def fail(self, **rule):
        self._call("POST", "/__fail", rule)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


class MockWhatsApp(_Mock):
    """The mock Graph API; aula's AULA_WHATSAPP_API is `api` (with the version)."""

    script = "mock_whatsapp.py"

    def __init__(self, ca=None):
        super().__init__(["--token", WA_TOKEN, "--phone-number-id", WA_PHONE_NUMBER_ID], ca)
        self.api = self.url + "/v21.0"

    def calls(self, to=None, type_=None):
        q = {k: v for k, v in (("to", to), ("type", type_)) if v}
        return self._call("GET", "/__calls" + ("?" + _urlparse.urlencode(q) if q else ""))

    def sent(self, to):
        """Messages the mock accepted for `to` (digits, no '+'), oldest first."""
        return [c for c in self.calls(to) if c["status"] == 200 and c["type"] != "read"]

    def env(self):
        return {"AULA_WHATSAPP_TOKEN": WA_TOKEN, "AULA_WHATSAPP_APP_SECRET": WA_APP_SECRET,
                "AULA_WHATSAPP_VERIFY_TOKEN": WA_VERIFY_TOKEN, "AULA_WHATSAPP_PHONE_NUMBER_ID": WA_PHONE_NUMBER_ID,
                "AULA_WHATSAPP_API": self.api, **({"AULA_CA_FILE": self.cafile} if self.cafile else {})}


class MockTwilio(_Mock):
    """The mock Twilio REST API; aula's AULA_TWILIO_API is `url`."""

    script = "mock_twilio.py"

    def __init__(self, ca=None):
        super().__init__(["--sid", TW_SID, "--token", TW_TOKEN], ca)

    def calls(self, to=None):
        return self._call("GET", "/__calls" + ("?" + _urlparse.urlencode({"to": to}) if to else ""))

    def sent(self, to):
        """Messages the mock accepted (201) for `to` (E.164), oldest first."""
        return [c for c in self.calls(to) if c["status"] == 201]

    def status_callback(self, message_sid, status, error_code=None):
        """Makes the mock post Twilio's signed status callback for a sent message."""
        body = {"message_sid": message_sid, "status": status}
        if error_code is not None:
            body["error_code"] = error_code
        return self._call("POST", "/__status", body)

    def env(self):
        return {"AULA_TWILIO_ACCOUNT_SID": TW_SID, "AULA_TWILIO_AUTH_TOKEN": TW_TOKEN, "AULA_TWILIO_FROM": TW_FROM,
                "AULA_TWILIO_API": self.url, **({"AULA_CA_FILE": self.cafile} if self.cafile else {})}


_quiet_free = []


def quiet_free_config():
    """config/aula.yaml with quiet hours off (start = end), written once per test process:
    whether a reminder or a broadcast goes must not depend on the hour the tests run."""
    if not _quiet_free:
        folder = tempfile.mkdtemp(prefix="aula-e2e-config-")
        import atexit
        atexit.register(shutil.rmtree, folder, True)
        _quiet_free.append(write_test_config(folder, fast=False))
    return _quiet_free[0]


def write_test_config(folder, fast=True, consent=False, threads=None):
    """config/aula.yaml with fast pacing and retries, written to `folder`; returns its path.
    The privacy consent question is off unless `consent` (tests/e2e/test_consent.py): the other
    tests start their flows at once, as before the question existed. The notice files are
    those of the source tree (config/aviso-de-privacidad.*.md). `threads`: server.threads
    (the file's when None)."""
    import yaml
    with open(os.path.join(ROOT, "config", "aula.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    if fast:
        pace = {"per_second": 1000, "chat_burst": 1000, "chat_interval": "1ms"}
        cfg["delivery"].update({"whatsapp": dict(pace), "sms": dict(pace), "telegram": dict(pace),
                                "retry_base": "100ms", "max_attempts": 3, "poll": "100ms"})
    cfg["quiet_hours"] = {"start": "00:00", "end": "00:00"}  # off; tests of quiet hours set their own
    if threads is not None:
        cfg["server"]["threads"] = threads
    # Scripted learners answer much faster than people: the flood limit (test_abuse tests it
    # with its own) must not drop their messages.
    cfg.setdefault("limits", {})["learner_messages_per_minute"] = 1000
    cfg.setdefault("privacy", {})
    cfg["privacy"]["consent"] = bool(consent)
    cfg["privacy"]["notice_file"] = os.path.join(ROOT, "config", "aviso-de-privacidad")
    path = os.path.join(folder, "aula.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, allow_unicode=True, sort_keys=False)
    return path


def write_flows(folder, extra=("recordatorios",)):
    """flows/*.yaml and their triggers, plus the tests/flows flows in `extra`, each startable by
    a keyword of its own id (flows/ has no reminder to test the WhatsApp window with)."""
    import yaml
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(os.path.join(ROOT, "flows")):
        if name.endswith(".yaml") and name != "triggers.yaml":
            shutil.copy(os.path.join(ROOT, "flows", name), folder)
    for name in extra:
        shutil.copy(os.path.join(ROOT, "tests", "flows", name + ".yaml"), folder)
    with open(os.path.join(ROOT, "flows", "triggers.yaml"), encoding="utf-8") as f:
        triggers = yaml.safe_load(f)
    for name in extra:
        triggers["triggers"].append({"keywords": [name], "flow": name, "policy": "interrupt"})
    with open(os.path.join(folder, "triggers.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(triggers, f, allow_unicode=True, sort_keys=False)
    return folder


def load_flow(folder, name, lang="es"):
    """(the flow document, {node id: its text in `lang`}) from a flow file."""
    import yaml
    with open(os.path.join(folder, name + ".yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    out = {}
    for node_id, node in doc["nodes"].items():
        for kind in ("message", "question", "quiz"):
            if kind in node:
                t = node[kind]
                out[node_id] = t.get(lang, t.get("es")) if isinstance(t, dict) else t
    return doc, out


def text_of(value, lang="es"):
    return value.get(lang, value.get("es")) if isinstance(value, dict) else value


def _whatsapp_post(self, payload, app_secret=WA_APP_SECRET, signature=None):
    """POSTs a notification to /webhooks/whatsapp, signed with `app_secret` (or with the
    given X-Hub-Signature-256 value; signature=False sends none)."""
    body, headers = mock_whatsapp.signed(app_secret, payload)
    if signature is False:
        del headers["X-Hub-Signature-256"]
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return http("POST", self.url + "/webhooks/whatsapp", body, headers)


def _whatsapp_verify(self, token=WA_VERIFY_TOKEN, challenge="1158201444", mode="subscribe"):
    q = _urlparse.urlencode({"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge})
    return http("GET", self.url + "/webhooks/whatsapp?" + q)


def _twilio_post(self, params, path="/webhooks/twilio", auth_token=TW_TOKEN, signature=None):
    """POSTs form `params` to aula as Twilio does, X-Twilio-Signature computed over
    AULA_PUBLIC_URL + path (or the given one; signature=False sends none)."""
    body = _urlparse.urlencode(list(params.items())).encode("utf-8")
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", "User-Agent": "TwilioProxy/1.1"}
    if signature is None:
        headers["X-Twilio-Signature"] = mock_twilio.sign(auth_token, self.env["AULA_PUBLIC_URL"] + path, params)
    elif signature is not False:
        headers["X-Twilio-Signature"] = signature
    return http("POST", self.url + path, body, headers)


def _session(self, redis, conv):
    """The session JSON (field d of aula:{pN}:s:<conv>) straight from Redis, or None."""
    key = f"aula:{{p{partition_of(conv)}}}:s:{conv}"
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", "HGET", key, "d"], capture_output=True,
                         text=True).stdout.strip()
    return json.loads(out) if out else None


def _learner(self, conv):
    """`aula learner show <conv> --json`, parsed (None when it fails)."""
    out = subprocess.run([AULA_BIN, "learner", "show", conv, "--json"], env=self.env, capture_output=True, text=True,
                         timeout=30, cwd=ROOT)
    return json.loads(out.stdout) if out.returncode == 0 else None


Aula.whatsapp = _whatsapp_post
Aula.whatsapp_verify = _whatsapp_verify
Aula.twilio = _twilio_post
Aula.session = _session
Aula.learner = _learner


# The record stores of the aula instances this process started: result records are drained
# from Redis into them within about a second.
_record_dbs = []


def _redis_results(redis):
    out_records = []
    for key in redis.cli("--scan", "--pattern", "aula:{p*}:results").split():
        out = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", "XRANGE", key, "-", "+"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                out_records.append(json.loads(line))
    return out_records


def _stored_results(conv=None):
    for db in _record_dbs:
        if not os.path.exists(db):
            continue
        with sqlite3.connect(db, timeout=10) as c:
            rows = (c.execute("SELECT data FROM records WHERE conv = ? ORDER BY seq", (conv,)) if conv
                    else c.execute("SELECT data FROM records ORDER BY seq"))
            for (data,) in rows:
                yield json.loads(data)


def all_results(redis):
    """Every result record of every conversation, each once, oldest first: those drained into
    the record stores of the aula instances started here, then those still in Redis. Redis is
    read first: a record drained meanwhile is then found in its record store."""
    pending = _redis_results(redis)
    seen = set()
    for rec in list(_stored_results()) + pending:
        key = (rec.get("conv"), rec.get("id"))
        if key not in seen:
            seen.add(key)
            yield rec


def results(redis, conv, type_=None):
    """Result records of one conversation, oldest first (as all_results)."""
    pending = [r for r in _redis_results(redis) if r.get("conv") == conv]
    records, seen = [], set()
    for rec in list(_stored_results(conv)) + pending:
        if rec.get("id") not in seen:
            seen.add(rec.get("id"))
            records.append(rec)
    return [r for r in records if type_ is None or r.get("type") == type_]


def sent_messages(records):
    """Each message a conversation's "sent" records stand for, in order: a record made for one
    provider call, or one part of a record the sender merged (a step's replies acknowledged
    together carry "messages" and "parts"). Each as {"external_id", "segments", …}."""
    out = []
    for r in records:
        if r.get("type") != "sent":
            continue
        parts = r.get("parts")
        if parts is None:
            out.append(r)
            continue
        assert r.get("messages") == len(parts), r
        out.extend(parts)
    return out


# Shared by the tests that drive web-chat learners and the admin API (dashboard, reports,
# operators).
def load_yaml(path):
    import yaml
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def label(value, lang="es"):
    return value.get(lang, value.get("es")) if isinstance(value, dict) else str(value)


def admin(aula, method, path, body=None, token=ADMIN_TOKEN):
    """An admin API call with a bearer token: (status, parsed JSON or the text)."""
    status, text, _ = http(method, aula.url + path, body,
                           {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class WebLearner:
    """A learner of the web chat, driven through /chat/api/send and /chat/api/poll."""

    def __init__(self, aula, hex_id):
        self.aula = aula
        self.id = hex_id
        self.conv = "web:" + hex_id
        self.seen = []  # every message aula sent, oldest first
        self.answered = 0  # messages seen when the last answer went

    def poll(self):
        after = self.seen[-1]["id"] if self.seen else ""
        status, text, _ = http("GET", f"{self.aula.url}/chat/api/poll?learner={self.id}&after={after}")
        assert status == 200, (status, text)
        self.seen.extend(json.loads(text)["messages"])
        return self.seen

    def asked(self, text, choices=True):
        """Waits for a new message (since the last answer) that asks `text`."""
        def found():
            self.poll()
            for m in self.seen[self.answered:]:
                msg = m["msg"]
                if text in (msg.get("text") or "") and (msg.get("choices") or not choices):
                    return msg
            return None
        return wait_until(found, timeout=20, what=f"{self.conv} to be asked {text!r}")

    def send(self, body):
        self.answered = len(self.seen)
        status, text, _ = http("POST", self.aula.url + "/chat/api/send", {"learner": self.id, "lang": "es", **body})
        assert status == 200, (status, text)

    def tap(self, question_text, option_label):
        msg = self.asked(question_text)
        refs = [c["ref"] for c in msg["choices"] if c["label"] == option_label]
        assert refs, (option_label, msg["choices"])
        self.send({"choice": refs[0]})

    def say(self, question_text, text):
        self.asked(question_text, choices=False)
        self.send({"text": text})

    def wait_text(self, start):
        def found():
            self.poll()
            return any((m["msg"].get("text") or "").startswith(start) for m in self.seen[self.answered:])
        wait_until(found, timeout=20, what=f"{self.conv} to get {start!r}")


def advance_to_local(aula, tz, hour, days=0):
    """Moves aula's test clock to `hour`:00 local in `tz` (plus a minute): `days` days after
    today's local date, or with days=0 the next such time. Returns the new now_ms."""
    import datetime
    import zoneinfo
    status, body, _ = aula.advance_clock("0s")
    assert status == 200, (status, body)
    now_ms = json.loads(body)["now_ms"]
    zone = zoneinfo.ZoneInfo(tz)
    local = datetime.datetime.fromtimestamp(now_ms / 1000, zone)
    target = datetime.datetime.combine(local.date() + datetime.timedelta(days=days), datetime.time(hour), zone)
    if days == 0 and target <= local:
        target += datetime.timedelta(days=1)
    seconds = int((target.timestamp() * 1000 - now_ms) / 1000) + 60
    status, body, _ = aula.advance_clock(f"{seconds}s")
    assert status == 200, (status, body)
    return json.loads(body)["now_ms"]
