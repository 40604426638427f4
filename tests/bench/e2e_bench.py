#!/usr/bin/python3
"""The end-to-end benchmark of `scripts/bench e2e` (and the smoke run of scripts/test).

On one machine, as real processes on loopback: redis-server (AOF off; AOF everysec), the fast
provider mock (aula_bench_mock), `aula serve` pointed at the mock, and wrk
(tests/bench/webhooks.lua) posting Telegram updates and signed WhatsApp notifications for
10,000 distinct learners who walk the sample course as shipped (ask for it, accept the privacy
notice, answer the lesson's three quiz questions and its NPS question, ask again). Then the peer (../shared/peers: a grammY bot
with Redis sessions) under the same load, the same mock and the same Redis, alternated with
aula (A B A B), and redis-benchmark on the same Redis.

Every run is verified: replies counted at the mock against what the walk must produce (a
probe learner walks it first on the same server, and the replies of each step are counted),
sessions counted in Redis, answers counted in the record store. A run whose work was not done
is reported as failed, never as fast.

Standard library only (plus PyYAML for the configuration file); Debian's /usr/bin/python3.
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

# The walk: ask for the sample course, accept the privacy notice (asked before a learner's first
# flow, as config/aula.yaml ships), answer the lesson's three quiz questions (2, 1, 2: all right)
# and its NPS question (9); the next round asks for the course again.
DEFAULT_WALK = "curso|1|2|1|2|9"
# The learner's answers in the record store: quiz answers and answers to questions (the NPS).
ANSWER_TYPES = ("quiz", "answer")
ANSWER_TYPES_SQL = "type IN (" + ", ".join("?" * len(ANSWER_TYPES)) + ")"  # with ANSWER_TYPES as parameters

TG_TOKEN = "123456:BENCH-token"
TG_SECRET = "bench-secret-token"
WA_TOKEN = "EAAGbench-access-token"
WA_SECRET = "bench-app-secret"
WA_VERIFY = "bench-verify-token"
WA_PNID = "106540352242922"
ADMIN_TOKEN = "bench-admin-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")

MEASURED_BASE = 700000000   # the measured learners' chat ids (WhatsApp: 5207000…)
WARMUP_BASE = 800000000     # warm-up learners, never counted
PROBE_BASE = 600000000      # the probe learners that count each step's replies


def log(*a):
    print("e2e:", *a, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_req(port, method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = body.encode() if isinstance(body, str) else body
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def wait_until(pred, timeout, what, interval=0.05):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - poll until the deadline
            last = e
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what} (last: {last!r})")


def pinned(cmd, cpus):
    return (["taskset", "-c", cpus] + cmd) if cpus else cmd


def cpu_seconds(pid, stat=None):
    """A process's CPU seconds (or one thread's: `stat` is /proc/<pid>/task/<tid>/stat)."""
    with open(stat or f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def thread_cpu_seconds(pid):
    """CPU seconds per thread name (aula names its threads: aula-io-N, aula-records)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            seconds = cpu_seconds(pid, f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue  # the thread ended
        out[name] = out.get(name, 0) + seconds
    return out


def vm_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def machine_load():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


# ---------------------------------------------------------------------------------------------
# Redis

class Redis:
    def __init__(self, port, aof, cpus, workdir):
        self.port, self.aof, self.cpus = port or free_port(), aof, cpus
        self.dir = os.path.join(workdir, f"redis-{port}")
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        if self.cli("PING").strip() == "PONG":
            raise RuntimeError(f"a redis-server already answers on port {self.port}: stop it or pick another port")
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir,
               "--appendonly", "yes" if self.aof else "no", "--appendfsync", "everysec"]
        self.proc = subprocess.Popen(pinned(cmd, self.cpus), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self.cli("PING").strip() == "PONG", 10, "redis-server")

    def stop(self):
        if self.proc:
            self.cli("SHUTDOWN", "NOSAVE")
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def cli(self, *args):
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True,
                              timeout=120).stdout

    def commandstats(self):
        out = {}
        for line in self.cli("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def info(self, section, key):
        for line in self.cli("INFO", section).splitlines():
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
        return None

    def count_keys(self, pattern):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--scan", "--pattern", pattern],
                             capture_output=True, text=True, timeout=120).stdout
        return len([k for k in out.splitlines() if k.strip()])

    def keys(self, pattern):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "--scan", "--pattern", pattern],
                             capture_output=True, text=True, timeout=120).stdout
        return [k for k in out.splitlines() if k.strip()]


# ---------------------------------------------------------------------------------------------
# The mock

