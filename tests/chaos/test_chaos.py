"""Fault tests of reliable delivery (issue 5): aula serve under a load of Telegram learners while
aula is killed with SIGKILL, Redis restarts, two instances share one Redis and one dies, the Bot
API times out, fails, throttles and cuts connections, and webhooks arrive twice. After each
scenario the outbox is left to drain and the invariants are checked (chaos.check): nothing
acknowledged is lost, each learner's messages stay in order, duplicates stay within what was in
flight, no input and no timer takes effect twice. Counts go to a Markdown report
(chaos.report_path()) whether the scenario passes or not.

    /usr/bin/python3 -m unittest -v test_chaos          (from tests/chaos/; ctest does)
    AULA_CHAOS_FULL=1 …                                 more learners, rounds and time (~10 min)
    AULA_CHAOS_SEED=n …                                 repeat the random choices of a run
    AULA_CHAOS_KEEP=dir …                               keep aula's and Redis's logs in dir
"""

import collections
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import unittest

import chaos
from chaos import (FULL, ChaosAula, ChaosMock, ChaosRedis, Load, TestCA, Verdict, check, dead_letter_series,
                   log_summary, plan, wait_drained, wait_until, write_config)

SEED = int(os.environ.get("AULA_CHAOS_SEED") or random.SystemRandom().randrange(1, 10 ** 9))

# Sizes: short (what scripts/test and CI run: the whole suite in about two minutes on two
# cores) and full (AULA_CHAOS_FULL=1). A learner sends count+2 updates about `pace` seconds
# apart: under 1 a second, so Telegram's pacing of about one message a second per chat keeps up.
# count + 2 stays below the 64 provider ids a session keeps, so every acknowledged update can be
# looked up there.
P = {
    "learners": 30 if FULL else 10,
    "count": 40 if FULL else 8,
    "pace": 1.1 if FULL else 1.0,
    "kill_rounds": 10 if FULL else 3,
    "redis_outages": 3 if FULL else 1,
    "outage_s": 3.0 if FULL else 2.0,
    "stall_s": 6.0 if FULL else 5.0,  # more than twice the lease (2 s): the other instance takes over
    "drain_s": 90.0 if FULL else 25.0,
    # The Bot API's round trip (Telegram's is tens to hundreds of milliseconds): a send is never
    # instant, so what is in flight when a process dies is realistic.
    "latency_ms": 40,
}

# After the last fault, wait at least this long before counting: the lease (2 s) lapses and
# whatever the new holder resends has arrived, so late duplicates are counted.
SETTLE_S = 4.0

VERDICTS = []
STARTED = time.monotonic()


def tearDownModule():
    path = chaos.report_path()
    chaos.write_report(path, VERDICTS, {
        "mode": "full (AULA_CHAOS_FULL=1)" if FULL else "short",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "aula_bin": os.path.relpath(chaos.harness.AULA_BIN, chaos.ROOT),
        "seed": SEED, "seconds": time.monotonic() - STARTED})
    sys.stderr.write("\nchaos report: %s\n" % path)


