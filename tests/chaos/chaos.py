"""The machinery of the fault tests (test_chaos.py): processes that can be killed and started
again, a load of Telegram updates from many learners at once, the checks that run after each
scenario, and the Markdown report. Standard library only; Debian's /usr/bin/python3.

It builds on tests/e2e/harness.py (Redis, MockTelegram, Aula) by subclassing: every child
process here is started with PR_SET_PDEATHSIG, so none outlives the test even when ctest kills
the test on a timeout.

How an effect is traced (tests/chaos/flows/eco.yaml): learner <chat> posts "/start eco" (k = 0),
then "m1" … "m<K>", then "fin" (k = K+1), each only after the previous one got 200, as one
Telegram chat would. The flow answers k = 0 … K with "eco: m<k>" and "fin" with "timer: fin"
one second later, from a timer. So every acknowledged update names the one message it must
cause at the mock Bot API, and the k of the messages a chat receives must grow.
"""

import collections
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import harness  # noqa: E402  (tests/e2e/harness.py)
from harness import (ROOT, TG_SECRET, TestCA, _die_with_parent, free_port,  # noqa: E402,F401
                     wait_until)

FULL = os.environ.get("AULA_CHAOS_FULL", "") not in ("", "0")
FLOWS = os.path.join(HERE, "flows")


def report_path():
    """AULA_CHAOS_REPORT, else (short mode under ctest) AULA_CHAOS_SHORT_REPORT, else
    tests/chaos/REPORT.md (the committed report comes from a full run)."""
    if os.environ.get("AULA_CHAOS_REPORT"):
        return os.environ["AULA_CHAOS_REPORT"]
    if not FULL and os.environ.get("AULA_CHAOS_SHORT_REPORT"):
        return os.environ["AULA_CHAOS_SHORT_REPORT"]
    return os.path.join(HERE, "REPORT.md")


# ---------------------------------------------------------------------------------------------
# Child processes that die with this one.

def _stop(proc, grace=10.0):
    """SIGTERM, then SIGKILL after `grace` seconds; always reaps."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class RespClient:
    """A minimal Redis client (RESP2) for reading what aula wrote."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.sock.makefile("rb")

    def __call__(self, *args):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self._read()

    def _read(self):
        line = self.f.readline()
        if not line:
            raise ConnectionError("Redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError("Redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2].decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("unexpected RESP line %r" % line)

    def scan(self, pattern):
        cursor, keys = "0", []
        while True:
            cursor, batch = self("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            keys.extend(batch)
            if cursor == "0":
                return sorted(set(keys))

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


class ChaosRedis(harness.Redis):
    """harness.Redis that can be shut down and started again on the same port and folder."""

    def start(self):
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec",
             "--dir", self.dir, "--logfile", self.log], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        wait_until(self.ping, what="redis-server")

    def ping(self):
        try:
            c = RespClient(self.port, timeout=1)
            try:
                return c("PING") == "PONG"
            finally:
                c.close()
        except OSError:
            return False

    def shutdown(self):
        """`redis-cli shutdown`: Redis fsyncs the AOF and exits (a clean restart, not a crash)."""
        subprocess.run(["redis-cli", "-p", str(self.port), "shutdown"], capture_output=True, timeout=10)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def stop(self):
        _stop(self.proc)
        self.proc = None

    def client(self):
        return RespClient(self.port)

    def results(self):
        """Every result record in aula:{p*}:results, as JSON objects."""
        c = self.client()
        try:
            out = []
            for key in c.scan("aula:{p*}:results"):
                for _id, fields in c("XRANGE", key, "-", "+") or []:
                    for i in range(0, len(fields) - 1, 2):
                        if fields[i] == "d":
                            try:
                                out.append(json.loads(fields[i + 1]))
                            except ValueError:
                                pass
            return out
        finally:
            c.close()

    def dead_letters(self):
        """Every dead letter kept in aula:{p*}:dead ({"conv", "reason", "attempts", "kind", …}),
        or None when this build keeps none (no such stream and no dead-letter script)."""
        c = self.client()
        try:
            keys = c.scan("aula:{p*}:dead")
            out = []
            for key in keys:
                for _id, fields in c("XRANGE", key, "-", "+") or []:
                    for i in range(0, len(fields) - 1, 2):
                        if fields[i] == "d":
                            try:
                                out.append(json.loads(fields[i + 1]))
                            except ValueError:
                                out.append({"raw": fields[i + 1]})
            return out
        finally:
            c.close()

    def leases(self):
        """{partition: owner} of the partition leases held now (aula:{pN}:lease = "owner|token")."""
        c = self.client()
        try:
            out = {}
            for key in c.scan("aula:{p*}:lease"):
                value = c("GET", key)
                m = re.match(r"^aula:\{p(\d+)\}:lease$", key)
                if value and m:
                    out[int(m.group(1))] = value.rsplit("|", 1)[0]
            return out
        finally:
            c.close()

    def session_ids(self):
        """{conversation: [provider ids kept in its session hash, oldest first]}."""
        c = self.client()
        try:
            out = {}
            for key in c.scan("aula:{p*}:s:*"):
                conv = key.split(":s:", 1)[1]
                ids = c("HGET", key, "ids") or ""
                out[conv] = [i for i in ids.split("\n") if i]
            return out
        finally:
            c.close()