class Mock:
    def __init__(self, binary, cpus):
        self.proc = subprocess.Popen(pinned([binary, "--port", "0"], cpus), stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise RuntimeError(f"aula_bench_mock did not start: {line}")
        self.port = int(line[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self, chats=False, slots=False):
        q = "&".join(x for x in ("chats=1" if chats else "", "slots=1" if slots else "") if x)
        status, body = http_req(self.port, "GET", "/__stats" + ("?" + q if q else ""))
        if status != 200:
            raise RuntimeError(f"mock /__stats: {status}")
        return json.loads(body)

    def reset(self):
        http_req(self.port, "POST", "/__reset", "{}")

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


def replies(stats):
    """Messages delivered to learners: Telegram sendMessage and WhatsApp sends (not read receipts,
    keyboard edits or callback answers)."""
    calls = stats["calls"]
    n = calls.get("telegram.sendMessage", 0)
    n += sum(v for k, v in calls.items() if k.startswith("whatsapp.") and k not in ("whatsapp.read", "whatsapp.unknown"))
    return n


def replies_to(stats, prefixes):
    """Messages delivered to the chats whose key ("telegram:<chat>", "whatsapp:<to>", without a
    "+") starts with one of `prefixes` (needs stats(chats=True))."""
    n = 0
    for k, v in stats["per_chat"].items():
        k = k.replace(":+", ":")
        if k.startswith(prefixes):
            n += v
    return n


def measured_prefixes(base):
    return ("telegram:" + str(base)[:2], "whatsapp:52" + ("%010d" % base)[:2])


def wait_drained(mock, quiet_s=1.0, limit_s=60.0):
    """Waits until the mock's count stops growing for quiet_s; returns (stats, seconds waited)."""
    t0 = time.monotonic()
    last = mock.stats()
    still = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        time.sleep(0.2)
        s = mock.stats()
        if s["total"] != last["total"]:
            last, still = s, time.monotonic()
        elif time.monotonic() - still >= quiet_s:
            break
    return last, time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# aula serve and the peer

def bench_config(root, folder, server_threads, pace=None):
    with open(os.path.join(root, "config", "aula.yaml"), encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    cfg["server"]["threads"] = server_threads
    p = pace or {"per_second": 100000, "chat_burst": 1000, "chat_interval": "1ms"}
    cfg["delivery"].update({"telegram": dict(p), "whatsapp": dict(p), "sms": dict(p)})
    cfg["whatsapp"]["daily_conversation_cap"] = 0
    cfg["quiet_hours"] = {"start": "00:00", "end": "00:00"}
    path = os.path.join(folder, f"aula-{server_threads}-{p['per_second']}.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(cfg, f, allow_unicode=True, sort_keys=False)
    return path


class Aula:
    name = "aula"

    def __init__(self, args, redis, mock, workdir, pace=None):
        self.port = free_port()
        self.records = os.path.join(tempfile.mkdtemp(prefix="records-", dir=workdir), "records.db")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        env.update({
            "AULA_LISTEN": f"127.0.0.1:{self.port}", "AULA_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "AULA_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0", "AULA_FLOWS": os.path.join(args.root, "flows"),
            "AULA_CONFIG": bench_config(args.root, workdir, args.server_threads, pace),
            "AULA_RECORDS_URL": "sqlite://" + self.records, "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}",
            "AULA_TELEGRAM_TOKEN": TG_TOKEN, "AULA_TELEGRAM_SECRET": TG_SECRET, "AULA_TELEGRAM_API": mock.url,
            "AULA_WHATSAPP_TOKEN": WA_TOKEN, "AULA_WHATSAPP_APP_SECRET": WA_SECRET,
            "AULA_WHATSAPP_VERIFY_TOKEN": WA_VERIFY, "AULA_WHATSAPP_PHONE_NUMBER_ID": WA_PNID,
            "AULA_WHATSAPP_API": mock.url + "/v21.0",
        })
        self.env = env
        self.log = open(os.path.join(workdir, f"aula-{self.port}.log"), "w")
        self.proc = subprocess.Popen(pinned([args.aula, "serve"], args.server_cpus), env=env, cwd=args.root,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._healthy, 20, "aula serve /healthz")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise RuntimeError("aula serve exited: " + open(self.log.name).read()[-2000:])
        return http_req(self.port, "GET", "/healthz", timeout=2)[0] == 200

    @property
    def pid(self):
        return self.proc.pid

    def target(self, channel, walk, base, users, run, threads):
        return ([f"http://127.0.0.1:{self.port}", "--", f"users={users}", f"threads={threads}", f"channel={channel}",
                 f"walk={walk}", f"base={base}", f"run={run}", f"tg_secret={TG_SECRET}", f"wa_secret={WA_SECRET}",
                 f"wa_pnid={WA_PNID}"])

    def post(self, channel, chat, text, uid):
        """One webhook as the load generator sends it (for the probe)."""
        if channel == "telegram":
            body = json.dumps({"update_id": uid, "message": {
                "message_id": uid, "date": int(time.time()), "text": text,
                "from": {"id": chat, "is_bot": False, "first_name": "Ana", "language_code": "es"},
                "chat": {"id": chat, "type": "private", "first_name": "Ana"}}})
            return http_req(self.port, "POST", "/webhooks/telegram", body,
                            {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
        wa = "52%010d" % (chat % 10**10)
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PNID},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": wa}],
                "messages": [{"from": wa, "id": f"wamid.PROBE{uid}", "timestamp": str(int(time.time())),
                              "type": "text", "text": {"body": text}}]}}]}]}, ensure_ascii=False).encode()
        sig = "sha256=" + hmac.new(WA_SECRET.encode(), body, hashlib.sha256).hexdigest()
        return http_req(self.port, "POST", "/webhooks/whatsapp", body,
                        {"Content-Type": "application/json", "X-Hub-Signature-256": sig})

    def metrics_text(self):
        """aula's /metrics now ("" when it does not answer 200)."""
        status, body = http_req(self.port, "GET", "/metrics", timeout=5)[:2]
        return body if status == 200 else ""

    def redis_sent(self):
        """Requests (round trips) and commands aula sent to Redis since start (its /metrics)."""
        out = {}
        for m in re.finditer(r'^aula_redis_sent_total\{what="(\w+)"\} ([0-9.e+]+)$', self.metrics_text(), re.M):
            out[m.group(1)] = float(m.group(2))
        return out

    def webhook_latency_buckets(self):
        """aula's own histogram of the time from a webhook read to its answer (/metrics), summed
        over the webhook routes: {bucket's upper bound in seconds: webhooks answered within it}."""
        return latency_buckets(self.metrics_text())

    def sessions(self, redis, channel, base):
        prefix = str(base)[:2] if channel == "telegram" else "+52" + ("%010d" % base)[:2]
        return redis.count_keys(f"aula:*:s:{channel}:{prefix}*")

    @staticmethod
    def results_pending(redis):
        """Result records in Redis' streams, not yet in the record store."""
        return sum(int(redis.cli("XLEN", k).strip() or 0) for k in redis.keys("aula:{p*}:results"))

    def answer_records(self, redis, prefixes, wait_s=20):
        """Answer records of the measured learners: waits for the drain to empty Redis' result
        streams into the record store, then counts there (what is still in Redis is counted too)."""
        try:
            wait_until(lambda: self.results_pending(redis) == 0, wait_s, "the result drain", interval=0.5)
        except RuntimeError:
            pass
        left = self.results_pending(redis)
        n = 0
        if os.path.exists(self.records):
            with sqlite3.connect(self.records, timeout=10) as c:
                for p in prefixes:
                    n += c.execute(f"SELECT count(*) FROM records WHERE {ANSWER_TYPES_SQL} AND conv LIKE ?",
                                   (*ANSWER_TYPES, p + "%")).fetchone()[0]
        return n, left

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Peer:
    """../shared/peers/bot.js: grammY + @grammyjs/storage-redis, REPLY_MODE=api (each update's
    reply is a real sendMessage to the mock, and the webhook is answered after it)."""
    name = "peer"

    def __init__(self, args, redis, mock, workdir):
        self.port = free_port()
        env = dict(os.environ, BOT_PORT=str(self.port), API_ROOT=mock.url, REDIS_PORT=str(redis.port), REPLY_MODE="api")
        self.log = open(os.path.join(workdir, f"peer-{self.port}.log"), "w")
        self.proc = subprocess.Popen(pinned(["node", "bot.js"], args.server_cpus), env=env, cwd=args.peer_dir,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self._up, 20, "the peer bot")

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError("the peer exited: " + open(self.log.name).read()[-2000:])
        return http_req(self.port, "GET", "/__stats", timeout=2)[0] == 200

    @property
    def pid(self):
        return self.proc.pid

    def target(self, channel, walk, base, users, run, threads):
        return ([f"http://127.0.0.1:{self.port}", "--", f"users={users}", f"threads={threads}", "channel=telegram",
                 f"walk={walk}", f"base={base}", f"run={run}", "tg_path=/webhook/quiz", f"tg_secret={TG_SECRET}"])

    def sessions(self, redis, channel, base):
        return redis.count_keys(f"quiz:{str(base)[:2]}*")

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# ---------------------------------------------------------------------------------------------
# One measured run

def run_wrk(args, server, channel, walk, base, users, conns, threads, duration, run):
    cmd = pinned(["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "10s",
                  "-s", args.wrk_script] + server.target(channel, walk, base, users, run, threads) +
                 ([f"stagger={args.stagger}"] if getattr(args, "stagger", 0) else []), args.load_cpus)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT_JSON "):
            return json.loads(line[len("RESULT_JSON "):])
    raise RuntimeError("wrk gave no result: " + out.stdout[-1500:] + out.stderr[-1500:])


def latency_buckets(metrics_text):
    """The webhook routes' aula_http_request_duration_seconds buckets of a /metrics text, summed:
    {upper bound in seconds (inf for +Inf): cumulative count}."""
    out = {}
    pat = r'^aula_http_request_duration_seconds_bucket\{route="/webhooks/[^"]*",le="([^"]+)"\} ([0-9.e+]+)$'
    for m in re.finditer(pat, metrics_text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        out[le] = out.get(le, 0) + float(m.group(2))
    return out


def in_server_latency(before, after):
    """The window's webhooks as aula timed them (from two latency_buckets scrapes): their count,
    the share answered within 2 ms, and for p50/p90/p99 the bucket bound (ms) that holds it —
    an upper bound: the histogram knows no finer. What the load generator sees on top of it is
    the loopback, its own scheduling and the wait before aula reads the request."""
    bounds = sorted(after)
    if not bounds:
        return {}
    count = after.get(float("inf"), 0) - before.get(float("inf"), 0)
    if count <= 0:
        return {"webhooks": 0}
    within = {b: (after[b] - before.get(b, 0)) / count for b in bounds}
    res = {"webhooks": int(count), "last_bound_ms": max(b for b in bounds if b != float("inf")) * 1000}
    for name, q in (("p50_le_ms", 0.5), ("p90_le_ms", 0.9), ("p99_le_ms", 0.99)):
        b = next(b for b in bounds if within[b] >= q)
        res[name] = b * 1000 if b != float("inf") else None  # None: beyond the last bound
    if 0.002 in within:
        res["share_within_2ms"] = within[0.002]
    return res


def fnv1a64(text):
    h = 14695981039346656037
    for byte in text.encode("utf-8"):
        h ^= byte
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def answer_ids(server, redis, conv):
    """Ids of the answer records of one conversation: those still in its partition's results
    stream, then those already drained into the record store."""
    ids = set()
    key = "aula:{p%d}:results" % (fnv1a64(conv) % 64)
    out = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", "XRANGE", key, "-", "+"], capture_output=True,
                         text=True, timeout=60).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("conv") == conv and rec.get("type") in ANSWER_TYPES:
                ids.add(rec.get("id"))
    if os.path.exists(server.records):
        with sqlite3.connect(server.records, timeout=10) as c:
            for (i,) in c.execute(f"SELECT id FROM records WHERE conv = ? AND {ANSWER_TYPES_SQL}", (conv, *ANSWER_TYPES)):
                ids.add(i)
    return ids