class Env:
    """What one scenario starts (Redis, the mock, aula instances) in a temporary folder; close()
    stops all of it and removes the folder."""

    def __init__(self, name):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="aula-chaos-")
        self.redis = None
        self.mock = None
        self.ca = None
        self.aulas = []
        self.config = None
        self.config_used = {}
        self.config_missing = []

    def start_redis(self, aof=False):
        self.redis = ChaosRedis(aof=aof)
        self.redis.start()
        return self.redis

    def start_mock(self, tls=False):
        if tls:
            self.ca = TestCA(os.path.join(self.dir, "tls"))
        self.mock = ChaosMock(tls=self.ca, latency_ms=P["latency_ms"])
        return self.mock

    def write_config(self, **kw):
        self.config, self.config_used, self.config_missing = write_config(self.dir, **kw)

    def start_aula(self, name="aula"):
        extra = {}
        if self.ca:
            extra["AULA_CA_FILE"] = self.ca.ca
        a = ChaosAula(self.redis.url, self.mock.url, self.dir, self.config, name=name, extra_env=extra)
        self.aulas.append(a)
        a.start()
        return a

    def keep_mock_calls(self, verdict):
        keep = os.environ.get("AULA_CHAOS_KEEP")
        if keep and self.mock is not None and self.mock.proc.poll() is None:
            os.makedirs(keep, exist_ok=True)
            try:
                with open(os.path.join(keep, "%s-mock-calls.json" % self.name.split(".")[0]), "w") as f:
                    json.dump(self.mock.calls(), f, indent=0)
            except Exception as e:  # noqa: BLE001
                verdict.notes.append("saving the mock's calls: %r" % e)

    def close(self, verdict):
        self.keep_mock_calls(verdict)
        for a in self.aulas:
            try:
                a.close()
            except Exception as e:  # noqa: BLE001 - keep stopping the rest
                verdict.notes.append("closing %s: %r" % (a.name, e))
        for thing in (self.mock, self.redis):
            if thing is None:
                continue
            try:
                thing.close()
            except Exception as e:  # noqa: BLE001
                verdict.notes.append("closing: %r" % e)
        keep = os.environ.get("AULA_CHAOS_KEEP")
        for a in self.aulas:
            try:
                text = a.output()
            except OSError:
                text = ""
            for n, level, msg, example in log_summary(text):
                verdict.notes.append("%s log: %d x %s %r, e.g. `%s`" % (a.name, n, level, msg, example))
            if keep:
                os.makedirs(keep, exist_ok=True)
                shutil.copy(a.log.name, os.path.join(keep, "%s-%s.log" % (self.name.split(".")[0], a.name)))
            a.remove_log()
        if keep and self.redis and os.path.exists(os.path.join(self.redis.dir, "redis.log")):
            shutil.copy(os.path.join(self.redis.dir, "redis.log"),
                        os.path.join(keep, "%s-redis.log" % self.name.split(".")[0]))
        shutil.rmtree(self.dir, ignore_errors=True)


