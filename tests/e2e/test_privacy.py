"""Data rights and retention end to end (issue 11): a learner's export (with and without what
they typed) and erasure through the admin API and `aula learner delete` — nothing that names
them is left in Redis, the record store or the audit log, the reports add up as before, and the
same number starts afresh —; facilitators may do neither; the retention job, on aula's test
clock, removes each class of data past its age and keeps the rest; and after full courses on
WhatsApp and SMS the logs and /metrics hold no phone number, name, typed answer or secret.
Expected texts come from the flow files; numbers are counted here, never read back from aula."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

import yaml

from harness import (ADMIN_TOKEN, AULA_BIN, ROOT, TW_FROM, TW_SID, TW_TOKEN, WA_APP_SECRET, WA_PHONE_NUMBER_ID,
                     WA_TOKEN, WA_VERIFY_TOKEN, Aula, MockTwilio, MockWhatsApp, Redis, admin, http, load_flow,
                     wait_until, write_flows, write_test_config)
import mock_twilio  # noqa: E402 (tests/support, on the path once harness is imported)
import mock_whatsapp as mw  # noqa: E402

NAME = "Ximena Quetzalli Ortega"
TYPED = "Escuela Secreta del Zorzal"


def records_db(aula):
    return aula.env["AULA_RECORDS_URL"][len("sqlite://"):]


def db_dump(aula):
    """Every row of every table of the record store, as text."""
    with sqlite3.connect(records_db(aula), timeout=10) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(repr(row) for t in tables for row in c.execute(f"SELECT * FROM {t}"))


def db_rows(aula, sql, args=()):
    with sqlite3.connect(records_db(aula), timeout=10) as c:
        return list(c.execute(sql, args))


def redis_dump(redis):
    """Every key of aula and its content, as text (strings, hashes, sets, sorted sets, streams)."""
    out = []
    for key in redis.cli("--scan", "--pattern", "aula*").split():
        kind = redis.cli("TYPE", key).strip()
        cmd = {"string": ["GET"], "hash": ["HGETALL"], "set": ["SMEMBERS"], "zset": ["ZRANGE", "0", "-1"],
               "stream": ["XRANGE"], "list": ["LRANGE", "0", "-1"]}[kind]
        args = [key, "-", "+"] if kind == "stream" else [key] + cmd[1:]
        out.append(key + " " + subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", cmd[0], *args],
                                              capture_output=True, text=True).stdout)
    return "\n".join(out)


def drained(redis):
    """Waits until every result record left Redis for the record store."""
    def empty():
        for key in redis.cli("--scan", "--pattern", "aula:{p*}:results").split():
            if redis.cli("XLEN", key).strip() not in ("", "0"):
                return False
        return True
    wait_until(empty, timeout=15, what="the result records drained")


class Conversations:
    """Drives a learner on WhatsApp or SMS and waits for aula to finish answering."""

    def wa_say(self, wa_id, text, name=NAME):
        status, body, _ = self.aula.whatsapp(mw.notification(WA_PHONE_NUMBER_ID, [mw.text_message(wa_id, text)],
                                                             contacts=[mw.contact(wa_id, name)]))
        self.assertEqual(status, 200, body)

    def sms_say(self, number, text):
        status, body, _ = self.aula.twilio(mock_twilio.inbound_params(TW_SID, number, TW_FROM, text))
        self.assertEqual(status, 200, body)

    def settle(self, count, text, before):
        """Waits until `count()` grew past `before` and then stayed put for a moment."""
        wait_until(lambda: count() > before, timeout=15, what=f"an answer to {text!r}")
        last, since = count(), time.monotonic()
        while time.monotonic() - since < 0.4:
            time.sleep(0.1)
            if count() != last:
                last, since = count(), time.monotonic()

    def lesson(self, say, sent):
        """The sample lesson from its keyword to its end, all answers right (typed labels)."""
        for text in ("leccion", "15 años", "6 horas", "No", "9"):
            before = sent()
            say(text)
            self.settle(sent, text, before)

    def diagnosis_start(self, say, sent, typed=TYPED):
        """The diagnosis's first two questions: a choice, then the free-text institution."""
        for text in ("diagnostico", "2", typed):
            before = sent()
            say(text)
            self.settle(sent, text, before)


