"""What operators do for one learner and what limits what they reach, against a real aula,
Redis and the channel mocks: a learner's timeline, reset and move (admin API and CLI, audited),
facilitators scoped by commission (state), quiet hours held and released with the test clock,
and WhatsApp's daily messaging tier (templates beyond the cap held, then sent)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import yaml

from harness import (AULA_BIN, ROOT, Aula, MockTelegram, advance_to_local, MockWhatsApp, Redis, TestCA, admin, http,
                     load_flow, results, tg_text, wait_until, write_flows, write_test_config)


def cli(aula, *args):
    env = dict(aula.env)
    return subprocess.run([AULA_BIN, *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)


class LearnerFixes(unittest.TestCase):
    """Timeline, reset and move for a Telegram learner of the sample course; commissions."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tg = MockTelegram()
        cls.addClassCleanup(cls.tg.close)
        cls.aula = Aula(cls.redis.url, cls.tg.url)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        _, cls.m1 = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra")
        _, cls.m2 = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra-2")

    def texts(self, chat):
        return [c["body"]["text"] for c in self.tg.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def wait_text(self, chat, prefix, after=0):
        return wait_until(lambda: any(t.startswith(prefix) for t in self.texts(chat)[after:]), timeout=15,
                          what=f"'{prefix[:30]}…' to {chat}")

    def test_timeline_move_and_reset_are_audited(self):
        chat = 9101
        status, body = admin(self.aula, "POST", "/admin/enroll",
                           {"learner": f"telegram:{chat}", "course": "curso-muestra", "cohort": "arreglos",
                            "name": "Águeda Núñez", "state": "Oaxaca"})
        self.assertEqual(status, 200, body)
        self.wait_text(chat, self.m1["edad"])
        self.aula.telegram(tg_text(chat, "¿15 años? ñandú 🙂"))  # not an option: an invalid answer, kept verbatim
        wait_until(lambda: results(self.redis, f"telegram:{chat}", "invalid"), what="the invalid answer recorded")

        # The timeline (Redis and the record store together) shows what happened, in order.
        def timeline():
            s, j = admin(self.aula, "GET", f"/admin/learners/telegram:{chat}?timeline=100")
            return j if s == 200 and any(r.get("type") == "invalid" for r in j["timeline"]) else None
        view = wait_until(timeline, what="the learner's timeline")
        types = [r["type"] for r in view["timeline"]]
        self.assertLess(types.index("enrolled"), types.index("invalid"))
        self.assertIn("¿15 años? ñandú 🙂", [r.get("text") for r in view["timeline"]])
        self.assertEqual(view["status"], "active")
        self.assertEqual(view["record"]["name"], "Águeda Núñez")
        self.assertEqual(view["record"]["cohorts"], ["arreglos"])
        # Each record says which published version of the flows and which channel it came from.
        invalid = next(r for r in view["timeline"] if r["type"] == "invalid")
        self.assertEqual((invalid["version"], invalid["channel"], invalid["node"]), (1, "telegram", "edad"))
        # The records reach the record store: the drain empties Redis within seconds.
        wait_until(lambda: not [k for k in self.redis.cli("--scan", "--pattern", "aula:{p*}:results").split()
                                if self.redis.cli("XLEN", k).strip() not in ("", "0")], timeout=15,
                   what="records drained from Redis")
        s, again = admin(self.aula, "GET", f"/admin/learners/telegram:{chat}?timeline=100")
        ids = [r["id"] for r in view["timeline"]]
        self.assertEqual([r["id"] for r in again["timeline"]][:len(ids)], ids)

        # Move to module 2 now: its first question comes; the course says module 2.
        before = len(self.texts(chat))
        out = cli(self.aula, "learner", "move", f"telegram:{chat}", "--course", "curso-muestra", "--flow",
                  "leccion-muestra-2")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("moved to module leccion-muestra-2 of curso-muestra", out.stdout)
        wait_until(lambda: len(self.texts(chat)) > before, what="module 2's first message")
        s, j = admin(self.aula, "GET", f"/admin/learners/telegram:{chat}?timeline=0")
        self.assertEqual(j["run"]["flow"], "leccion-muestra-2")
        self.assertEqual(j["courses"][0]["module"], 2)

        # Reset the course: module 1 again from its start, attempts counted afresh.
        before = len(self.texts(chat))
        status, body = admin(self.aula, "POST", f"/admin/learners/telegram:{chat}/reset", {"course": "curso-muestra"})
        self.assertEqual(status, 200, body)
        self.wait_text(chat, self.m1["edad"], after=before)
        self.assertEqual(body["learner"]["courses"][0]["module"], 1)
        self.assertEqual(body["learner"]["courses"][0]["modules"][0]["attempts"], 1)

        # Errors say what is wrong; nothing changes.
        self.assertEqual(admin(self.aula, "POST", f"/admin/learners/telegram:{chat}/move",
                             {"course": "curso-muestra", "flow": "diagnostico"})[0], 404)
        self.assertEqual(admin(self.aula, "POST", "/admin/learners/telegram:424242/reset", {})[0], 404)

        # A facilitator may look at their learner, not fix them; both fixes are in the audit log.
        status, body = admin(self.aula, "POST", "/admin/tokens",
                           {"name": "Rosa (facilitadora)", "role": "facilitator", "cohorts": ["arreglos"]})
        self.assertEqual(status, 201, body)
        fac = body["token"]
        self.assertEqual(admin(self.aula, "GET", f"/admin/learners/telegram:{chat}", token=fac)[0], 200)
        self.assertEqual(admin(self.aula, "POST", f"/admin/learners/telegram:{chat}/reset", {}, token=fac)[0], 403)
        status, audit = admin(self.aula, "GET", "/admin/audit?max=50")
        actions = [(e.get("action"), e.get("target")) for e in audit["entries"]]
        self.assertIn(("move", f"telegram:{chat}"), actions)
        self.assertIn(("reset", f"telegram:{chat}"), actions)
        # A data-rights export: everything held, as JSON (administrators only; audited).
        path = os.path.join(tempfile.mkdtemp(prefix="aula-e2e-export-"), "export.json")
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        out = cli(self.aula, "learner", "export", f"telegram:{chat}", "--output", path)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        with open(path, encoding="utf-8") as f:
            exported = json.load(f)
        self.assertEqual(exported["record"]["name"], "Águeda Núñez")
        self.assertEqual(exported["session"]["contact"]["name"], "Águeda Núñez")
        texts = [r.get("text") for r in exported["records"]]
        self.assertIn("¿15 años? ñandú 🙂", texts)
        self.assertGreaterEqual(len(exported["records"]), len(view["timeline"]))
        self.assertEqual(admin(self.aula, "GET", f"/admin/learners/telegram:{chat}/export", token=fac)[0], 403)
        _, audit = admin(self.aula, "GET", "/admin/audit?max=50")
        self.assertIn(("export", f"telegram:{chat}"), [(e["action"], e["target"]) for e in audit["entries"]])
        # Staff actions are evaluation data too: records of the person who acted.
        staff = wait_until(lambda: results(self.redis, "staff:bootstrap admin", "admin") or None, what="admin records")
        self.assertIn(("move", f"telegram:{chat}"), [(r["status"], r["text"]) for r in staff])

    def test_a_commission_facilitator_reaches_only_their_state(self):
        csv = ("nombre,canal,chat_id,estado\n"
               "Lupita,telegram,9201,Jalisco\n"
               "Beto,telegram,9202,Oaxaca\n"
               "Carmen,telegram,9203,jalisco\n")
        status, body = admin(self.aula, "POST", "/admin/learners/import",
                           {"cohort": "lanzamiento", "course": "curso-muestra", "csv": csv, "default_channel": "telegram"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["imported"], 3, body)
        status, body = admin(self.aula, "POST", "/admin/tokens",
                           {"name": "Comisión Jalisco", "role": "facilitator", "commissions": ["Jalisco"]})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["commissions"], ["Jalisco"])
        jal = body["token"]
        self.assertEqual(admin(self.aula, "POST", "/admin/tokens",
                             {"name": "Nadie", "role": "facilitator", "commissions": ["Atlántida"]})[0], 400)

        # The cohort as they see it: their state's learners only.
        status, body = admin(self.aula, "GET", "/admin/cohorts/lanzamiento", token=jal)
        self.assertEqual(status, 200, body)
        self.assertEqual(sorted(x["learner"] for x in body["learners"]), ["telegram:9201", "telegram:9203"])
        self.assertEqual(admin(self.aula, "GET", "/admin/learners/telegram:9202", token=jal)[0], 403)
        self.assertEqual(admin(self.aula, "GET", "/admin/learners/telegram:9201", token=jal)[0], 200)

        # A broadcast of theirs reaches their learners of the cohort, nobody else.
        status, dry = admin(self.aula, "POST", "/admin/broadcasts",
                          {"kind": "broadcast", "cohort": "lanzamiento", "text": "¡Hola, Jalisco!", "dry_run": True},
                          token=jal)
        self.assertEqual(status, 200, dry)
        self.assertEqual(sorted(r["learner"] for r in dry["recipients"]), ["telegram:9201", "telegram:9203"])
        self.assertEqual([r["learner"] for r in dry["skipped"]], ["telegram:9202"])

        # Enrolment: a row of another state is reported by line, not imported.
        csv2 = "nombre,canal,chat_id,estado\nDiana,telegram,9204,Jalisco\nEmilio,telegram,9205,Sonora\n"
        status, body = admin(self.aula, "POST", "/admin/learners/import",
                           {"cohort": "lanzamiento", "csv": csv2, "default_channel": "telegram"}, token=jal)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["imported"], 1)
        self.assertEqual([(p["line"], "commissions" in p["message"]) for p in body["problems"]], [(3, True)])

        # Reports: their learners only; another state is forbidden.
        def progress():
            s, j = admin(self.aula, "GET", "/admin/reports/progress?cohort=lanzamiento", token=jal)
            return j if s == 200 and len(j["learners"]) >= 3 else None
        rep = wait_until(progress, timeout=15, what="the commission's progress report")
        # Diana was imported without a course: in the report, with no course yet.
        self.assertEqual(sorted(l["conv"] for l in rep["learners"]), ["telegram:9201", "telegram:9203", "telegram:9204"])
        self.assertEqual([l["courses"] for l in rep["learners"] if l["conv"] == "telegram:9204"], [[]])
        # Nobody has reached module 2 yet: the course file still says there are two.
        lupita = next(l for l in rep["learners"] if l["conv"] == "telegram:9201")
        self.assertEqual((lupita["courses"][0]["modules_total"], lupita["courses"][0]["modules_completed"]), (2, 0))
        self.assertTrue(all(l["state"] == "Jalisco" for l in rep["learners"]), rep["learners"])
        self.assertEqual(admin(self.aula, "GET", "/admin/reports/progress?state=Oaxaca", token=jal)[0], 403)
        # An export is in the audit log: who took which data out.
        status, text, _ = http("GET", self.aula.url + "/admin/reports/progress?cohort=lanzamiento&format=csv",
                               headers={"Authorization": f"Bearer {jal}"})
        self.assertEqual(status, 200, text)
        self.assertNotIn("Beto", text)
        _, audit = admin(self.aula, "GET", "/admin/audit?max=20")
        self.assertIn(("Comisión Jalisco", "export", "/admin/reports/progress"),
                      [(e["who"], e["action"], e["target"]) for e in audit["entries"]])