def probe(server, mock, redis, channel, walk_texts, positions):
    """What each position of the walk produces for one fresh learner on this server: replies
    counted at the mock and answer records, position by position (the load's learners walk the
    same texts in the same order)."""
    if not isinstance(server, Aula):
        return [1] * positions, [0] * positions  # the peer answers every update with one sendMessage
    chat = PROBE_BASE + (1 if channel == "telegram" else 2)
    conv = "telegram:%d" % chat if channel == "telegram" else "whatsapp:+52%010d" % chat
    counts, answers = [], []
    uid = int(time.time() * 1000) % 10**9
    mine = ("telegram:%d" % chat, "whatsapp:52%010d" % chat)
    for pos in range(positions):
        text = walk_texts[pos % len(walk_texts)]
        before = replies_to(mock.stats(chats=True), mine)
        had = len(answer_ids(server, redis, conv))
        uid += 1
        status, body = server.post(channel, chat, text, uid)
        if status != 200:
            raise RuntimeError(f"probe: {channel} webhook answered {status}: {body[:300]}")
        wait_drained(mock, quiet_s=0.3, limit_s=10)
        counts.append(replies_to(mock.stats(chats=True), mine) - before)
        answers.append(len(answer_ids(server, redis, conv)) - had)
    return counts, answers


def measure(args, kind, redis, mock, channel, conns, threads, duration, warmup, run, walk):
    """Starts a server of `kind` (Aula or Peer) on a flushed Redis, probes, warms up, measures,
    verifies; returns a dict (with "ok" and "failures")."""
    # The kernel writes the previous run's files back (aula's record store, Redis's AOF) about
    # 30 s after they were written, i.e. during the next run: flushed now, so that the server
    # measured next (the peer, after aula) does not pay for them.
    os.sync()
    redis.cli("FLUSHALL")
    mock.reset()
    server = kind(args, redis, mock, args.workdir)
    res = {"server": server.name, "channel": channel, "connections": conns, "wrk_threads": threads,
           "duration_s": duration, "users": args.users, "redis": "aof-everysec" if redis.aof else "aof-off",
           "walk": walk, "load_before": machine_load()}
    try:
        texts = walk.split("|")
        if warmup > 0:
            run_wrk(args, server, channel, walk, WARMUP_BASE, min(args.users, 2000), conns, threads, warmup, run * 10 + 1)
        wait_drained(mock, quiet_s=0.5, limit_s=30)
        sent0 = server.redis_sent() if isinstance(server, Aula) else {}
        if isinstance(server, Aula):
            res["results_pending_at_start_of_window"] = Aula.results_pending(redis)
        threads0 = thread_cpu_seconds(server.pid)
        lat0 = server.webhook_latency_buckets() if isinstance(server, Aula) else {}
        s0, c0, cpu0, t0 = mock.stats(chats=True), redis.commandstats(), cpu_seconds(server.pid), time.monotonic()
        w = run_wrk(args, server, channel, walk, MEASURED_BASE, args.users, conns, threads, duration, run * 10 + 2)
        t1, cpu1, s1 = time.monotonic(), cpu_seconds(server.pid), mock.stats(chats=True)
        lat1 = server.webhook_latency_buckets() if isinstance(server, Aula) else {}
        if isinstance(server, Aula):
            # The record keeper's backlog: result records the window left in Redis (stored later).
            res["results_pending_at_end_of_window"] = Aula.results_pending(redis)
        _, drain_s = wait_drained(mock, quiet_s=1.0, limit_s=60)
        s2 = mock.stats(chats=True)
        cpu2, c2 = cpu_seconds(server.pid), redis.commandstats()
        threads2 = thread_cpu_seconds(server.pid)
        sent2 = server.redis_sent() if isinstance(server, Aula) else {}
        res["peak_rss_mb"] = vm_kb(server.pid, "VmHWM") / 1024
        window = t1 - t0
        # Replies to the measured learners only (the warm-up's may still be going out).
        mp = measured_prefixes(MEASURED_BASE)
        delivered_window = replies_to(s1, mp) - replies_to(s0, mp)
        delivered_total = replies_to(s2, mp) - replies_to(s0, mp)
        res["backlog_at_end_of_window"] = delivered_total - delivered_window
        msgs = w["http200"]
        cmds = {k: c2.get(k, 0) - c0.get(k, 0) for k in c2}
        cmds = {k: v for k, v in sorted(cmds.items(), key=lambda kv: -kv[1]) if v > 0 and k not in ("info", "ping")}
        res.update({
            "wrk": w, "window_s": window, "webhooks_per_s": msgs / window if window else 0,
            "replies_in_window": delivered_window, "replies_per_s": delivered_window / window if window else 0,
            "replies_after_drain": delivered_total, "drain_s": drain_s,
            "lat_ms": w["lat_ms"], "cpu_s_window": cpu1 - cpu0, "cpu_s_with_drain": cpu2 - cpu0,
            "cpu_pct_of_one_core": 100 * (cpu1 - cpu0) / window if window else 0,
            "cpu_us_per_message": 1e6 * (cpu2 - cpu0) / msgs if msgs else 0,
            # Per thread (window and drain): for aula, the I/O thread(s) and the record keeper's.
            "cpu_us_per_message_by_thread": {
                k: 1e6 * (v - threads0.get(k, 0)) / msgs for k, v in sorted(threads2.items())
                if msgs and v - threads0.get(k, 0) > 0},
            "redis_commands": cmds,
            "redis_commands_per_message": sum(cmds.values()) / msgs if msgs else 0,
        })
        if sent0 and sent2 and msgs:
            # Client side: what aula sent (a script is one command; a pipeline one round trip),
            # the sender's and the record keeper's batches and the idle polling included.
            res["redis_round_trips_per_message"] = (sent2.get("requests", 0) - sent0.get("requests", 0)) / msgs
            res["redis_sent_commands_per_message"] = (sent2.get("commands", 0) - sent0.get("commands", 0)) / msgs
            if "writes" in sent2:  # socket writes: requests made at once share one
                res["redis_writes_per_message"] = (sent2.get("writes", 0) - sent0.get("writes", 0)) / msgs
        # Verification: the work, not the speed.
        failures = []
        if isinstance(server, Aula):
            res["in_server_ms"] = in_server_latency(lat0, lat1)
            # aula timed every webhook the load generator got an answer to (the last ones of the
            # window may be answered after wrk stopped waiting: up to one per connection).
            timed = res["in_server_ms"].get("webhooks", 0)
            if not w["requests"] - conns <= timed <= w["requests"] + conns:
                failures.append(f"aula's /metrics timed {timed} webhooks in the window, wrk had {w['requests']} answered")
        if w["non200"]:
            failures.append(f"{w['non200']} webhooks answered other than 200 ({w['non200_codes'].strip()})")
        if w["socket_errors"] or w["timeouts"]:
            failures.append(f"{w['socket_errors']} socket errors, {w['timeouts']} timeouts")
        # The probe: a fresh learner walks as far as the load's learners went, on the same server.
        sent = w["sent_per_position"]
        if channel == "mix":
            pt, at = probe(server, mock, redis, "telegram", texts, len(sent))
            pw, aw = probe(server, mock, redis, "whatsapp", texts, len(sent))
            per_pos = [(x + y) / 2 for x, y in zip(pt, pw)]
            ans_pos = [(x + y) / 2 for x, y in zip(at, aw)]
        else:
            per_pos, ans_pos = probe(server, mock, redis, channel, texts, len(sent))
        res["probe_replies_per_position"] = per_pos
        res["probe_answers_per_position"] = ans_pos
        expected = sum(n * r for n, r in zip(sent, per_pos))
        res["replies_expected"] = expected
        slack = conns * max(per_pos) + 2
        # How many replies each measured learner got (duplicates show as counts above the walk's).
        hist = {}
        for k, v in s2["per_chat"].items():
            if k.replace(":+", ":").startswith(mp):
                hist[v] = hist.get(v, 0) + 1
        res["replies_per_learner_histogram"] = dict(sorted(hist.items()))
        if abs(delivered_total - expected) > max(slack, 0.002 * expected):
            failures.append(f"replies at the mock {delivered_total}, the walk's {w['sent']} webhooks must give "
                            f"{expected:.0f} (±{slack})" +
                            (" — more than the walk gives: messages sent twice" if delivered_total > expected else ""))
        if msgs < 1:
            failures.append("no webhook answered 200")
        # Learners who sent something (the load generator counts those who sent their first text;
        # the last `conns` requests may have been cut by the end of the run).
        learners = min(args.users, w["learners"])
        chans = ["telegram", "whatsapp"] if channel == "mix" else [channel]
        sess = sum(server.sessions(redis, ch, MEASURED_BASE) for ch in chans)
        res["sessions_in_redis"] = sess
        if not learners - conns <= sess <= learners:
            failures.append(f"{sess} sessions in Redis for {learners} learners")
        if isinstance(server, Aula):
            prefixes = []
            if "telegram" in chans:
                prefixes.append("telegram:" + str(MEASURED_BASE)[:2])
            if "whatsapp" in chans:
                prefixes.append("whatsapp:+52" + ("%010d" % MEASURED_BASE)[:2])
            answers, left = server.answer_records(redis, prefixes)
            want = round(sum(n * a for n, a in zip(sent, ans_pos)))
            res.update({"answer_records": answers, "answer_records_expected": want, "results_left_in_redis": left})
            if abs(answers - want) > conns + 2:
                failures.append(f"{answers} answer records, {want} answers sent")
            # A walk whose answers reach no question measures a loop before the lesson (the
            # privacy notice asked again and again, say), not the lesson: not the work asked for.
            if walk == DEFAULT_WALK and not any(ans_pos):
                failures.append("the probe's walk answered no question (no quiz or answer record): the learners "
                                "never reached the lesson — a gate before it (privacy consent?) or changed flows")
        res["failures"] = failures
        res["ok"] = not failures
    except Exception as e:  # noqa: BLE001 - reported as a failed run
        res["failures"] = res.get("failures", []) + [f"{type(e).__name__}: {e}"]
        res["ok"] = False
    finally:
        res["load_after"] = machine_load()
        server.close()
    state = "ok" if res["ok"] else "FAILED: " + "; ".join(res["failures"])
    log(f"{res['server']} {channel} c={conns} {res['redis']}: {res.get('replies_per_s', 0):.0f} replies/s, "
        f"{res.get('webhooks_per_s', 0):.0f} webhooks/s, p50 {res.get('lat_ms', {}).get('p50', 0):.2f} ms, "
        f"p99 {res.get('lat_ms', {}).get('p99', 0):.2f} ms"
        f"{' (in aula ' + in_server_cell(res) + ')' if 'in_server_ms' in res else ''}, "
        f"{res.get('cpu_us_per_message', 0):.0f} µs CPU/msg{by_thread(res)}, "
        f"RSS {res.get('peak_rss_mb', 0):.1f} MB, {res.get('redis_commands_per_message', 0):.2f} Redis cmds/msg — {state}")
    return res