class DataRights(Conversations, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-privacy-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.wa = MockWhatsApp()
        cls.addClassCleanup(cls.wa.close)
        env = {**cls.wa.env(), "AULA_CONFIG": write_test_config(cls.tmp), "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        status, body = admin(cls.aula, "POST", "/admin/tokens",
                             {"name": "Facilitadora", "role": "facilitator", "cohorts": ["piloto"]})
        assert status == 201, body
        cls.facilitator = body["token"]

    def test_export_and_delete_keep_reports_and_leave_nothing_that_names_the_learner(self):
        wa, other = "5215587654321", "5215511223344"
        to, to_other = "525587654321", "525511223344"
        conv = "whatsapp:+525587654321"
        csv = (f"nombre,telefono,estado,consentimiento\n{NAME},+{wa},Jalisco,formulario 2026-11-20\n"
               f"Otra Persona,+{other},Jalisco,formulario 2026-11-20\n")
        status, body = admin(self.aula, "POST", "/admin/learners/import", {"cohort": "piloto", "csv": csv})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["imported"], 2, body)
        for number, dest, name in ((wa, to, NAME), (other, to_other, "Otra Persona")):
            self.lesson(lambda t, n=number, m=name: self.wa_say(n, t, m), lambda d=dest: len(self.wa.sent(d)))
            self.diagnosis_start(lambda t, n=number, m=name: self.wa_say(n, t, m), lambda d=dest: len(self.wa.sent(d)),
                                 TYPED if number == wa else "Otra institución")
        drained(self.redis)
        reports = {}
        for path in ("/admin/reports/items?flow=leccion-muestra", "/admin/reports/delivery",
                     "/admin/reports/progress?cohort=piloto", "/admin/reports/survey?flow=diagnostico",
                     "/admin/reports/survey?flow=leccion-muestra"):
            status, body = admin(self.aula, "GET", path)
            self.assertEqual(status, 200, body)
            reports[path] = body
        self.assertIn(TYPED, db_dump(self.aula))
        self.assertIn("5587654321", db_dump(self.aula))

        # Facilitators may neither export nor erase, even in their cohort.
        for method, path in (("GET", f"/admin/learners/{conv}/export"), ("POST", f"/admin/learners/{conv}/delete")):
            status, body = admin(self.aula, method, path, token=self.facilitator)
            self.assertEqual(status, 403, body)

        # The export: everything, or without what they typed.
        status, full = admin(self.aula, "GET", f"/admin/learners/{conv}/export")
        self.assertEqual(status, 200, full)
        self.assertEqual(full["record"]["name"], NAME)
        self.assertIn(TYPED, json.dumps(full, ensure_ascii=False))
        status, bare = admin(self.aula, "GET", f"/admin/learners/{conv}/export?free_text=0")
        self.assertEqual(status, 200, bare)
        self.assertEqual(len(bare["records"]), len(full["records"]))
        self.assertNotIn(TYPED, json.dumps(bare, ensure_ascii=False))
        quiz = [r for r in bare["records"] if r["type"] == "quiz"]
        self.assertEqual([r["value"] for r in quiz], ["b", "seis", "no"])  # choices stay

        # Erasure through the command (it asks first; --yes does not).
        env = {**self.aula.env}
        cmd = [AULA_BIN, "learner", "delete", "whatsapp:+5215587654321"]
        out = subprocess.run(cmd, env=env, input="no\n", capture_output=True, text=True, timeout=30, cwd=ROOT)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIsNotNone(self.aula.session(self.redis, conv))
        out = subprocess.run(cmd + ["--yes"], env=env, capture_output=True, text=True, timeout=30, cwd=ROOT)
        self.assertEqual(out.returncode, 0, out.stderr)
        anon = re.search(r"anon:[0-9a-f]{20}", out.stdout).group(0)
        status, body = admin(self.aula, "POST", f"/admin/learners/{conv}/delete")
        self.assertEqual(status, 404, body)  # nothing is left to erase
        drained(self.redis)

        # Nothing names them: Redis, the record store, the audit log, the learner view.
        for where, text in (("redis", redis_dump(self.redis)), ("records", db_dump(self.aula))):
            for gone in ("5587654321", NAME, TYPED):
                k = text.find(gone)
                self.assertEqual(k, -1, f"{gone!r} in {where}: …{text[max(0, k - 120):k + 250]}…")
        self.assertEqual(admin(self.aula, "GET", f"/admin/learners/{conv}")[0], 404)
        status, audit = admin(self.aula, "GET", "/admin/audit?max=100")
        self.assertNotIn("5587654321", json.dumps(audit))
        delete = [e for e in audit["entries"] if e["action"] == "delete"]
        self.assertEqual([e["target"] for e in delete], [anon])
        self.assertEqual([e["target"] for e in audit["entries"] if e["action"] == "export"], [anon, anon])
        self.assertEqual([e["target"] for e in audit["entries"] if e["action"] == "import"], ["cohort:piloto"])
        # The other learner is untouched.
        self.assertIn("5511223344", redis_dump(self.redis))
        self.assertEqual(admin(self.aula, "GET", "/admin/learners/whatsapp:+525511223344")[0], 200)

        # The reports add up as before.
        for path, before in reports.items():
            status, after = admin(self.aula, "GET", path)
            self.assertEqual(status, 200, after)
            if "progress" in path:
                strip = lambda p: sorted(json.dumps({k: v for k, v in l.items() if k not in ("conv", "name")},  # noqa
                                                    sort_keys=True) for l in p["learners"])
                self.assertEqual(strip(after), strip(before))
                self.assertEqual(after["by_cohort"], before["by_cohort"])
                self.assertEqual(after["by_state"], before["by_state"])
            elif "survey" in path:
                # What learners typed (the raw "9" of the scale included) is no longer tallied
                # for them; every count, mean and NPS is the same.
                # The typed institution is no longer among the tallied values either.
                typed_words = lambda k, n: k == "texts" or (k == "values" and n["node"] == "institucion")  # noqa
                strip = lambda r: {**r, "nodes": [{k: v for k, v in n.items() if not typed_words(k, n)}  # noqa
                                                  for n in r["nodes"]]}
                self.assertEqual(strip(after), strip(before))
            else:
                self.assertEqual(after, before, path)
        self.assertEqual(len(db_rows(self.aula, "SELECT 1 FROM records WHERE conv = ?", (anon,))),
                         len(full["records"]))

        # The same number later: a new learner, from the start.
        count = len(self.wa.sent(to))
        self.wa_say(wa, "leccion", name="X")
        wait_until(lambda: len(self.wa.sent(to)) > count, what="a fresh start")
        session = self.aula.session(self.redis, conv)
        self.assertEqual(session.get("courses", []), [])
        self.assertEqual(session["run"]["flow"], "leccion-muestra")