class ChaosTest(unittest.TestCase):
    maxDiff = None

    def scenario(self, name, body, index):
        v = Verdict(name)
        env = Env(name)
        rng = random.Random(SEED * 100 + index)
        t0 = time.monotonic()
        load_box = []
        try:
            body(env, v, rng, load_box)
        except Exception:  # noqa: BLE001 - recorded in the report, then the test fails
            v.error = traceback.format_exc(limit=6)
        finally:
            for load in load_box:
                load.stop.set()
                load.join(15)
            v["seconds"] = time.monotonic() - t0
            if env.config_used:
                v.notes.append("configuration: %s" % ", ".join("%s=%s" % kv for kv in sorted(env.config_used.items())))
            if env.config_missing:
                v.notes.append("not known to this build yet (started without): %s" % ", ".join(env.config_missing))
            env.close(v)
            VERDICTS.append(v)
            sys.stderr.write("\n%s: %s\n" % (name, {k: v[k] for k in Verdict.FIELDS}))
        if v.error:
            self.fail("%s: error\n%s" % (name, v.error))
        self.assertEqual(v.problems, [], "%s: invariants broken (see %s)" % (name, chaos.report_path()))

    @staticmethod
    def statuses_ok(v, load, allowed):
        odd = {}
        for u in load.all_updates():
            for st, n in list(u.statuses.items()) + list(u.dup_statuses.items()):
                if st not in allowed:
                    odd[st] = odd.get(st, 0) + n
        if odd:
            v.problem("webhook answers other than %s: %s" % (sorted(map(str, allowed)), odd))

    # -- 1 --------------------------------------------------------------------------------------
    def test_1_kill9_under_load(self):
        """aula killed with SIGKILL at random moments under load, started again each time."""
        def body(env, v, rng, box):
            env.start_redis()
            env.start_mock()
            env.write_config()
            aula = env.start_aula()
            v.mark("started")
            chats = [100000 + i for i in range(P["learners"])]
            # Every learner sends "fin" at the same moment, so all their timers fall due together.
            load = Load([aula.url], {c: plan(P["count"]) for c in chats}, P["pace"], rng, sync_fin=chats)
            box.append(load)
            load.start()
            rounds = P["kill_rounds"]
            span = (P["count"] + 2) * P["pace"] * 0.85
            slot = span / (rounds - 1)
            windows = []

            def kill_and_restart():
                windows.append((time.time(), time.time()))
                aula.kill9()
                time.sleep(rng.uniform(0.0, 0.3))
                aula.start()

            # All rounds but the last at random moments under load ...
            for i in range(rounds - 1):
                target = load.started + slot * i + slot * rng.uniform(0.2, 0.8)
                time.sleep(max(0.0, target - time.monotonic()))
                kill_and_restart()
            # ... the last one just as the timers fall due (the wait is 1 s): claimed timers of
            # the dead process must fire once, after it.
            wait_until(lambda: load.fin_released or not load.running(), timeout=P["count"] * 5 + 120,
                       what="the learners' fin")
            if load.fin_released:
                time.sleep(max(0.0, load.fin_released + rng.uniform(1.0, 1.4) - time.monotonic()))
            kill_and_restart()
            v["kills"] = aula.kills
            self.assertTrue(load.join(P["count"] * 5 + 120), "the load did not finish")
            v.mark("load done")
            calls = wait_drained(env.mock, load, P["drain_s"], not_before=windows[-1][1] + SETTLE_S)
            v.mark("drained")
            check(v, load, calls, env.redis, windows=windows)
            self.statuses_ok(v, load, {200, 503, None})
            v.notes.append("learners %d, updates each %d, kills %d (the last one as the timers fell due); a "
                           "duplicate must be a message in flight at a kill, at most one per learner per kill"
                           % (len(chats), P["count"] + 2, aula.kills))
        self.scenario("1. kill -9 under load", body, 1)

    # -- 2 --------------------------------------------------------------------------------------
    def test_2_redis_restart_under_load(self):
        """Redis (AOF everysec) shut down and started again under load: 503s meanwhile, no
        restart of aula, nothing acknowledged lost."""
        def body(env, v, rng, box):
            redis = env.start_redis(aof=True)
            env.start_mock()
            env.write_config()
            aula = env.start_aula()
            chats = [200000 + i for i in range(P["learners"])]
            load = Load([aula.url], {c: plan(P["count"]) for c in chats}, P["pace"], rng)
            box.append(load)
            load.start()
            outages = P["redis_outages"]
            span = (P["count"] + 2) * P["pace"] * 0.8
            slot = span / outages
            restarts = 0
            windows = []
            for i in range(outages):
                target = load.started + slot * i + slot * rng.uniform(0.2, 0.5)
                time.sleep(max(0.0, target - time.monotonic()))
                t_down = time.time()
                redis.shutdown()
                time.sleep(P["outage_s"])
                redis.start()
                windows.append((t_down, time.time()))
                restarts += 1
            v["kills"] = restarts
            self.assertTrue(load.join(P["count"] * 5 + 120), "the load did not finish")
            v.mark("load done")
            calls = wait_drained(env.mock, load, P["drain_s"], not_before=windows[-1][1] + SETTLE_S)
            v.mark("drained")
            check(v, load, calls, redis, windows=windows)
            self.statuses_ok(v, load, {200, 503, None})
            if v["s503"] == 0:
                v.problem("no webhook was answered 503 while Redis was down")
            if not aula.alive() or aula.starts != 1:
                v.problem("aula did not stay up through the Redis restart (starts: %d)" % aula.starts)
            v.notes.append("Redis restarts %d, %.1f s each; a duplicate must be a message in flight during an "
                           "outage, at most one per learner per outage" % (restarts, P["outage_s"]))
        self.scenario("2. Redis restart under load", body, 2)

    # -- 3 --------------------------------------------------------------------------------------
    def test_3_two_instances_one_killed(self):
        """Two aula serve on one Redis, both taking webhooks; one is killed with SIGKILL and the
        other must take over its partitions (leases): nothing lost, no timer twice."""
        def body(env, v, rng, box):
            env.start_redis()
            env.start_mock()
            # Few partitions: both instances write to every one of them, so only the lease keeps
            # a partition's outbox to one sender.
            env.write_config(lease_ttl="2s", partitions=4)
            a = env.start_aula("aula-a")
            b = env.start_aula("aula-b")
            chats = [300000 + i for i in range(P["learners"])]
            # Half the learners finish early, together, so their timers fall due mid-run; the
            # others keep writing through the kill.
            early = chats[:len(chats) // 2]
            plans = {c: plan(P["count"] // 3 if c in early else P["count"]) for c in chats}
            load = Load([a.url, b.url], plans, P["pace"], rng, sync_fin=early)
            box.append(load)
            load.start()
            wait_until(lambda: load.fin_released or not load.running(), timeout=P["count"] * 5 + 120,
                       what="the early learners' fin")
            if load.fin_released:
                time.sleep(max(0.0, load.fin_released + rng.uniform(1.0, 1.4) - time.monotonic()))
            # Kill the instance that holds more partitions, so the other has to take over.
            held = env.redis.leases()

            def holder(owner):
                # An owner id names the instance: "host/listen address" (or "host:pid:random").
                for inst in (a, b):
                    if owner.endswith("/127.0.0.1:%d" % inst.port) or str(inst.proc.pid) in owner.split(":"):
                        return inst
                return None

            counts = collections.Counter(holder(o) for o in held.values())
            victim, survivor = (b, a) if counts[b] > counts[a] else (a, b)
            v.notes.append("leases before the kill (partition: holder): %s; killed %s" % (
                {p: holder(o).name if holder(o) else o for p, o in sorted(held.items())} or "none", victim.name))
            windows = [(time.time(), time.time())]
            victim.kill9()
            v["kills"] = victim.kills
            self.assertTrue(load.join(P["count"] * 5 + 120), "the load did not finish")
            v.mark("load done")
            calls = wait_drained(env.mock, load, P["drain_s"], not_before=windows[-1][1] + SETTLE_S)
            v.mark("drained")
            check(v, load, calls, env.redis, windows=windows)
            self.statuses_ok(v, load, {200, 503, None})
            if not survivor.alive():
                v.problem("the surviving instance exited")
            after = env.redis.leases()
            if held and not all(holder(o) is survivor for o in after.values()):
                v.problem("after the kill the survivor does not hold every partition: %s" % after)
            v.notes.append("instances 2 on one Redis with 4 partitions, posts split at random, one killed as "
                           "the early half's timers fell due while the others kept writing; a duplicate must be "
                           "a message in flight at the kill, at most one per learner")
        self.scenario("3. two instances, one killed", body, 3)

    # -- 4 --------------------------------------------------------------------------------------
    def test_4_provider_faults_over_https(self):
        """The Bot API over HTTPS (a test CA) times out, answers 5xx, throttles with 429
        storms and cuts connections: every message is retried and kept in order. A chat whose
        sends always fail is dead-lettered after the configured attempts."""
        def body(env, v, rng, box):
            env.start_redis()
            mock = env.start_mock(tls=True)
            timeout_ms = 1000
            # Enough attempts that the injected faults (at most six in a row, should one learner
            # meet every queued rule) never exhaust a learner whose sends fail only for a while.
            max_attempts = 8
            env.write_config(request_timeout="%dms" % timeout_ms, max_attempts=max_attempts)
            poisoned = 77
            mock.fail(chat_id=poisoned, status=500, times=-1)
            aula = env.start_aula()
            chats = [400000 + i for i in range(P["learners"])]
            load = Load([aula.url], {c: plan(P["count"]) for c in chats}, P["pace"], rng)
            bad = Load([aula.url], {poisoned: ["/start eco"]}, P["pace"], rng)
            box.extend([load, bad])
            load.start()
            bad.start()
            faults = [
                ("timeout", {"method": "sendMessage", "delay_ms": timeout_ms + 700}),
                ("500", {"method": "sendMessage", "status": 500, "times": 2}),
                ("502", {"method": "sendMessage", "status": 502}),
                ("429 storm", {"method": "sendMessage", "status": 429, "retry_after": 1, "times": 6}),
                ("reset", {"method": "sendMessage", "reset": True, "times": 2}),
            ]
            injected = {}
            i = 0
            while load.running():
                name, rule = faults[i % len(faults)]
                mock.fail(**rule)
                injected[name] = injected.get(name, 0) + 1
                i += 1
                time.sleep(rng.uniform(0.6, 1.2))
            self.assertTrue(load.join(P["count"] * 5 + 120), "the load did not finish")
            bad.join(60)
            v.mark("load done")
            calls = wait_drained(mock, load, P["drain_s"], exclude={poisoned})
            v.mark("drained")
            # The chat whose every send fails: its attempts may still be under way (backoff) when
            # the others are done. Wait until they stop and a dead letter is counted.
            deadline = time.monotonic() + P["drain_s"]
            while True:
                calls = mock.calls()
                to_bad = [c for c in calls if str((c.get("body") or {}).get("chat_id")) == str(poisoned)]
                quiet = not to_bad or time.time() - max(c["at"] for c in to_bad) > 3.0
                if (to_bad and quiet and sum(dead_letter_series(aula.metrics()).values()) >= 1) \
                        or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            v.mark("dead letter seen")
            # Copies the Bot API accepted although aula had stopped waiting: only these may repeat.
            late = sum(1 for c in calls if c.get("status") == 200 and (c.get("delay_ms") or 0) >= timeout_ms)
            check(v, load, calls, env.redis, late_ms=timeout_ms, exclude={poisoned})
            self.statuses_ok(v, load, {200})
            self.statuses_ok(v, bad, {200})
            failures = {}
            for c in calls:
                st = c.get("status")
                if c.get("reset"):
                    failures["reset"] = failures.get("reset", 0) + 1
                elif st != 200:
                    failures[str(st)] = failures.get(str(st), 0) + 1
            v.notes.append("faults queued at the mock: %s; calls that failed at the mock: %s; answered 200 after "
                           "aula's request timeout (%d ms): %d" % (injected, failures, timeout_ms, late))
            for name in ("timeout", "500", "429 storm", "reset"):
                if injected.get(name, 0) == 0:
                    v.problem("the load ended before a %s fault was queued" % name)

            attempts = {}
            for c in to_bad:
                attempts[c["body"].get("text", "")] = attempts.get(c["body"].get("text", ""), 0) + 1
            series = dead_letter_series(aula.metrics())
            dead = int(sum(series.values()))
            kept = [d for d in (env.redis.dead_letters() or []) if d.get("conv") == "telegram:%d" % poisoned]
            v.notes.append("chat %d (always 500): attempts per message at the mock %s; dead letters kept in Redis "
                           "%s; dead-letter series in /metrics: %s" % (
                               poisoned, attempts,
                               [{k: d.get(k) for k in ("kind", "attempts", "reason")} for d in kept] or "none",
                               {("%s%s" % (k[0], dict(k[1]))): val for k, val in series.items()} or "none"))
            if not bad.all_updates() or not bad.all_updates()[0].acked:
                v.problem("chat %d: its /start was not acknowledged" % poisoned)
            if not to_bad:
                v.problem("chat %d: no send was attempted" % poisoned)
            if any(c.get("status") == 200 for c in to_bad):
                v.problem("chat %d: a send succeeded although every one should fail" % poisoned)
            if not series:
                v.problem("GET /metrics has no dead-letter series")
            elif dead < 1:
                v.problem("chat %d: no dead letter counted in /metrics" % poisoned)
            if "delivery.max_attempts" in env.config_used:
                wrong = {t: n for t, n in attempts.items() if n != max_attempts}
                if wrong:
                    v.problem("chat %d: attempts per message %s, configured delivery.max_attempts=%d" % (
                        poisoned, wrong, max_attempts))
                if not kept:
                    v.problem("chat %d: no dead letter kept in Redis (aula:{pN}:dead)" % poisoned)
            elif attempts and max(attempts.values()) < 2:
                v.problem("chat %d: a failed send was not retried" % poisoned)
        self.scenario("4. provider faults (HTTPS)", body, 4)

    # -- 5 --------------------------------------------------------------------------------------
    def test_5_duplicated_and_redelivered_webhooks(self):
        """10% of updates posted twice (at once or right after), and a sample posted again much
        later: exactly one effect each, no duplicate at the Bot API (nothing is killed here)."""
        def body(env, v, rng, box):
            env.start_redis()
            env.start_mock()
            env.write_config()
            aula = env.start_aula()
            chats = [500000 + i for i in range(P["learners"])]
            load = Load([aula.url], {c: plan(P["count"]) for c in chats}, P["pace"], rng, dup_fraction=0.1)
            box.append(load)
            load.start()
            self.assertTrue(load.join(P["count"] * 5 + 120), "the load did not finish")
            v.mark("load done")
            wait_drained(env.mock, load, P["drain_s"])
            v.mark("drained")
            again = load.redeliver(0.1, rng)
            time.sleep(2.0)  # what a redelivery would cause has time to reach the mock
            calls = wait_drained(env.mock, load, P["drain_s"])
            v.mark("redelivered and drained")
            check(v, load, calls, env.redis)
            self.statuses_ok(v, load, {200})
            twice = sum(1 for u in load.all_updates() if u.dup_posts)
            not_ok = [(u.update_id, st) for u, st in again if st != 200]
            if not_ok:
                v.problem("redelivered updates not answered 200: %s" % not_ok[:5])
            if twice == 0 or not again:
                v.problem("nothing was duplicated or redelivered (the scenario tested nothing)")
            m = aula.metrics()
            dup_metric = sum(val for k, val in m.items() if k[0] == "aula_service_events_total"
                             and dict(k[1]).get("kind") == "duplicate")
            v.notes.append("updates posted twice: %d; redelivered later: %d; aula's duplicate counter: %d" % (
                twice, len(again), dup_metric))
        self.scenario("5. duplicated and redelivered webhooks", body, 5)

    # -- 6 --------------------------------------------------------------------------------------
    def test_6_stalled_instance_is_fenced(self):
        """Two instances; the one holding the leases stalls (SIGSTOP) longer than the lease, the
        other takes over, then the stalled one wakes up (SIGCONT) still believing what it knew:
        fencing must keep it from acknowledging, resending or reordering anything."""
        def body(env, v, rng, box):
            env.start_redis()
            env.start_mock()
            env.write_config(partitions=4)
            a = env.start_aula("aula-a")
            b = env.start_aula("aula-b")
            chats = [600000 + i for i in range(P["learners"])]
            # Posts to the stalled instance wait for no answer; the load balancer gives up on
            # them after 2 s and tries again (maybe on the other one).
            load = Load([a.url, b.url], {c: plan(P["count"]) for c in chats}, P["pace"], rng, post_timeout=2.0)
            box.append(load)
            load.start()
            span = (P["count"] + 2) * P["pace"]
            time.sleep(max(0.0, load.started + span * rng.uniform(0.25, 0.4) - time.monotonic()))
            held = env.redis.leases()
            mine = {inst: sum(1 for o in held.values() if o.endswith("/127.0.0.1:%d" % inst.port)) for inst in (a, b)}
            victim, other = (b, a) if mine[b] > mine[a] else (a, b)
            t_stop = time.time()
            victim.pause()
            time.sleep(P["stall_s"])
            during = env.redis.leases()
            t_cont = time.time()
            victim.resume()
            # One fault, two moments: what the victim had sent before it stalled may be resent by
            # the other instance; what it was sending may complete just after it wakes (within
            # 0.5 s). Nothing else it sends afterwards may repeat a message.
            windows = [(t_stop, t_stop, None, 0), (t_cont, t_cont, t_cont + 0.5, 0)]
            v["kills"] = 1
            v.notes.append("leases before the stall: %d with %s, %d with %s; stalled %s for %.1f s; during the "
                           "stall held by %s" % (mine[a], a.name, mine[b], b.name, victim.name, P["stall_s"],
                                                 sorted(set(during.values())) or "nobody"))
            self.assertTrue(load.join(P["count"] * 5 + 120), "the load did not finish")
            v.mark("load done")
            calls = wait_drained(env.mock, load, P["drain_s"], not_before=t_cont + SETTLE_S)
            v.mark("drained")
            check(v, load, calls, env.redis, windows=windows)
            self.statuses_ok(v, load, {200, 503, None})
            if held and not all(o.endswith("/127.0.0.1:%d" % other.port) for o in during.values()):
                v.problem("during the stall the other instance did not hold every lease: %s" % during)
            if not (a.alive() and b.alive()):
                v.problem("an instance exited")
            dm = victim.metrics()
            outcomes = {dict(k[1]).get("outcome"): val for k, val in dm.items() if k[0] == "aula_delivery_total"}
            v.notes.append("the stalled instance's sender afterwards (aula_delivery_total): %s" % (outcomes or "n/a"))
        self.scenario("6. stalled instance (SIGSTOP) is fenced", body, 6)


# ctest's timeout sends SIGTERM first: unwind, so every finally stops what it started.
if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

if __name__ == "__main__":
    unittest.main()