# ---------------------------------------------------------------------------------------------
# Profile, redis-benchmark, scale

def profile_run(args, redis, mock, walk, seconds):
    """perf record -g on aula during a measured window (a run of its own: perf costs CPU);
    returns the top symbols and shared objects by self time."""
    out = {"ok": False}
    server = None
    redis.cli("FLUSHALL")
    mock.reset()
    try:
        server = Aula(args, redis, mock, args.workdir)
        run_wrk(args, server, "telegram", walk, WARMUP_BASE, 2000, 64, 2, 3, 91)
        data = os.path.join(args.workdir, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(server.pid),
                                 "-o", data],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        c0 = cpu_seconds(server.pid)
        w = run_wrk(args, server, "telegram", walk, MEASURED_BASE, args.users, 64, 2, seconds, 92)
        c1 = cpu_seconds(server.pid)
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
        out["messages"] = w["http200"]
        out["cpu_us_per_message_under_perf"] = 1e6 * (c1 - c0) / max(1, w["http200"])

        def report(sort, limit, children=False):
            r = subprocess.run(["perf", "report", "-i", data, "--stdio", "--children" if children else "--no-children",
                                "--sort", sort, "--percent-limit", str(limit), "-g", "none"], capture_output=True,
                               text=True, timeout=600)
            rows = []
            for line in r.stdout.splitlines():
                m = re.match(r"\s*([\d.]+)%\s+(?:([\d.]+)%\s+)?(.*\S)\s*$", line)
                if m:
                    rows.append([float(m.group(1)), m.group(3)])
            return rows
        out["by_dso"] = report("dso", 0.5)
        out["by_symbol"] = report("dso,symbol", 0.7)[:40]
        # Inclusive time (the function and what it calls), aula's own functions: where the
        # per-message CPU goes by component.
        out["inclusive"] = [r for r in report("symbol", 2.0, children=True)
                            if "aula::" in r[1] or "redis" in r[1].lower() or "http" in r[1].lower()][:40]
        out["ok"] = True
    except Exception as e:  # noqa: BLE001
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        if server:
            server.close()
    return out