class Retention(Conversations, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-retention-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        path = write_test_config(cls.tmp)
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        cfg["retention"] = {"sessions": "30d", "free_text": "7d", "delivery": "14d", "audit": "60d", "every": "200ms"}
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tw = MockTwilio()
        cls.addClassCleanup(cls.tw.close)
        env = {**cls.tw.env(), "AULA_CONFIG": path, "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def count(self, sql, args=()):
        return db_rows(self.aula, sql, args)[0][0]

    def test_expired_data_goes_and_the_rest_stays(self):
        early, late = "+525522220001", "+525522220002"
        c_early, c_late = "sms:" + early, "sms:" + late
        say = lambda n: (lambda t: self.sms_say(n, t))  # noqa: E731
        sent = lambda n: (lambda: len(self.tw.sent(n)))  # noqa: E731
        self.lesson(say(early), sent(early))
        self.diagnosis_start(say(early), sent(early))
        status, body = admin(self.aula, "POST", "/admin/pins", {"cohort": "nadie", "version": 0})  # audited
        self.assertEqual(status, 200, body)
        drained(self.redis)
        typed = "SELECT COUNT(*) FROM records WHERE conv = ? AND text IS NOT NULL AND type IN ('answer', 'quiz')"
        # A merged "sent" record stands for its "messages" (NULL: one).
        delivery = "SELECT COALESCE(SUM(COALESCE(messages, 1)), 0) FROM records WHERE conv = ? AND type IN ('sent', 'delivery')"
        self.assertEqual(self.count(typed, (c_early,)), 6)  # 3 quiz, the NPS, the role, the institution
        self.assertEqual(self.count(delivery, (c_early,)), len(self.tw.sent(early)))
        self.assertIn(TYPED, db_dump(self.aula))
        answers = self.count("SELECT COUNT(*) FROM records WHERE type IN ('answer', 'quiz')")

        # 8 days on: what the early learner typed is blanked; their choices and sends stay.
        self.assertEqual(self.aula.advance_clock("8d")[0], 200)
        wait_until(lambda: self.count(typed, (c_early,)) == 0, what="typed answers blanked")
        self.assertNotIn(TYPED, db_dump(self.aula))
        self.assertEqual(self.count("SELECT COUNT(*) FROM records WHERE type IN ('answer', 'quiz')"), answers)
        self.assertEqual(self.count("SELECT COUNT(*) FROM records WHERE conv = ? AND type = 'quiz' AND value IS NULL",
                                    (c_early,)), 0)
        self.assertGreater(self.count(delivery, (c_early,)), 0)
        self.assertIsNotNone(self.aula.session(self.redis, c_early))

        # The late learner now; 6 days and an hour more (14 and an hour after the first): the
        # early sends are deleted; the late learner's typed answers (6 days old) stay.
        self.lesson(say(late), sent(late))
        drained(self.redis)
        self.assertEqual(self.aula.advance_clock("6d1h")[0], 200)
        wait_until(lambda: self.count(delivery, (c_early,)) == 0, what="early delivery records deleted")
        self.assertEqual(self.count(delivery, (c_late,)), len(self.tw.sent(late)))
        self.assertEqual(self.count(typed, (c_late,)), 4)  # 6 days old only

        # 31 days after the first: the early session is gone from Redis, the late one (23 days
        # idle) stays.
        self.assertEqual(self.aula.advance_clock("17d")[0], 200)
        wait_until(lambda: self.aula.session(self.redis, c_early) is None, what="the idle session removed")
        self.assertIsNotNone(self.aula.session(self.redis, c_late))
        self.assertGreater(self.count("SELECT COUNT(*) FROM records WHERE conv = ?", (c_early,)), 0)  # results stay

        # 61 days: the audit entry of the unpin is gone; one made now (the run) stays.
        status, audit = admin(self.aula, "GET", "/admin/audit?max=1000")
        self.assertIn("unpin", [e["action"] for e in audit["entries"]])
        self.assertEqual(self.aula.advance_clock("30d")[0], 200)
        status, body = admin(self.aula, "POST", "/admin/retention/run")
        self.assertEqual(status, 200, body)
        status, audit = admin(self.aula, "GET", "/admin/audit?max=1000")
        actions = [e["action"] for e in audit["entries"]]
        self.assertNotIn("unpin", actions)
        self.assertIn("retention", actions)


class LogsAreClean(Conversations, unittest.TestCase):
    """Full courses on WhatsApp and SMS with known numbers, names, typed answers and tokens:
    none of them reaches aula's output or /metrics."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-logs-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.wa = MockWhatsApp()
        cls.addClassCleanup(cls.wa.close)
        cls.tw = MockTwilio()
        cls.addClassCleanup(cls.tw.close)
        env = {**cls.wa.env(), **cls.tw.env(), "AULA_CONFIG": write_test_config(cls.tmp), "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def test_no_number_name_typed_answer_or_secret_in_logs_or_metrics(self):
        wa, wa_to, sms = "5215576543210", "525576543210", "+525598765432"
        self.lesson(lambda t: self.wa_say(wa, t), lambda: len(self.wa.sent(wa_to)))
        self.diagnosis_start(lambda t: self.wa_say(wa, t), lambda: len(self.wa.sent(wa_to)))
        self.lesson(lambda t: self.sms_say(sms, t), lambda: len(self.tw.sent(sms)))
        self.diagnosis_start(lambda t: self.sms_say(sms, t), lambda: len(self.tw.sent(sms)))
        for sid in [c["message_sid"] for c in self.tw.sent(sms)][:3]:
            self.tw.status_callback(sid, "delivered")
        # Operators look at both learners (their paths carry the numbers).
        for conv in ("whatsapp:+525576543210", "sms:+525598765432"):
            self.assertEqual(admin(self.aula, "GET", f"/admin/learners/{conv}")[0], 200)
            self.assertEqual(admin(self.aula, "GET", f"/admin/learners/{conv}/export")[0], 200)
        # A bad signature and a wrong verify token are logged too.
        self.assertEqual(self.aula.whatsapp(mw.notification(WA_PHONE_NUMBER_ID, [mw.text_message(wa, "x")]),
                                            app_secret="not-the-secret")[0], 401)
        self.assertNotEqual(self.aula.whatsapp_verify(token="wrong-verify-token")[0], 200)
        drained(self.redis)
        status, metrics, _ = http("GET", self.aula.url + "/metrics")
        self.assertEqual(status, 200)
        logs = self.aula.output()
        self.assertIn("http request", logs)  # the access log was on: the paths were written
        self.assertIn("*5432", logs)  # … masked
        forbidden = ["5576543210", "5598765432", NAME, "Ximena", TYPED, WA_TOKEN, WA_APP_SECRET, WA_VERIFY_TOKEN,
                     TW_TOKEN, ADMIN_TOKEN]
        for where, text in (("log", logs), ("metrics", metrics)):
            for s in forbidden:
                self.assertNotIn(s, text, f"{s!r} in the {where}")
            # No run of 8 digits of either number.
            for number in (wa, sms[1:]):
                for k in range(len(number) - 7):
                    self.assertNotIn(number[k:k + 8], text, f"digits of {number} in the {where}")


if __name__ == "__main__":
    unittest.main()
