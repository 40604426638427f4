"""Reminders and broadcasts end to end: a broadcast to 10,000 test learners (a high test pace)
completes with every send recorded and survives an aula restart midway without sending anyone
the message twice, while a learner who writes meanwhile gets their reply at once; a reminder
reaches exactly the inactive learners of a cohort who owe an answer (not opted-out ones, not
active ones); --dry-run sends nothing. aula serve with a real redis-server, the mock Telegram
Bot API."""

import datetime
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import zoneinfo

from harness import (ADMIN_TOKEN, AULA_BIN, ROOT, Aula, MockTelegram, Redis, all_results, load_flow, results, tg_text, wait_until,
                     write_flows, write_test_config)

LEARNERS = 10_000
TEXT = "📣 Recordatorio: el módulo 2 ya está abierto. ¡Ánimo, colegas! ¿Dudas? Escríbenos."


class Broadcasts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-bc-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        cls.cfg = write_test_config(cls.tmp)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tg = MockTelegram()
        cls.addClassCleanup(cls.tg.close)
        cls.env = {"AULA_CONFIG": cls.cfg, "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, cls.tg.url, extra_env=cls.env)
        cls.addClassCleanup(lambda: cls.aula.close())
        cls.aula.start()

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        env.update({"AULA_CONFIG": self.cfg, "AULA_LISTEN": self.aula.url.replace("http://", ""),
                    "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}", "AULA_REDIS_URL": self.redis.url})
        return subprocess.run([AULA_BIN, *args], env=env, capture_output=True, text=True, timeout=300)

    def texts_to(self, chat):
        return [c["body"]["text"] for c in self.tg.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def enroll_csv(self, cohort, chats):
        path = os.path.join(self.tmp, cohort + ".csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("nombre,canal,chat_id\n")
            for c in chats:
                f.write(f"Persona {c},telegram,{c}\n")
        out = self.cli("enroll", "--cohort", cohort, path)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out

    def test_broadcast_to_10000_survives_a_restart_and_replies_stay_fast(self):
        chats = [900_000 + i for i in range(LEARNERS)]
        self.enroll_csv("lanzamiento", chats)
        dry = self.cli("broadcast", "--cohort", "lanzamiento", "--text", TEXT, "--dry-run")
        self.assertEqual(dry.returncode, 0, dry.stderr)
        self.assertTrue(dry.stdout.startswith(f"{LEARNERS} would receive it, 0 would not"), dry.stdout[:200])
        self.assertEqual(self.tg.calls("sendMessage"), [])  # a dry run sends nothing

        # Scheduled ten minutes ahead (local time, the server's default zone): it waits until then.
        status, body, _ = self.aula.advance_clock("0s")
        self.assertEqual(status, 200, body)
        now = datetime.datetime.fromtimestamp(json.loads(body)["now_ms"] / 1000, zoneinfo.ZoneInfo("America/Mexico_City"))
        at = (now + datetime.timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M")
        made = self.cli("broadcast", "--cohort", "lanzamiento", "--text", TEXT, "--at", at)
        self.assertEqual(made.returncode, 0, made.stderr)
        job = made.stdout.split()[2]

        def job_state():
            status, text, _ = __import__("harness").http(
                "GET", f"{self.aula.url}/admin/broadcasts/{job}", None, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
            return json.loads(text) if status == 200 else None

        time.sleep(2.5)  # the broadcaster looks every second
        self.assertEqual((job_state()["status"], job_state()["done"]), ("scheduled", 0))
        self.assertEqual(self.tg.calls("sendMessage"), [], "sent before its time")
        status, body, _ = self.aula.advance_clock("11m")
        self.assertEqual(status, 200, body)

        # Midway, a learner outside the cohort writes: the reply does not wait behind the bulk.
        wait_until(lambda: (job_state() or {}).get("done", 0) >= 500, timeout=60, what="the job under way")
        _, lesson = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra")
        t0 = time.monotonic()
        status, body, _ = self.aula.telegram(tg_text(5555, "leccion"))
        self.assertEqual(status, 200, body)
        wait_until(lambda: any(t.startswith(lesson["leccion-1"][:30]) for t in self.texts_to(5555)), timeout=10,
                   what="the reply during the broadcast")
        reply_s = time.monotonic() - t0
        sent_meanwhile = len([c for c in self.tg.calls("sendMessage") if c["body"].get("text") == TEXT])
        self.assertLess(sent_meanwhile, LEARNERS, "the reply only came after the whole broadcast")
        self.assertLess(reply_s, 5.0)

        # A restart midway (SIGTERM, then start again on the same Redis).
        state = job_state()
        self.assertLess(state["done"], LEARNERS, "the job finished before the restart could be tested")
        self.aula.kill(signal.SIGTERM)
        self.aula.close()
        type(self).aula = Aula(self.redis.url, self.tg.url, extra_env=self.env)
        self.aula.start()
        self.aula.advance_clock("11m")  # the test clock is the process's: past the job's time again
        wait_until(lambda: (job_state() or {}).get("status") == "done", timeout=180, what="the job to finish")
        state = job_state()
        self.assertEqual((state["total"], state["done"], state["skipped"]), (LEARNERS, LEARNERS, 0))

        # Every learner got it exactly once; every send is recorded.
        def delivered():
            got = {}
            for c in self.tg.calls("sendMessage"):
                if c["body"].get("text") == TEXT:
                    got[c["body"]["chat_id"]] = got.get(c["body"]["chat_id"], 0) + 1
            return got if len(got) >= LEARNERS else None
        got = wait_until(delivered, timeout=180, what="every broadcast at the mock")
        self.assertEqual(set(got), set(chats))
        self.assertEqual(max(got.values()), 1, "someone got the broadcast twice")
        recorded = sum(1 for r in all_results(self.redis) if r.get("type") == "broadcast" and r.get("status") == "sent")
        self.assertEqual(recorded, LEARNERS)

    def scans(self):
        return self.command_calls("scan")

    def command_calls(self, name):
        for line in self.redis.cli("INFO", "commandstats").splitlines():
            if line.startswith(f"cmdstat_{name}:"):
                return int(line.split("calls=")[1].split(",")[0])
        return 0

    def test_each_recipient_session_is_read_once_for_the_check_and_the_step(self):
        # A recipient's session is loaded to check it (opted out, consent, the job's states),
        # and the step starts from that load (it loaded it again). Redis counts the session
        # reads (HMGET; the commit script's version check is one more per step).
        chats = [8600 + i for i in range(300)]
        self.enroll_csv("una-lectura", chats)
        text = "Aviso 📣: la encuesta de necesidades cierra el viernes. ¡Gracias!"
        before = self.command_calls("hmget")
        made = self.cli("broadcast", "--cohort", "una-lectura", "--text", text, "--wait")
        self.assertEqual(made.returncode, 0, made.stdout + made.stderr)
        wait_until(lambda: all(text in self.texts_to(c) for c in chats), timeout=60, what="the broadcast at the mock")
        per_recipient = (self.command_calls("hmget") - before) / len(chats)
        # 2 = the load + the commit's check; 3 when the step loaded the session again.
        self.assertLess(per_recipient, 2.5, f"{per_recipient:.2f} session reads per recipient")

    def test_jobs_are_found_without_scanning_redis_even_one_saved_before_the_index(self):
        chats = [8301, 8302, 8303]
        self.enroll_csv("indice", chats)
        text = "Aviso 📌: ¿ya viste la lección? ¡Ánimo!"
        # Scheduled a day ahead: open, so in the index of open jobs, and not due.
        at = (datetime.datetime.now(zoneinfo.ZoneInfo("America/Mexico_City")) + datetime.timedelta(days=1))
        made = self.cli("broadcast", "--cohort", "indice", "--text", text, "--at", at.strftime("%Y-%m-%d %H:%M"))
        self.assertEqual(made.returncode, 0, made.stderr)
        job = made.stdout.split()[2]
        index = "aula:dir:jobs:open"
        self.assertIn(job, self.redis.cli("SMEMBERS", index).split())

        # The broadcaster looks every second, through the index: an idle server sends Redis no
        # SCAN (it walked the whole keyspace, sessions included, every second).
        time.sleep(1.5)
        before = self.scans()
        time.sleep(3.5)
        self.assertEqual(self.scans() - before, 0, "the broadcaster scanned the keyspace")

        # A job saved by a version without the index (taken out of it here), due now: the
        # first look after a start lists every job once and finds it. Out of the index first,
        # then made due: the other order let a look fall between the two writes and find the
        # due job still indexed (CI saw it sent, once).
        key = f"aula:dir:job:{job}"
        stored = json.loads(self.redis.cli("GET", key))
        stored["spec"]["at_ms"] = 0
        self.redis.cli("SREM", index, job)
        self.redis.cli("SET", key, json.dumps(stored, ensure_ascii=False))
        time.sleep(2.5)
        self.assertEqual([t for c in chats for t in self.texts_to(c) if t == text], [], "worked without the index")
        self.aula.kill(signal.SIGTERM)
        self.aula.close()
        type(self).aula = Aula(self.redis.url, self.tg.url, extra_env=self.env)
        self.aula.start()
        wait_until(lambda: all(text in self.texts_to(c) for c in chats), timeout=30, what="the job saved before the index")
        # Done: out of the index again.
        wait_until(lambda: json.loads(self.redis.cli("GET", key))["status"] == "done", timeout=10, what="the job done")
        wait_until(lambda: job not in self.redis.cli("SMEMBERS", index).split(), timeout=10, what="the job out of the index")

    def test_reminder_reaches_exactly_the_inactive_learners(self):
        _, lesson = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra")
        chats = [7201, 7202, 7203, 7204]
        self.enroll_csv("recordatorio", chats)
        for c in chats[:3]:
            self.aula.telegram(tg_text(c, "leccion"))
            wait_until(lambda: any(t.startswith(lesson["edad"]) for t in self.texts_to(c)), what=f"question to {c}")
        self.aula.telegram(tg_text(7203, "BAJA"))  # opted out
        self.aula.advance_clock("3h")
        self.aula.telegram(tg_text(7202, "2"))  # active: answered just now
        wait_until(lambda: any(t.startswith(lesson["jornada"]) for t in self.texts_to(7202)), what="7202's next")
        dry = self.cli("remind", "--cohort", "recordatorio", "--inactive", "2h", "--dry-run")
        self.assertIn("1 would receive it, 3 would not", dry.stdout)
        before = {c: len(self.texts_to(c)) for c in chats}
        out = self.cli("remind", "--cohort", "recordatorio", "--inactive", "2h", "--wait")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        wait_until(lambda: len(self.texts_to(7201)) > before[7201], what="the reminder")
        time.sleep(0.5)
        self.assertTrue(self.texts_to(7201)[before[7201]].startswith("¿Seguimos? Te espera esta pregunta:"))
        self.assertIn(lesson["edad"], self.texts_to(7201)[before[7201]])
        for c in (7202, 7203, 7204):
            self.assertEqual(len(self.texts_to(c)), before[c], f"{c} should not be reminded")
        self.assertEqual([r["status"] for r in results(self.redis, "telegram:7201", "reminder")], ["sent"])


if __name__ == "__main__":
    unittest.main()