class QuietHoursAndTier(unittest.TestCase):
    """Quiet hours (21:00–08:00 local) hold a broadcast until morning, except for a learner who
    just wrote; on WhatsApp, the daily tier (cap 1) holds the second new conversation a day."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-ops-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        path = write_test_config(cls.tmp)
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        cfg["quiet_hours"] = {"start": "21:00", "end": "08:00"}
        cfg["whatsapp"]["daily_conversation_cap"] = 1
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True, sort_keys=False)
        cls.ca = TestCA()
        cls.addClassCleanup(cls.ca.close)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tg = MockTelegram()
        cls.addClassCleanup(cls.tg.close)
        cls.wa = MockWhatsApp(ca=cls.ca)
        cls.addClassCleanup(cls.wa.close)
        env = {**cls.wa.env(), "AULA_CONFIG": path, "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, cls.tg.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def texts(self, chat):
        return [c["body"]["text"] for c in self.tg.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def metric(self, outcome):
        _, body, _ = http("GET", self.aula.url + "/metrics")
        for line in body.splitlines():
            if line.startswith(f'aula_delivery_total{{outcome="{outcome}"}}'):
                return float(line.split()[-1])
        return 0.0

    def test_1_quiet_hours_hold_a_broadcast_until_morning_but_not_for_a_learner_who_wrote(self):
        csv = "nombre,canal,chat_id,estado\nNoé,telegram,9301,Ciudad de México\nSofía,telegram,9302,CDMX\n"
        status, body = admin(self.aula, "POST", "/admin/learners/import",
                           {"cohort": "nocturno", "csv": csv, "default_channel": "telegram"})
        self.assertEqual((status, body["imported"]), (200, 2), body)
        advance_to_local(self.aula, "America/Mexico_City", 22)
        self.aula.telegram(tg_text(9302, "hola"))  # Sofía is awake: she just wrote
        wait_until(lambda: self.texts(9302), what="an answer to Sofía")
        text = "🌙 Aviso: mañana abre el módulo 2. ¡Ánimo!"
        status, job = admin(self.aula, "POST", "/admin/broadcasts", {"kind": "broadcast", "cohort": "nocturno", "text": text})
        self.assertEqual(status, 201, job)
        wait_until(lambda: text in self.texts(9302), what="the broadcast to the learner who wrote")
        time.sleep(2)
        self.assertNotIn(text, self.texts(9301), "sent inside quiet hours")
        self.assertGreaterEqual(self.metric("held_for_quiet_hours"), 1)
        advance_to_local(self.aula, "America/Mexico_City", 8)
        wait_until(lambda: text in self.texts(9301), timeout=15, what="the broadcast after quiet hours")
        self.assertEqual(self.texts(9302).count(text), 1)

    def test_2_the_daily_tier_holds_the_second_new_conversation_until_a_place_frees(self):
        advance_to_local(self.aula, "America/Mexico_City", 10)  # daytime: quiet hours play no part
        csv = ("nombre,canal,telefono,estado,consentimiento\n"
               "Iris,whatsapp,5215512349001,CDMX,formulario firmado\n"
               "Omar,whatsapp,5215512349002,CDMX,formulario firmado\n")
        status, body = admin(self.aula, "POST", "/admin/learners/import", {"cohort": "tier", "csv": csv})
        self.assertEqual((status, body["imported"]), (200, 2), body)
        # Neither has ever written: every message needs a template, each a new conversation.
        status, job = admin(self.aula, "POST", "/admin/broadcasts",
                          {"kind": "broadcast", "cohort": "tier", "text": "¿Seguimos?", "template": "aula_continuar"})
        self.assertEqual(status, 201, job)

        def templates():
            return {to: len([c for c in self.wa.sent(to) if c["type"] == "template"])
                    for to in ("525512349001", "525512349002")}  # 521… and 52… are one number (E.164)
        wait_until(lambda: sum(templates().values()) >= 1, timeout=15, what="the first template")
        time.sleep(2)
        self.assertEqual(sorted(templates().values()), [0, 1], "the cap is one new conversation a day")
        self.assertGreaterEqual(self.metric("held_for_daily_tier"), 1)
        # A day later the place frees: the other learner's template goes, once.
        self.aula.advance_clock("24h")
        wait_until(lambda: sorted(templates().values()) == [1, 1], timeout=20, what="the held template")
        time.sleep(1)
        self.assertEqual(sorted(templates().values()), [1, 1])


if __name__ == "__main__":
    unittest.main()