def redis_benchmark(args, redis, session_bytes):
    """redis-benchmark on the same Redis: the peer's command mix (GET + SET of a session-sized
    value) and aula's shape of a commit (one EVAL touching a session, a stream and a sorted set);
    -c 64 like the webhook load, pinned like the load generator."""
    redis.cli("FLUSHALL")
    res = {}
    d = max(64, int(session_bytes))
    cmd = ["redis-benchmark", "-p", str(redis.port), "-c", "64", "-n", str(args.rb_requests), "-r", str(args.users),
           "-d", str(d), "-q", "--csv"]
    out = subprocess.run(pinned(cmd + ["-t", "get,set"], args.load_cpus), capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        m = re.match(r'"([^"]+)","([\d.]+)"', line)
        if m:
            res[m.group(1)] = float(m.group(2))
    script = ("redis.call('GET', KEYS[1]); redis.call('SET', KEYS[1], ARGV[1]); "
              "redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000', '*', 'r', ARGV[1]); "
              "return redis.call('ZADD', KEYS[3], 1, KEYS[1])")
    value = "x" * d
    out = subprocess.run(pinned(cmd[:-2] + ["--csv", "EVAL", script, "3", "s:__rand_int__", "out", "timers", value],
                                args.load_cpus), capture_output=True, text=True, timeout=300).stdout
    for line in out.splitlines():
        m = re.match(r'"([^"]+)","([\d.]+)"', line)
        if m:
            res["EVAL get+set+xadd+zadd"] = float(m.group(2))
    redis.cli("FLUSHALL")
    return {"value_bytes": d, "requests_per_s": res, "connections": 64}


def scale_memory(args, redis, mock, walk, learners=300):
    """Redis memory per stored session at three points of the walk: after the first message
    (the lesson started), after two answers (mid-lesson), after the last answer (lesson done)."""
    redis.cli("FLUSHALL")
    mock.reset()
    server = Aula(args, redis, mock, args.workdir)
    texts = walk.split("|")
    # The default walk: the course asked for, the notice accepted (the lesson begins), two answers,
    # all four answers.
    if walk == DEFAULT_WALK:
        points = {2: "started (notice accepted)", 4: "mid-course (2 answers)", len(texts): "lesson done (4 answers)"}
    else:
        points = {1: "after 1 message", 3: "after 3 messages", len(texts): f"after {len(texts)} messages"}
    out = []
    try:
        uid = 1
        done = 0
        base = 500000000
        for upto, label in sorted(points.items()):
            for k in range(done, upto):
                for i in range(learners):
                    uid += 1
                    status, body = server.post("telegram", base + i, texts[k], uid)
                    if status != 200:
                        raise RuntimeError(f"scale: webhook {status} {body[:200]}")
                wait_drained(mock, quiet_s=0.5, limit_s=30)
            done = upto
            keys = redis.keys("aula:*:s:telegram:50*")
            sizes = [int(redis.cli("MEMORY", "USAGE", k, "SAMPLES", "0").strip() or 0) for k in keys]
            # The session is a hash (JSON and version fields): the bytes of its fields and values.
            lens = [len(redis.cli("--raw", "HGETALL", k).encode("utf-8")) for k in keys[:50]]
            out.append({"point": label, "messages": upto, "sessions": len(keys),
                        "memory_usage_bytes_mean": statistics.mean(sizes) if sizes else 0,
                        "memory_usage_bytes_max": max(sizes) if sizes else 0,
                        "json_bytes_mean": statistics.mean(lens) if lens else 0,
                        "used_memory_bytes": int(redis.info("memory", "used_memory") or 0)})
            if len(keys) != learners:
                out[-1]["failure"] = f"{len(keys)} sessions for {learners} learners"
    finally:
        server.close()
    return out


def scale_broadcast(args, redis, mock, learners, pace_learners, pace):
    """Time to schedule a broadcast to `learners` enrolled learners (the dry run that lists who
    receives it, then the job's creation), and the sender's pace: a broadcast to pace_learners
    with delivery.telegram.per_second = pace, its sends per sliding second counted at the mock."""
    out = {"learners": learners}
    redis.cli("FLUSHALL")
    mock.reset()
    server = Aula(args, redis, mock, args.workdir, pace={"per_second": pace, "chat_burst": 3, "chat_interval": "1s"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
    env.update({"AULA_CONFIG": server.env["AULA_CONFIG"], "AULA_LISTEN": f"127.0.0.1:{server.port}",
                "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}", "AULA_REDIS_URL": server.env["AULA_REDIS_URL"]})

    def cli(*a, timeout=600):
        t = time.monotonic()
        r = subprocess.run([args.aula, *a], env=env, capture_output=True, text=True, timeout=timeout)
        return r, time.monotonic() - t
    try:
        for cohort, n, base in (("bench-big", learners, 300000000), ("bench-pace", pace_learners, 400000000)):
            path = os.path.join(args.workdir, cohort + ".csv")
            with open(path, "w", encoding="utf-8") as f:
                f.write("nombre,canal,chat_id\n")
                for i in range(n):
                    f.write(f"Persona {i},telegram,{base + i}\n")
            r, secs = cli("enroll", "--cohort", cohort, path)
            if r.returncode != 0:
                raise RuntimeError(f"aula enroll: {r.stdout[-500:]} {r.stderr[-500:]}")
            out[f"enroll_{cohort}_s"] = secs
        text = "📣 Recordatorio: el módulo 2 ya está abierto."
        r, secs = cli("broadcast", "--cohort", "bench-big", "--text", text, "--dry-run")
        out["dry_run_s"] = secs
        out["dry_run_ok"] = r.returncode == 0
        out["dry_run_first_line"] = r.stdout.splitlines()[0] if r.stdout else r.stderr[-300:]
        at = (datetime.datetime.now() + datetime.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
        r, secs = cli("broadcast", "--cohort", "bench-big", "--text", text, "--at", at)
        out["schedule_s"] = secs
        out["schedule_output"] = (r.stdout or r.stderr).strip()[:300]
        out["schedule_ok"] = r.returncode == 0
        # The pace: a broadcast now, to pace_learners learners.
        mock.reset()
        t0 = time.monotonic()
        r, _ = cli("broadcast", "--cohort", "bench-pace", "--text", text)
        if r.returncode != 0:
            raise RuntimeError(f"aula broadcast: {r.stdout[-300:]} {r.stderr[-300:]}")
        wait_until(lambda: replies(mock.stats()) >= pace_learners, pace_learners / pace * 3 + 30, "the paced broadcast",
                   interval=0.5)
        took = time.monotonic() - t0
        st = mock.stats(slots=True)
        slots = dict((s[0], s[1]) for s in st["slots_100ms"])
        lo, hi = min(slots), max(slots)
        windows = []
        t = lo
        while t <= hi:
            windows.append(sum(slots.get(t + 100 * i, 0) for i in range(10)))
            t += 100
        out.update({"pace_per_second": pace, "pace_learners": pace_learners, "pace_delivered": replies(st),
                    "pace_seconds": took, "pace_max_sends_in_any_1s": max(windows),
                    "pace_mean_per_s": replies(st) / ((hi - lo + 100) / 1000),
                    "pace_held": max(windows) <= pace})
    except Exception as e:  # noqa: BLE001
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        server.close()
    return out


# ---------------------------------------------------------------------------------------------
# The suite, its report

def by_thread(r):
    """" (io-0 210 · records 55)": a run's CPU µs per message per named thread (aula's)."""
    t = {k: v for k, v in r.get("cpu_us_per_message_by_thread", {}).items() if k.startswith("aula-") and v >= 1}
    return " (" + " · ".join(f"{k[5:]} {v:.0f}" for k, v in sorted(t.items())) + ")" if t else ""


def in_server_cell(r):
    """"≤ 2 (98.4 % ≤ 2 ms)": the bucket bound holding aula's own p99 for a run's webhooks."""
    t = r.get("in_server_ms") or {}
    if not t.get("webhooks"):
        return "–"
    p99 = t.get("p99_le_ms")
    cell = f"≤ {p99:g}" if p99 is not None else f"> {t.get('last_bound_ms', 0):g}"
    if "share_within_2ms" in t:
        cell += f" ({100 * t['share_within_2ms']:.1f} % ≤ 2 ms)"
    return cell


def median_of(runs, key):
    # Every run that measured something, verified or not: a failed run's figures are shown
    # beside "runs ok", and no ratio is given as a result when a side failed.
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else 0


def lat_median(runs, p):
    vals = [r["lat_ms"][p] for r in runs if "lat_ms" in r]
    return statistics.median(vals) if vals else 0


def summarize(runs, label):
    ok = [r for r in runs if r.get("ok")]
    return {"label": label, "runs": len(runs), "ok_runs": len(ok),
            "replies_per_s": median_of(runs, "replies_per_s"), "webhooks_per_s": median_of(runs, "webhooks_per_s"),
            "p50_ms": lat_median(runs, "p50"), "p99_ms": lat_median(runs, "p99"),
            "cpu_us_per_message": median_of(runs, "cpu_us_per_message"),
            "peak_rss_mb": max([r["peak_rss_mb"] for r in runs if "peak_rss_mb" in r] or [0]),
            "cpu_pct_of_one_core": median_of(runs, "cpu_pct_of_one_core"),
            "redis_commands_per_message": median_of(runs, "redis_commands_per_message")}


def suite(args):
    out = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "load_at_start": machine_load()},
           "pinning": {"server": args.server_cpus, "load_mock_redis": args.load_cpus},
           "users": args.users, "duration_s": args.duration, "warmup_s": args.warmup, "walk": args.walk,
           "stagger": args.stagger}
    redis = Redis(args.redis_port, False, args.load_cpus, args.workdir)
    redis_aof = Redis(args.redis_aof_port, True, args.load_cpus, args.workdir)
    mock = Mock(args.mock, args.load_cpus)
    runs = []
    failed = False
    try:
        redis.start()
        if args.scale_only:
            out["scale_memory"] = scale_memory(args, redis, mock, args.walk)
            out["scale_broadcast"] = scale_broadcast(args, redis, mock, args.broadcast_learners, args.pace_learners,
                                                     args.pace)
            return out, False
        if args.smoke:
            r = measure(args, Aula, redis, mock, "mix", args.connections or 16, 1, args.duration, args.warmup, 1, args.walk)
            runs.append(r)
            out["runs"] = runs
            return out, not r["ok"]
        redis_aof.start()
        peer = bool(args.peer_dir)
        n = 0

        def go(kind, rd, channel, conns, threads=2, reps=1):
            nonlocal n
            got = []
            for _ in range(reps):
                n += 1
                got.append(measure(args, kind, rd, mock, channel, conns, threads, args.duration, args.warmup, n, args.walk))
            runs.extend(got)
            return got

        groups = {}
        # The headline: aula and the peer alternated (A B A B), Telegram, 64 connections, AOF off.
        a, b = [], []
        for _ in range(args.reps):
            a += go(Aula, redis, "telegram", 64)
            if peer:
                b += go(Peer, redis, "telegram", 64)
        groups["aula telegram c64 aof-off"] = a
        if peer:
            groups["peer telegram c64 aof-off"] = b
        # AOF everysec, alternated too.
        a, b = [], []
        for _ in range(args.reps if not args.quick else 1):
            a += go(Aula, redis_aof, "telegram", 64)
            if peer:
                b += go(Peer, redis_aof, "telegram", 64)
        groups["aula telegram c64 aof-everysec"] = a
        if peer:
            groups["peer telegram c64 aof-everysec"] = b
        # One connection: latency.
        groups["aula telegram c1 aof-off"] = go(Aula, redis, "telegram", 1, threads=1)
        if peer:
            groups["peer telegram c1 aof-off"] = go(Peer, redis, "telegram", 1, threads=1)
        # WhatsApp (signed) and both channels at once.
        groups["aula whatsapp c64 aof-off"] = go(Aula, redis, "whatsapp", 64)
        groups["aula mix c64 aof-everysec"] = go(Aula, redis_aof, "mix", 64)
        out["runs"] = runs
        out["groups"] = {k: summarize(v, k) for k, v in groups.items()}
        ratios = {}
        for cfg in ("telegram c64 aof-off", "telegram c64 aof-everysec", "telegram c1 aof-off"):
            ga, gb = out["groups"].get("aula " + cfg), out["groups"].get("peer " + cfg)
            if ga and gb and gb["replies_per_s"] and gb["webhooks_per_s"]:
                ratios[cfg] = {"verified": ga["ok_runs"] == ga["runs"] and gb["ok_runs"] == gb["runs"],
                               "replies_per_s": ga["replies_per_s"] / gb["replies_per_s"],
                               "webhooks_per_s": ga["webhooks_per_s"] / gb["webhooks_per_s"],
                               "p99_peer_over_aula": gb["p99_ms"] / ga["p99_ms"] if ga["p99_ms"] else 0,
                               "cpu_per_message_peer_over_aula":
                                   gb["cpu_us_per_message"] / ga["cpu_us_per_message"] if ga["cpu_us_per_message"] else 0}
        out["ratios"] = ratios
        failed = any(not r["ok"] for r in runs)
        # Baselines and scale.
        ok_aula = [r for r in runs if r["server"] == "aula" and r.get("ok")]
        if not args.no_scale:
            out["scale_memory"] = scale_memory(args, redis, mock, args.walk)
        sess_bytes = (out.get("scale_memory") or [{}])[len(out.get("scale_memory") or [{}]) // 2].get("json_bytes_mean", 600)
        out["redis_benchmark"] = {"aof-off": redis_benchmark(args, redis, sess_bytes)}
        if not args.quick:
            out["redis_benchmark"]["aof-everysec"] = redis_benchmark(args, redis_aof, sess_bytes)
        if ok_aula:
            cmds = {}
            for r in ok_aula:
                if r["connections"] == 64 and r["channel"] == "telegram":
                    cmds = r["redis_commands"]
                    out["aula_redis_mix_per_message"] = {k: v / r["wrk"]["http200"] for k, v in cmds.items()}
                    break
        if not args.no_scale:
            out["scale_broadcast"] = scale_broadcast(args, redis, mock, args.broadcast_learners, args.pace_learners,
                                                     args.pace)
        if args.profile:
            out["profile"] = profile_run(args, redis, mock, args.walk, min(args.duration, 10))
        elif args.profile_json:
            with open(args.profile_json, encoding="utf-8") as f:
                out["profile"] = json.load(f)
            out["profile"]["note"] = "taken by a separate profile_run() of this script just before this run"
    finally:
        mock.close()
        redis.stop()
        redis_aof.stop()
        out["machine"]["load_at_end"] = machine_load()
        out["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return out, failed


def fmt(v, d=1):
    return f"{v:,.{d}f}"


def render_md(results):
    md = ["# aula performance results", "",
          "Generated by `scripts/bench` (engine micro-benchmarks: `scripts/bench engine`; end to end: "
          "`scripts/bench e2e`). Do not edit: rerun.", ""]
    e2e = results.get("e2e")
    if e2e:
        m = e2e["machine"]
        md += ["## End to end", "",
               f"Run {e2e['started']} → {e2e.get('finished', '?')} ({e2e.get('label', '')}). "
               f"{m['cpus']} CPUs; load average at start {' '.join(m['load_at_start'])}, at end "
               f"{' '.join(m.get('load_at_end', ['?']))}." + (f" **{e2e['note']}**" if e2e.get('note') else ""), "",
               f"Each run: a flushed Redis, a fresh server, a probe learner that walks the lesson once to count "
               f"each step's replies, {e2e['warmup_s']} s of warm-up on other learners, then {e2e['duration_s']} s of wrk "
               f"(`tests/bench/webhooks.lua`) for {e2e['users']:,} distinct learners, each walking "
               f"`{e2e['walk']}` again and again" + (" (ask for the sample course, accept the privacy notice — asked "
               f"before a learner's first flow, as shipped —, answer the lesson's three quiz questions and its NPS "
               f"question; later rounds ask for the course again and answer on)" if e2e['walk'] == DEFAULT_WALK else "") +
               (", every learner at the same step (lockstep)" if e2e.get('stagger') == 1 else
                f", learners spread over {e2e['stagger']} steps of it (learner j starts j mod {e2e['stagger']} rounds "
                f"late: each round mixes the steps, as a cohort does)" if e2e.get('stagger') else
                ", learners spread over the walk's steps (learner j starts j mod its length rounds late: each round "
                "mixes the steps, as a cohort does)" if 'stagger' in e2e else "") +
               f". Pinning: server on CPU {e2e['pinning']['server']}, wrk + mock + Redis on CPU "
               f"{e2e['pinning']['load_mock_redis']}. **Replies/s** = messages that reached the mock (Telegram "
               f"sendMessage, WhatsApp sends) during the measured window; webhooks/s = HTTP 200s; CPU per message = "
               f"the server's CPU time (window + drain) / webhooks; Redis commands per message from `INFO "
               f"commandstats` (window + drain, every command the server sent). Verification per run: every webhook "
               f"200, the replies at the mock after the drain = Σ webhooks per step × the probe's replies per step, "
               f"one session in Redis per learner, one answer record (quiz or question) per answer the probe's walk gave, in the record store (aula); a "
               f"walk that reaches no question fails.", ""]
        if e2e.get("groups"):
            md += ["| configuration | runs verified | replies/s | webhooks/s | p50 ms | p99 ms | server CPU % of a core | CPU µs/msg | peak RSS MB | Redis cmds/msg |",
                   "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for k, g in e2e["groups"].items():
                md.append(f"| {k} | {g['ok_runs']}/{g['runs']}{'' if g['ok_runs'] == g['runs'] else ' **FAILED**'} | "
                          f"{fmt(g['replies_per_s'], 0)} | {fmt(g['webhooks_per_s'], 0)} | "
                          f"{g['p50_ms']:.2f} | {g['p99_ms']:.2f} | {g.get('cpu_pct_of_one_core', 0):.0f} | "
                          f"{fmt(g['cpu_us_per_message'], 0)} | "
                          f"{g['peak_rss_mb']:.1f} | {g['redis_commands_per_message']:.2f} |")
            md.append("")
            md.append("Medians over the runs of each configuration (aula and the peer alternated A B A B).")
            md.append("")
        if e2e.get("ratios"):
            md += ["| aula / peer | replies/s ratio | webhooks/s ratio | peer p99 / aula p99 | peer CPU/msg / aula CPU/msg | verified |",
                   "|---|---:|---:|---:|---:|---|"]
            for k, r in e2e["ratios"].items():
                md.append(f"| {k} | **{r['replies_per_s']:.2f}×** | {r.get('webhooks_per_s', 0):.2f}× | "
                          f"{r['p99_peer_over_aula']:.2f}× | {r['cpu_per_message_peer_over_aula']:.2f}× | "
                          f"{'yes' if r.get('verified') else '**NO: a side failed verification — not a result**'} |")
            def fan_out(server):
                rs = [r["replies_after_drain"] / r["wrk"]["http200"] for r in e2e.get("runs", [])
                      if r.get("server") == server and r.get("ok") and r.get("wrk", {}).get("http200")]
                return statistics.median(rs) if rs else 0
            md += ["", f"Messages sent per webhook on this walk (replies at the mock ÷ webhooks answered, median): aula "
                   f"{fan_out('aula'):.2f}, the peer {fan_out('peer'):.2f} — when they differ, replies/s favours the one "
                   f"sending more; webhooks/s (each fully processed, replies verified) and CPU per message compare the "
                   f"work per inbound message.", ""]
        def pending_cell(r):
            if "results_pending_at_end_of_window" not in r:
                return "–"
            return f"{r.get('results_pending_at_start_of_window', 0):,} → {r['results_pending_at_end_of_window']:,}"
        md += ["### Every run", "",
               "Records in Redis: result records not yet in the record store when the window started and "
               "ended (the record keeper's backlog; work done after the window is not in its figures). "
               "p50 and p99 are the load generator's (ms); p99 in aula is the bucket of aula's own histogram "
               "(`aula_http_request_duration_seconds`, from the request read to its answer) that holds the "
               "window's 99th percentile, with the share answered within 2 ms: what the generator sees on top "
               "is loopback, its own scheduling beside Redis and the mock, and the wait before aula reads.", "",
               "| # | server | channel | conns | Redis | replies/s | webhooks/s | p50 | p99 | p99 in aula, ms | CPU % | µs/msg (per thread) | RSS MB | cmds/msg | records in Redis (start → end) | replies (expected) | verified |",
               "|---:|---|---|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---|---|"]
        for i, r in enumerate(e2e.get("runs", []), 1):
            lat = r.get("lat_ms", {})
            md.append(f"| {i} | {r['server']} | {r['channel']} | {r['connections']} | {r['redis']} | "
                      f"{fmt(r.get('replies_per_s', 0), 0)} | {fmt(r.get('webhooks_per_s', 0), 0)} | "
                      f"{lat.get('p50', 0):.2f} | {lat.get('p99', 0):.2f} | {in_server_cell(r)} | {r.get('cpu_pct_of_one_core', 0):.0f} | "
                      f"{r.get('cpu_us_per_message', 0):.0f}{by_thread(r)} | {r.get('peak_rss_mb', 0):.1f} | "
                      f"{r.get('redis_commands_per_message', 0):.2f} | {pending_cell(r)} | {r.get('replies_after_drain', 0):,} "
                      f"({r.get('replies_expected', 0):,.0f}) | "
                      f"{'ok' if r.get('ok') else 'FAILED: ' + '; '.join(r.get('failures', []))} |")
        md.append("")
        if e2e.get("aula_redis_mix_per_message"):
            mix = ", ".join(f"{k} {v:.2f}" for k, v in e2e["aula_redis_mix_per_message"].items() if v >= 0.01)
            md += [f"aula's Redis commands per inbound message as Redis counts them (`INFO commandstats`: the commands "
                   f"run inside scripts count too; Telegram, 64 connections): {mix}.", ""]
        trips = [(f"{r['server']} {r['channel']} c{r['connections']} {r['redis']}", r["redis_round_trips_per_message"],
                  r.get("redis_sent_commands_per_message", 0), r.get("redis_writes_per_message"))
                 for r in e2e.get("runs", []) if r.get("redis_round_trips_per_message") is not None]
        if trips:
            md += ["Round trips aula made to Redis per inbound message, counted by aula itself (`aula_redis_sent_total`: "
                   "a pipeline or a script is one; the hot path of a webhook is 2 — load the session, commit the step — "
                   "and the rest is the sender's batched acknowledgements, the record keeper's drain and the polling "
                   "of idle partitions), with the socket writes that carried them (requests made at once share one): " +
                   "; ".join(f"{k} {t:.2f} ({c:.2f} commands" + (f", {w:.2f} writes)" if w is not None else ")")
                             for k, t, c, w in trips) + ".", ""]
        rb = e2e.get("redis_benchmark")
        if rb:
            md += ["### redis-benchmark on the same Redis", ""]
            for k, v in rb.items():
                parts = ", ".join(f"{c} {fmt(x, 0)}/s" for c, x in v["requests_per_s"].items())
                md.append(f"- {k}, {v['connections']} connections, {v['value_bytes']}-byte values: {parts}")
            md += ["", "GET and SET are the peer's command mix per update; the EVAL does the shape of aula's commit "
                   "(read and write a session, append to a stream, add a timer) in one round trip.", ""]
        sm = e2e.get("scale_memory")
        if sm:
            md += ["### Redis memory per stored session", "",
                   (f"Taken {e2e['scale_taken']} by `--scale-only` (a run of its own). " if e2e.get("scale_taken") else "") +
                   "300 Telegram learners walk the lesson on a fresh aula; MEMORY USAGE (SAMPLES 0) of each session key.",
                   "",
                   "| point of the lesson | sessions | MEMORY USAGE mean (B) | max (B) | the hash's fields + values, mean (B) |",
                   "|---|---:|---:|---:|---:|"]
            for p in sm:
                md.append(f"| {p['point']} | {p['sessions']} | {p['memory_usage_bytes_mean']:.0f} | "
                          f"{p['memory_usage_bytes_max']} | {p['json_bytes_mean']:.0f} |")
            md.append("")
        sb = e2e.get("scale_broadcast")
        if sb:
            md += ["### Broadcasts", "",
                   "Learners enrolled by CSV through `aula enroll` (the admin API); the dry run lists who would receive "
                   "it; scheduling creates the job for two days ahead; the pace is checked at the mock over sliding "
                   "one-second windows (100 ms slots).", ""]
            if sb.get("error"):
                md.append(f"- FAILED: {sb['error']}")
            else:
                md += [f"- Enrolling {sb['learners']:,} learners by CSV (`aula enroll`): {sb.get('enroll_bench-big_s', 0):.1f} s.",
                       f"- `aula broadcast --dry-run` to {sb['learners']:,} learners: {sb['dry_run_s']:.2f} s "
                       + ("" if sb.get("dry_run_ok", not sb["dry_run_first_line"].startswith("aula broadcast:"))
                          else "— **FAILED**: ")
                       + f"(\"{sb['dry_run_first_line'][:120]}\").",
                       f"- Scheduling the broadcast (`aula broadcast --at …`, the job created): {sb['schedule_s']:.2f} s "
                       f"({'ok' if sb['schedule_ok'] else 'FAILED: ' + sb['schedule_output']}).",
                       f"- Pace: a broadcast to {sb['pace_learners']:,} learners with `delivery.telegram.per_second: "
                       f"{sb['pace_per_second']}`: {sb['pace_delivered']:,} delivered in {sb['pace_seconds']:.1f} s, "
                       f"at most **{sb['pace_max_sends_in_any_1s']} sends in any sliding second** "
                       f"(mean {sb['pace_mean_per_s']:.0f}/s) — {'held' if sb['pace_held'] else 'ABOVE THE PACE'}."]
            md.append("")
        pr = e2e.get("profile")
        if pr:
            md += ["### Profile of aula under load (perf record --call-graph dwarf, Telegram, 64 connections)", ""]
            if not pr.get("ok"):
                md.append(f"FAILED: {pr.get('error')}")
            else:
                md.append(f"{pr['messages']:,} messages; {pr['cpu_us_per_message_under_perf']:.0f} µs of CPU per message "
                          "while profiled. Self time by shared object:")
                md.append("")
                md += [f"- {p:.1f}% {name}" for p, name in pr["by_dso"]]
                md += ["", "Top symbols (self time):", "", "| % | object, symbol |", "|---:|---|"]
                md += [f"| {p:.1f} | `{re.sub(r'[ ]+', ' ', name)[:150]}` |" for p, name in pr["by_symbol"]]
                if pr.get("inclusive"):
                    md += ["", "aula's functions by inclusive time (itself and what it calls; DWARF call graphs):", "",
                           "| % | symbol |", "|---:|---|"]
                    md += [f"| {p:.1f} | `{name[:150]}` |" for p, name in pr["inclusive"]]
            md.append("")
        if e2e.get("analysis"):
            md += ["### Reading", "", e2e["analysis"], ""]
    eng = results.get("engine")
    if eng and eng.get("markdown"):
        text = eng["markdown"]
        text = re.sub(r"^# aula_bench results", "## Engine micro-benchmarks (aula_bench)", text, flags=re.M)
        md += [text.strip(), ""]
    return "\n".join(md) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--aula", required=True)
    ap.add_argument("--mock", required=True)
    ap.add_argument("--wrk-script", required=True)
    ap.add_argument("--peer-dir", default="", help="a copy of ../shared/peers with node_modules (empty: no peer)")
    ap.add_argument("--json", default="")
    ap.add_argument("--md", default="")
    ap.add_argument("--engine-json", default="", help="aula_bench's JSON and Markdown, merged into the report")
    ap.add_argument("--engine-md", default="")
    ap.add_argument("--engine-only", action="store_true", help="only merge the engine figures")
    ap.add_argument("--render-only", action="store_true", help="only rewrite RESULTS.md from results.json")
    ap.add_argument("--label", default="")
    ap.add_argument("--note", default="")
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--connections", type=int, default=0)
    ap.add_argument("--walk", default=DEFAULT_WALK)
    ap.add_argument("--stagger", type=int, default=0,
                    help="learners spread over this many steps of the walk (0: the walk's length; 1: lockstep)")
    ap.add_argument("--redis-port", type=int, default=6390, help="0: any free port")
    ap.add_argument("--redis-aof-port", type=int, default=6391, help="0: any free port")
    ap.add_argument("--server-cpus", default="1")
    ap.add_argument("--load-cpus", default="0")
    ap.add_argument("--server-threads", type=int, default=1)
    ap.add_argument("--rb-requests", type=int, default=200000)
    ap.add_argument("--broadcast-learners", type=int, default=100000)
    ap.add_argument("--pace-learners", type=int, default=2000)
    ap.add_argument("--pace", type=int, default=200)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="one verified run; exit 1 if its work was not done")
    ap.add_argument("--no-scale", action="store_true")
    ap.add_argument("--profile", action="store_true", help="perf record aula under load (a run of its own, ~5 min)")
    ap.add_argument("--profile-json", default="", help="include a profile taken earlier (profile_run's JSON)")
    ap.add_argument("--scale-only", action="store_true", help="only the scale figures (keeps the last runs)")
    args = ap.parse_args()
    if args.server_cpus == "none":
        args.server_cpus = ""
    if args.load_cpus == "none":
        args.load_cpus = ""

    results = {}
    if args.json and os.path.exists(args.json):
        try:
            with open(args.json, encoding="utf-8") as f:
                results = json.load(f)
            if "e2e" not in results and "engine" not in results:
                results = {}  # the old format: the engine's figures alone
        except ValueError:
            results = {}
    if args.engine_json:
        with open(args.engine_json, encoding="utf-8") as f:
            results["engine"] = json.load(f)
        if args.engine_md:
            with open(args.engine_md, encoding="utf-8") as f:
                results["engine"]["markdown"] = f.read()
    failed = False
    if args.render_only and "e2e" in results:
        # Recompute the summaries from the stored runs (after a change of this report's code).
        e2e = results["e2e"]
        groups = {}
        for r in e2e.get("runs", []):
            groups.setdefault(f"{r['server']} {r['channel']} c{r['connections']} {r['redis']}", []).append(r)
        e2e["groups"] = {k: summarize(v, k) for k, v in groups.items()}
        ratios = {}
        for cfg in ("telegram c64 aof-off", "telegram c64 aof-everysec", "telegram c1 aof-off"):
            ga, gb = e2e["groups"].get("aula " + cfg), e2e["groups"].get("peer " + cfg)
            if ga and gb and gb["replies_per_s"] and gb["webhooks_per_s"]:
                ratios[cfg] = {"verified": ga["ok_runs"] == ga["runs"] and gb["ok_runs"] == gb["runs"],
                               "replies_per_s": ga["replies_per_s"] / gb["replies_per_s"],
                               "webhooks_per_s": ga["webhooks_per_s"] / gb["webhooks_per_s"],
                               "p99_peer_over_aula": gb["p99_ms"] / ga["p99_ms"] if ga["p99_ms"] else 0,
                               "cpu_per_message_peer_over_aula":
                                   gb["cpu_us_per_message"] / ga["cpu_us_per_message"] if ga["cpu_us_per_message"] else 0}
        e2e["ratios"] = ratios
    if not args.engine_only and not args.render_only:
        args.workdir = tempfile.mkdtemp(prefix="aula-bench-")
        try:
            e2e, failed = suite(args)
        finally:
            if not os.environ.get("AULA_BENCH_KEEP"):
                shutil.rmtree(args.workdir, ignore_errors=True)
        e2e["label"] = args.label
        e2e["note"] = args.note
        if args.smoke:
            r = e2e["runs"][0]
            print(json.dumps({k: r.get(k) for k in ("ok", "failures", "redis_commands", "wrk", "replies_per_s", "webhooks_per_s", "lat_ms",
                                                    "replies_after_drain", "replies_expected", "sessions_in_redis",
                                                    "answer_records", "answer_records_expected", "peak_rss_mb",
                                                    "cpu_us_per_message", "redis_commands_per_message")}, indent=1))
            return 1 if failed else 0
        if args.scale_only and "e2e" in results:
            results["e2e"]["scale_memory"] = e2e["scale_memory"]
            results["e2e"]["scale_broadcast"] = e2e["scale_broadcast"]
            results["e2e"]["scale_taken"] = e2e["started"]
        else:
            # A run without the scale part keeps the last scale figures (marked with their time).
            old = results.get("e2e") or {}
            for k in ("scale_memory", "scale_broadcast"):
                if k not in e2e and k in old:
                    e2e[k] = old[k]
                    e2e["scale_taken"] = old.get("scale_taken", old.get("started"))
            results["e2e"] = e2e
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1, ensure_ascii=False)
            f.write("\n")
    if args.md:
        with open(args.md, "w", encoding="utf-8") as f:
            f.write(render_md(results))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