class ChaosMock(harness.MockTelegram):
    """The mock Bot API (tests/support/mock_telegram.py), over HTTPS when given a certificate."""

    def __init__(self, tls=None, latency_ms=0):
        args = ["/usr/bin/python3", os.path.join(ROOT, "tests", "support", "mock_telegram.py"), "0",
                "--latency", str(latency_ms)]
        self.ctx = None
        if tls:
            args += ["--tls", tls.cert, tls.key]
            self.ctx = ssl.create_default_context(cafile=tls.ca)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, preexec_fn=_die_with_parent)
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "PORT", f"mock did not start: {line}"
        self.port = int(line[1])
        self.url = ("https" if tls else "http") + f"://127.0.0.1:{self.port}"

    def _call(self, method, path, body=None):
        if self.ctx:
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()

    def calls(self, method=None):
        return self._call("GET", "/__calls" + ("?method=" + method if method else ""))[1]

    def reset(self):
        self._call("POST", "/__reset", {})

    def fail(self, *rules, **spec):
        status, body = self._call("POST", "/__fail", list(rules) if rules else spec)
        assert status == 200, body

    def close(self):
        _stop(self.proc)
        self.proc.stdout.close()


class ChaosAula(harness.Aula):
    """harness.Aula on the chaos flows with a configuration file of the test's own; it can be
    killed with SIGKILL and started again on the same port."""

    def __init__(self, redis_url, telegram_api, workdir, config_path, name="aula", extra_env=None):
        env = {"AULA_FLOWS": FLOWS, "AULA_CONFIG": config_path,
               "AULA_RECORDS_URL": "sqlite://" + os.path.join(workdir, name + "-records.db")}
        env.update(extra_env or {})
        super().__init__(redis_url, telegram_api, env)
        self.name = name
        self.kills = 0
        self.starts = 0

    def start(self):
        self.proc = subprocess.Popen([harness.AULA_BIN, "serve"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_die_with_parent)
        self.starts += 1
        wait_until(self._healthy, timeout=20, what=f"{self.name}: aula serve /healthz")
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
            self.kills += 1

    def pause(self):
        """SIGSTOP: the process stalls (a long GC pause, a frozen VM) without dying."""
        if self.alive():
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.alive():
            self.proc.send_signal(signal.SIGCONT)

    def metrics(self):
        """{(name, ((label, value), …)): value} from GET /metrics."""
        try:
            status, body, _ = harness.http("GET", self.url + "/metrics", timeout=5)
        except OSError:  # not answering (dead or stopped)
            return {}
        if status != 200:
            return {}
        out = {}
        for line in body.splitlines():
            m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$', line)
            if not m:
                continue
            labels = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")))
            try:
                out[(m.group(1), labels)] = float(m.group(3))
            except ValueError:
                pass
        return out

    def close(self):
        self.resume()  # a stopped process would not act on SIGTERM
        _stop(self.proc)
        self.log.close()

    def remove_log(self):
        try:
            os.unlink(self.log.name)
        except OSError:
            pass


def dead_letter_series(metrics):
    """The series of GET /metrics that count dead letters: a name or a label value with
    'dead' in it (aula_service_events_total{kind="dead_letter"} today)."""
    return {k: v for k, v in metrics.items()
            if "dead" in k[0] or any("dead" in value for _, value in k[1])}


def log_summary(text, top=6):
    """The warnings and errors of an aula log: [(count, level, msg, an example line)]."""
    seen = collections.OrderedDict()
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            j = json.loads(line)
        except ValueError:
            continue
        level = str(j.get("level", ""))
        if level not in ("warn", "warning", "error", "fatal") or "AULA_TEST_CLOCK" in str(j.get("msg", "")):
            continue
        key = (level, str(j.get("msg", "")))
        if key not in seen:
            seen[key] = [0, line[:300]]
        seen[key][0] += 1
    items = sorted(((n, lv, msg, ex) for (lv, msg), (n, ex) in seen.items()), reverse=True)
    return items[:top]


# ---------------------------------------------------------------------------------------------
# aula's configuration for a scenario.

_probe_cache = {}


def midday_zone():
    """A fixed-offset zone where it is about noon now: timer messages are unsolicited, and
    quiet hours (21:00-08:00 local) must not hold them whatever hour the test runs at."""
    offset = 12 - time.gmtime().tm_hour  # -11 … +12
    if offset == 0:
        return "Etc/UTC"
    # POSIX sign: Etc/GMT-5 is five hours ahead of UTC.
    return "Etc/GMT%+d" % (-offset)


def config_supports(key_yaml):
    """Whether this build's `aula serve` accepts a configuration snippet (new keys land while
    these tests are written). The probe points at a flow folder that does not exist, so aula
    stops right after reading its configuration: exit 2 naming an unknown key means no."""
    if key_yaml in _probe_cache:
        return _probe_cache[key_yaml]
    folder = tempfile.mkdtemp(prefix="aula-chaos-probe-")
    try:
        path = os.path.join(folder, "aula.yaml")
        with open(path, "w") as f:
            f.write(key_yaml)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        env.update({"AULA_CONFIG": path, "AULA_FLOWS": os.path.join(folder, "no-flows-here"),
                    "AULA_REDIS_URL": "redis://127.0.0.1:1/0", "AULA_LISTEN": "127.0.0.1:%d" % free_port(),
                    "AULA_RECORDS_URL": "sqlite://" + os.path.join(folder, "r.db")})
        r = subprocess.run([harness.AULA_BIN, "serve"], env=env, capture_output=True, text=True, timeout=30,
                           cwd=ROOT)
        ok = not (r.returncode == 2 and "unknown key" in (r.stdout + r.stderr))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _probe_cache[key_yaml] = ok
    return ok


# The delivery settings of every scenario: short enough that a test sees a takeover, a held
# timer and a retry within seconds (the defaults are minutes-scale, for production).
DELIVERY = {"lease_ttl": "2s", "retry_base": "200ms", "retry_max": "2s", "timer_hold": "3s"}


def write_config(folder, request_timeout="5s", partitions=64, **delivery):
    """The scenario's config file; returns (path, {key: value} of the delivery keys this
    build accepts, [keys it does not know yet]). `delivery` adds to or overrides DELIVERY."""
    # Quiet hours off: whether a message may go must not depend on when the tests run.
    # The privacy consent question off too: the scenarios start their flows at once.
    lines = ["quiet_hours:", '  start: "00:00"', '  end: "00:00"', "privacy:", "  consent: false",
             "server:", "  threads: 2", "  shutdown_grace: 2s",
             "redis:", "  command_timeout: 1s", "  partitions: %d" % partitions,
             "http_client:", "  connect_timeout: 1s", "  request_timeout: %s" % request_timeout,
             "default_time_zone: %s" % midday_zone()]
    used, missing = {}, []
    section = []
    for key, value in sorted(dict(DELIVERY, **delivery).items()):
        if value is None:
            continue
        if config_supports("delivery:\n  %s: %s\n" % (key, value)):
            section.append("  %s: %s" % (key, value))
            used["delivery." + key] = value
        else:
            missing.append("delivery." + key)
    if section:
        lines += ["delivery:"] + section
    # The load's learners post about one update a second: above a person's pace, so the flood
    # limit (tests/e2e/test_abuse.py tests it) is lifted here.
    flood = "limits:\n  learner_messages_per_minute: 0\n"
    if config_supports(flood):
        lines += flood.rstrip("\n").split("\n")
    path = os.path.join(folder, "aula.yaml")
    with open(path, "w") as f:
        f.write("# written by tests/chaos for one scenario\n" + "\n".join(lines) + "\n")
    return path, used, missing


# ---------------------------------------------------------------------------------------------
# The load: learners posting Telegram updates concurrently, retrying as Telegram does.

_ids_lock = threading.Lock()


def tg_update(chat, text):
    """One Telegram text update with a fresh update_id (harness.tg_text, thread-safe)."""
    with _ids_lock:
        return harness.tg_text(chat, text, first_name="L%d" % chat)


class Update:
    __slots__ = ("chat", "k", "text", "update_id", "body", "acked", "statuses", "errors", "posts",
                 "t_ack", "dup_posts", "dup_statuses")

    def __init__(self, chat, k, text):
        self.chat, self.k, self.text = chat, k, text
        u = tg_update(chat, text)
        self.update_id = u["update_id"]
        self.body = json.dumps(u).encode()
        self.acked = False
        self.statuses = collections.Counter()  # HTTP status -> count (None: no answer)
        self.errors = 0
        self.posts = 0
        self.t_ack = None
        self.dup_posts = 0
        self.dup_statuses = collections.Counter()

    @property
    def effect(self):
        """The message this update must cause at the Bot API."""
        return "timer: fin" if self.text == "fin" else "eco: m%d" % self.k


def post_update(url, body, timeout=10.0):
    """POSTs one webhook; the HTTP status, or None when no answer came (refused, reset, …)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request("POST", "/webhooks/telegram", body=body,
                     headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def plan(count):
    """What one learner sends: "/start eco", m1 … m<count>, "fin"."""
    return ["/start eco"] + ["m%d" % k for k in range(1, count + 1)] + ["fin"]


class Load:
    """Each learner (a thread) posts its plan (chat -> texts, see plan()) one update after the
    other, `pace` seconds apart on average; a post without a 200 is retried (backoff up to
    0.5 s) until `give_up` seconds have passed for that update. `urls`: the aula instances;
    each attempt picks one at random (a load balancer). `dup_fraction`: that share of updates
    is posted twice (half at the same time, half right after the first 200). `sync_fin`: these
    learners post their "fin" together (a barrier), so their timers fall due at one moment;
    `fin_released` is then when they went (time.monotonic())."""

    def __init__(self, urls, plans, pace, rng, give_up=60.0, dup_fraction=0.0, sync_fin=(), post_timeout=10.0):
        self.urls = list(urls)
        self.post_timeout = post_timeout
        self.plans = dict(plans)
        self.chats = list(self.plans)
        self.pace = pace
        self.rng = random.Random(rng.random())
        self.give_up = give_up
        self.dup_fraction = dup_fraction
        self.sync_fin = set(sync_fin)
        self.fin_barrier = threading.Barrier(len(self.sync_fin)) if self.sync_fin else None
        self.fin_released = None
        self.updates = {c: [] for c in self.chats}
        self.threads = []
        self.stop = threading.Event()
        self.started = None
        self.finished = None
        self._lock = threading.Lock()

    def start(self):
        self.started = time.monotonic()
        for chat in self.chats:
            seed = self.rng.random()
            t = threading.Thread(target=self._learner, args=(chat, random.Random(seed)), daemon=True,
                                 name="learner-%d" % chat)
            t.start()
            self.threads.append(t)
        return self

    def join(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self.threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self.finished = time.monotonic()
        return not any(t.is_alive() for t in self.threads)

    def running(self):
        return any(t.is_alive() for t in self.threads)

    def _post_until_ok(self, u, rng, dup=False):
        deadline = time.monotonic() + self.give_up
        backoff = 0.05
        while not self.stop.is_set():
            status = post_update(rng.choice(self.urls), u.body, self.post_timeout)
            with self._lock:
                if dup:
                    u.dup_posts += 1
                    u.dup_statuses[status] += 1
                else:
                    u.posts += 1
                    u.statuses[status] += 1
                    if status is None:
                        u.errors += 1
            if status == 200:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(backoff * (0.5 + rng.random()))
            backoff = min(0.5, backoff * 2)
        return False

    def _learner(self, chat, rng):
        # A little stagger so the learners do not all post in the same millisecond.
        time.sleep(rng.random() * self.pace)
        texts = self.plans[chat]
        for k, text in enumerate(texts):
            if self.stop.is_set():
                return
            if text == "fin" and chat in self.sync_fin:
                try:
                    self.fin_barrier.wait(self.give_up)
                except threading.BrokenBarrierError:
                    pass  # a learner got stuck: its problem is reported; the others go on
                with self._lock:
                    if self.fin_released is None:
                        self.fin_released = time.monotonic()
            u = Update(chat, k, text)
            self.updates[chat].append(u)
            dup = self.dup_fraction > 0 and rng.random() < self.dup_fraction
            if dup and rng.random() < 0.5:
                # The same update twice at the same time: only one may take effect.
                twin = threading.Thread(target=self._post_until_ok, args=(u, random.Random(rng.random()), True))
                twin.start()
                ok = self._post_until_ok(u, rng)
                twin.join()
            else:
                ok = self._post_until_ok(u, rng)
                if dup and ok:
                    self._post_until_ok(u, rng, dup=True)
            if ok:
                u.acked = True
                u.t_ack = time.monotonic()
            else:
                if self.fin_barrier is not None:
                    self.fin_barrier.abort()
                return  # this learner's chat is stuck: later updates would not be in order
            if k < len(texts) - 1:
                time.sleep(self.pace * (0.5 + rng.random()))

    def all_updates(self):
        return [u for c in self.chats for u in self.updates[c]]

    def redeliver(self, fraction, rng):
        """Posts again a sample of the acknowledged updates (a provider redelivering days
        later); returns [(update, status)]."""
        acked = [u for u in self.all_updates() if u.acked]
        sample = rng.sample(acked, max(1, int(len(acked) * fraction))) if acked else []
        out = []
        for u in sample:
            out.append((u, post_update(rng.choice(self.urls), u.body)))
        return out


# ---------------------------------------------------------------------------------------------
# After a scenario: what reached the mock, and what it proves.

def delivered_by_chat(calls):
    """{chat id (int): [(seq, text, status, delay_ms, at)]} of sendMessage calls, in arrival
    order (`at`: wall-clock time the call arrived at the mock)."""
    out = collections.defaultdict(list)
    for c in calls:
        if c.get("method", "").lower() != "sendmessage":
            continue
        body = c.get("body") or {}
        try:
            chat = int(body.get("chat_id"))
        except (TypeError, ValueError):
            continue
        out[chat].append((c["seq"], body.get("text", ""), c.get("status"), c.get("delay_ms") or 0, c.get("at", 0.0)))
    for v in out.values():
        v.sort()
    return out


def wait_drained(mock, load, deadline_s, quiet_s=1.5, exclude=(), not_before=0.0):
    """Waits until every effect of an acknowledged update has reached the mock with a 200,
    no call is pending and nothing new has arrived for `quiet_s` (late duplicates are
    counted too), or until the deadline. Never returns before the wall-clock time
    `not_before` (after a kill: the lease has lapsed and anything resent has arrived).
    Returns the last /__calls answer."""
    deadline = time.monotonic() + max(deadline_s, not_before - time.time())
    expected = {(u.chat, u.effect) for u in load.all_updates() if u.acked and u.chat not in exclude}
    last_total, last_change = -1, time.monotonic()
    while True:
        calls = mock.calls()
        total = len(calls)
        if total != last_total:
            last_total, last_change = total, time.monotonic()
        got = {(int(c["body"]["chat_id"]), c["body"].get("text", "")) for c in calls
               if c.get("method", "").lower() == "sendmessage" and c.get("status") == 200
               and str(c.get("body", {}).get("chat_id", "")).lstrip("-").isdigit()}
        pending = any(c.get("status") is None for c in calls)
        if expected <= got and not pending and time.monotonic() - last_change >= quiet_s \
                and time.time() >= not_before:
            return calls
        if time.monotonic() >= deadline:
            return calls
        time.sleep(0.25)


ECHO = re.compile(r"^eco: m(\d+)$")


class Verdict:
    """The counts of one scenario and the invariants they break."""

    FIELDS = ["updates", "acknowledged", "posts", "s503", "no_answer", "delivered", "expected", "duplicates",
              "max_dup_per_learner", "unexplained_duplicates", "lost", "lost_commit", "kills", "order_violations",
              "dead_letters", "engine_duplicates", "timers_expected", "timers_delivered", "timers_twice",
              "unexpected", "seconds"]

    def __init__(self, name):
        self.name = name
        self.counts = {f: 0 for f in self.FIELDS}
        self.counts["dead_letters"] = "-"
        self.problems = []
        self.notes = []
        self.examples = collections.defaultdict(list)
        self.error = None
        self.t0 = time.monotonic()
        self.timeline = []

    def mark(self, what):
        """Notes when a phase of the scenario ended (seconds since it began)."""
        self.timeline.append("%s %.1fs" % (what, time.monotonic() - self.t0))

    def __getitem__(self, k):
        return self.counts[k]

    def __setitem__(self, k, v):
        self.counts[k] = v

    def problem(self, text):
        self.problems.append(text)

    def example(self, kind, text, limit=5):
        if len(self.examples[kind]) < limit:
            self.examples[kind].append(text)

    @property
    def passed(self):
        return not self.problems and self.error is None


# How far apart the test's clock readings and the mock's can be for one instant (same host,
# but the test notes a kill just before it happens).
SLACK_S = 0.15


def check(v, load, calls, redis, windows=(), late_ms=None, exclude=()):
    """Fills the verdict from the load, the mock's calls and Redis:
    - acknowledged: updates that got a 200 (an update never acknowledged is a problem too:
      aula must come back);
    - lost: an acknowledged update whose message never reached the mock with a 200;
      lost_commit: of those, the ones missing from the session's provider ids (never committed);
    - duplicates: extra 200 copies of one message. Delivery is at-least-once, so a copy is
      allowed only where the design says one may happen, and each must be explained: by a
      fault window (wall-clock (start, end): a kill, a Redis outage) that the previous copy
      arrived before the end of and this copy after the start of — a message in flight when
      the sender died or could not record it — at most one per learner per window; or, with
      late_ms, by a previous copy that the Bot API accepted only after aula's request timeout.
      A window may also be (start, end, limit, fault id): copies must arrive by `limit`, and
      windows with one fault id share the one copy per learner. Any other copy is an
      unexplained duplicate;
    - order: per chat, the k of the messages must not go back (a copy of the message just
      before is a duplicate, not disorder);
    - engine duplicates: a result record (answer, or the run's end after the timer) written
      twice for one learner — the engine took one input or one timer twice;
    - unexpected: a message to a learner that no update explains."""
    updates = [u for u in load.all_updates() if u.chat not in exclude]
    v["updates"] = len(updates)
    v["acknowledged"] = sum(u.acked for u in updates)
    v["posts"] = sum(u.posts + u.dup_posts for u in updates)
    v["s503"] = sum(u.statuses[503] + u.dup_statuses[503] for u in updates)
    v["no_answer"] = sum(u.statuses[None] + u.dup_statuses[None] for u in updates)
    unacked = [u for u in updates if not u.acked]
    never_posted = sum(len(load.plans[c]) - len(load.updates[c]) for c in load.chats if c not in exclude)
    if unacked or never_posted:
        v.problem("%d update(s) never acknowledged with 200 (and %d never posted behind them), e.g. %s" % (
            len(unacked), never_posted,
            ", ".join("chat %d %s: %s" % (u.chat, u.text, dict(u.statuses)) for u in unacked[:3])))
    bad_dups = [u for u in updates if u.dup_posts and u.dup_statuses[200] == 0]
    if bad_dups:
        v.problem("%d duplicate post(s) never answered 200" % len(bad_dups))

    # Fault windows as (start, end, latest time a copy it explains may arrive or None, fault id):
    # (start, end) pairs are one fault each.
    faults = [tuple(w) if len(w) == 4 else (w[0], w[1], None, i) for i, w in enumerate(windows)]
    by_chat = delivered_by_chat(calls)
    ids = redis.session_ids()
    expected = 0
    delivered = 0
    lost = lost_commit = 0
    dups_total = 0
    max_dup = 0
    unexplained = 0
    over_window = 0
    order = 0
    unexpected = 0
    timers_expected = timers_delivered = timers_twice_mock = 0
    for chat in load.chats:
        if chat in exclude:
            continue
        mine = [u for u in load.updates[chat] if u.acked]
        ok_texts = [x[1] for x in by_chat.get(chat, []) if x[2] == 200]
        copies = collections.Counter(ok_texts)
        kept_ids = set(ids.get("telegram:%d" % chat, []))
        for u in mine:
            expected += 1
            if copies[u.effect] > 0:
                delivered += 1
            else:
                lost += 1
                committed = ("u%d" % u.update_id) in kept_ids
                if not committed:
                    lost_commit += 1
                v.example("lost", "chat %d: %r (update %d, %s in the session's ids)" % (
                    chat, u.effect, u.update_id, "committed: present" if committed else "NOT present"))
            if u.text == "fin":
                timers_expected += 1
                timers_delivered += copies[u.effect] > 0
                timers_twice_mock += copies[u.effect] > 1
        learner_dups = sum(n - 1 for n in copies.values() if n > 1)
        dups_total += learner_dups
        max_dup = max(max_dup, learner_dups)
        if learner_dups:
            v.example("duplicates", "chat %d: %s" % (chat, ", ".join("%r x%d" % (t, n) for t, n in copies.items()
                                                                       if n > 1)))
        # Each extra copy must be explained (see above).
        used = collections.Counter()  # fault -> copies it explained for this learner
        by_text = collections.defaultdict(list)
        for (_seq, t, st, delay, at) in by_chat.get(chat, []):
            if st == 200:
                by_text[t].append((at, delay))
        for t, copies_at in by_text.items():
            for j in range(1, len(copies_at)):
                prev_at, prev_delay = copies_at[j - 1]
                at = copies_at[j][0]
                if late_ms is not None and prev_delay >= late_ms:
                    continue
                fits = [i for i, (start, end, limit, _f) in enumerate(faults)
                        if prev_at <= end + SLACK_S and at >= start - SLACK_S
                        and (limit is None or at <= limit + SLACK_S)]
                free = [i for i in fits if used[faults[i][3]] == 0]
                if free:
                    used[faults[free[0]][3]] += 1
                    start = faults[free[0]][0]
                    v.example("duplicates explained by a fault",
                              "chat %d: %r at fault%+.2fs, again at fault%+.2fs" % (chat, t, prev_at - start,
                                                                                  at - start))
                    continue
                if fits:
                    over_window += 1
                    v.example("duplicates beyond one per learner per fault",
                              "chat %d: %r again at +%.2fs (windows %s already used)" % (
                                  chat, t, at - prev_at, fits))
                else:
                    unexplained += 1
                    v.example("unexplained duplicates",
                              "chat %d: %r at %s then again %.2fs later; fault windows %s" % (
                                  chat, t, time.strftime("%H:%M:%S", time.localtime(prev_at)) +
                                  ".%02d" % int((prev_at % 1) * 100), at - prev_at,
                                  ["%.2f..%.2f" % (f[0] - prev_at, f[1] - prev_at) for f in faults] or "none"))
        # Order: the k's must not go back, except for a copy of the message just before.
        last_text, top = None, -1
        for t in ok_texts:
            m = ECHO.match(t)
            if m:
                k = int(m.group(1))
            elif t == "timer: fin":
                k = 10 ** 9  # after every echo
            else:
                unexpected += 1
                v.example("unexpected", "chat %d: %r" % (chat, t))
                continue
            if t == last_text:
                continue
            if k < top:
                order += 1
                v.example("order", "chat %d: %r after k=%d (sequence %s)" % (
                    chat, t, top, [x for x in ok_texts][:40]))
            top = max(top, k)
            last_text = t
    v["expected"] = expected
    v["delivered"] = delivered
    v["lost"] = lost
    v["lost_commit"] = lost_commit
    v["duplicates"] = dups_total
    v["max_dup_per_learner"] = max_dup
    v["order_violations"] = order
    v["unexpected"] = unexpected
    v["timers_expected"] = timers_expected
    v["timers_delivered"] = timers_delivered

    # What the engine produced: one answer record per acknowledged m<k>, one end record per
    # learner whose timer fired. A record seen twice means an input or a timer took effect twice.
    # (Records drained by a record sink are simply not seen: absence is not judged here.)
    records = redis.results()
    per = collections.Counter()
    for r in records:
        conv = r.get("conv", "")
        if not conv.startswith("telegram:"):
            continue
        try:
            chat = int(conv.split(":", 1)[1])
        except ValueError:
            continue
        if chat in exclude or chat not in load.updates:
            continue
        if r.get("type") == "answer":
            per[(chat, "answer", r.get("text"))] += 1
        elif r.get("type") == "end":
            per[(chat, "end", r.get("status"))] += 1
    engine_dups = sum(n - 1 for n in per.values() if n > 1)
    timers_twice = sum(1 for (c, kind, _), n in per.items() if kind == "end" and n > 1)
    for key, n in per.items():
        if n > 1:
            v.example("engine", "chat %d: %s record %r x%d" % (key[0], key[1], key[2], n))
    v["engine_duplicates"] = engine_dups
    v["timers_twice"] = timers_twice
    v.notes.append("result records seen in Redis: %d (answer/end records counted per learner)" % len(records))

    # Dead letters kept in Redis: only a learner whose every send fails (excluded) may have any.
    dead = redis.dead_letters()
    v["dead_letters"] = len(dead)
    wrong = [d for d in dead if d.get("conv") not in {"telegram:%d" % c for c in exclude}]
    for d in wrong[:5]:
        v.example("dead letter", json.dumps(d, ensure_ascii=False)[:300])
    if wrong:
        v.problem("%d dead letter(s) for learners whose sends fail only for a while" % len(wrong))
    if timers_twice_mock:
        v.notes.append("learners that received the timer message more than once: %d" % timers_twice_mock)

    if lost:
        v.problem("lost = %d acknowledged update(s) whose message never reached the Bot API (%d of them not "
                  "even committed)" % (lost, lost_commit))
    if order:
        v.problem("order broken %d time(s)" % order)
    if engine_dups:
        v.problem("the engine took %d input(s) or timer(s) twice (result records)" % engine_dups)
    if timers_twice:
        v.problem("%d timer(s) fired twice" % timers_twice)
    if unexpected:
        v.problem("%d message(s) that no update explains" % unexpected)
    if unexplained:
        v.problem("%d duplicate(s) that no fault explains (of %d in all)" % (unexplained, dups_total))
    if over_window:
        v.problem("%d duplicate(s) beyond one per learner per fault" % over_window)
    v["unexplained_duplicates"] = unexplained + over_window
    return v


# ---------------------------------------------------------------------------------------------
# The report.

def source_version():
    """The commit the sources are at, and whether tracked files differ from it."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "an unknown commit"
    if not head:
        return "an unknown commit"
    return "commit %s%s" % (head, " with uncommitted changes" if dirty else "")


def write_report(path, verdicts, meta):
    cols = [("acknowledged", "ack"), ("posts", "posts"), ("s503", "503s"), ("no_answer", "no answer"),
            ("delivered", "delivered"), ("duplicates", "dups"), ("max_dup_per_learner", "max dups/learner"),
            ("unexplained_duplicates", "unexplained dups"),
            ("lost", "lost"), ("kills", "kills"), ("order_violations", "order viol."),
            ("dead_letters", "dead letters"), ("engine_duplicates", "engine dups"),
            ("timers_twice", "timers twice"), ("unexpected", "unexpected"), ("seconds", "s")]
    out = ["# Fault tests of reliable delivery (tests/chaos)", "",
           "Written by `tests/chaos/test_chaos.py`; do not edit by hand. Mode: **%s**. %s" % (
               meta.get("mode"), meta.get("when")), "",
           "- build: `%s` at %s" % (meta.get("aula_bin"), source_version()),
           "- seed: %s (AULA_CHAOS_SEED to repeat the random choices)" % meta.get("seed"),
           "- total: %.1f s" % meta.get("seconds", 0), "",
           "Columns: ack = updates answered 200 (each must take effect); 503s and no answer = posts "
           "that had to be retried; delivered = effects of acknowledged updates that reached the Bot API "
           "(of expected); dups = extra copies at the Bot API; unexplained dups = copies that no kill, "
           "outage or late provider answer explains, or more than one per learner per fault; lost = "
           "acknowledged but never delivered (within the drain deadline); kills = SIGKILLs of aula (Redis "
           "restarts in scenario 2, stalls in 6); order viol. = a learner's messages going back; dead "
           "letters = kept in aula:{pN}:dead; engine dups = result records written twice (an input or a "
           "timer taking effect twice); timers twice = runs ended twice by their timer.", "",
           "| scenario | result | " + " | ".join(h for _, h in cols) + " |",
           "|---|---|" + "---|" * len(cols)]
    for v in verdicts:
        cells = []
        for k, _ in cols:
            val = v[k]
            if k == "delivered":
                val = "%s/%s" % (v["delivered"], v["expected"])
            elif k == "seconds":
                val = "%.1f" % v["seconds"]
            cells.append(str(val))
        result = "pass" if v.passed else ("ERROR" if v.error else "FAIL")
        out.append("| %s | %s | %s |" % (v.name, result, " | ".join(cells)))
    out.append("")
    for v in verdicts:
        out.append("## %s" % v.name)
        out.append("")
        out.append("Result: **%s**" % ("pass" if v.passed else ("ERROR" if v.error else "FAIL")))
        out.append("")
        if v.error:
            out.append("- error: `%s`" % v.error.replace("`", "'")[:2000])
        for p in v.problems:
            out.append("- invariant broken: %s" % p)
        if v.timeline:
            out.append("- timeline: %s" % ", ".join(v.timeline))
        for n in v.notes:
            out.append("- %s" % n)
        for kind, exs in v.examples.items():
            out.append("- examples (%s):" % kind)
            for e in exs:
                out.append("  - `%s`" % e.replace("`", "'")[:400])
        out.append("")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
