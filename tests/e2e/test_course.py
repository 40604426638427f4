"""The course layer end to end, with aula's test clock: learners in two time zones take the
sample course (flows/course.yaml) over simulated days on Telegram — drip at 09:00 in each
learner's zone, unlock by score (review and retake), completion and the certificate verified
at /verify/<code> —, a WhatsApp learner who stalls is nudged with the course's template, and
publishing: a broken reload changes nothing, a good one moves waiting learners as the flow's
migrate map says, a pinned cohort stays on its version, every instance follows, drafts are
previewed without records. Expected texts come from the flow files, never from aula's output."""

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import zoneinfo

import yaml

from harness import (ADMIN_TOKEN, AULA_BIN, ROOT, WA_PHONE_NUMBER_ID, Aula, MockTelegram, MockWhatsApp, Redis,
                     TestCA, http, load_flow, results, tg_text, text_of, wait_until, write_flows, write_test_config)
import mock_whatsapp as mw  # noqa: E402 (tests/support, on the path once harness is imported)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def course_doc(folder=os.path.join(ROOT, "flows")):
    with open(os.path.join(folder, "course.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return next(c for c in doc["courses"] if c["id"] == "curso-muestra")


def fill(text, **vars_):
    for k, v in vars_.items():
        text = text.replace("{{" + k + "}}", str(v))
    return text


def admin(aula, method, path, body=None):
    status, text, _ = http(method, aula.url + path, body, ADMIN)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def clock_now(aula):
    status, body, _ = http("POST", aula.url + "/admin/test/clock", {"advance": "1s"}, ADMIN)
    assert status == 200, body
    return json.loads(body)["now_ms"]


def advance_to(aula, when_ms):
    """Moves aula's clock forward to `when_ms` (ms since epoch), firing what falls due."""
    now = clock_now(aula)
    seconds = max(1, (when_ms - now) // 1000)
    status, body = admin(aula, "POST", "/admin/test/clock", {"advance": f"{seconds}s"})
    assert status == 200, body
    return body["now_ms"]


def next_local(now_ms, tz, hour, days):
    """The instant `days` days after the local date of now_ms in `tz`, at `hour`:00 local;
    days=0: the next such time (today if still ahead)."""
    zone = zoneinfo.ZoneInfo(tz)
    local = datetime.datetime.fromtimestamp(now_ms / 1000, zone)
    target = datetime.datetime.combine(local.date() + datetime.timedelta(days=days), datetime.time(hour), zone)
    if days == 0 and target <= local:
        target += datetime.timedelta(days=1)
    return int(target.timestamp() * 1000)


class CourseOverDays(unittest.TestCase):
    """Telegram learners in Mexico City and Cancún through both modules of the sample course."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mock = MockTelegram()
        cls.addClassCleanup(cls.mock.close)
        cls.aula = Aula(cls.redis.url, cls.mock.url)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.course = course_doc()
        cls.m1_doc, cls.m1 = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra")
        cls.m2_doc, cls.m2 = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra-2")

    def texts(self, chat):
        return [c["body"]["text"] for c in self.mock.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def wait_texts(self, chat, count):
        return wait_until(lambda: (lambda t: t if len(t) >= count else None)(self.texts(chat)), timeout=15,
                          what=f"{count} messages to {chat}")

    def say(self, chat, text):
        status, body, _ = self.aula.telegram(tg_text(chat, text))
        self.assertEqual(status, 200, body)

    def answer_and_wait(self, chat, text, expect_prefix):
        before = len(self.texts(chat))
        self.say(chat, text)
        wait_until(lambda: any(t.startswith(expect_prefix) for t in self.texts(chat)[before:]), timeout=15,
                   what=f"'{expect_prefix[:30]}…' after {text!r}")

    def enroll(self, chat, **extra):
        status, body = admin(self.aula, "POST", "/admin/enroll",
                             {"learner": f"telegram:{chat}", "course": "curso-muestra", **extra})
        self.assertEqual(status, 200, body)

    def module1(self, chat, correct):
        """Answers the questions of module 1 all right or all wrong (jornada takes two
        attempts); waits for each next prompt; the last answer (the 0-10 scale) is left to
        the caller."""
        jornada = self.m1_doc["nodes"]["jornada"]
        if correct:
            steps = [("2", self.m1["jornada"]), ("1", self.m1["peligroso"]), ("2", self.m1["recomendacion"])]
        else:
            steps = [("1", self.m1["jornada"]), ("2", jornada["feedback"]["retry"]["es"]),
                     ("2", self.m1["peligroso"]), ("1", self.m1["recomendacion"])]
        for text, nxt in steps:
            self.answer_and_wait(chat, text, nxt)

    def test_two_zones_unlock_by_score_and_certificate(self):
        ana, luis = 7001, 7002
        course = self.course
        name = course["name"]["es"]
        self.enroll(ana, name="Ana")
        self.enroll(luis, name="Luis", tz="America/Cancun")
        for chat in (ana, luis):
            texts = self.wait_texts(chat, 5)
            self.assertEqual(texts[0], fill(course["welcome"]["es"], **{"course.name": name, "modules.total": 2}))
            self.assertTrue(texts[4].startswith(self.m1["edad"]), texts[4])

        # Ana scores 0 of 4: below module 2's min_score (50 %), she reviews module 1.
        self.module1(ana, correct=False)
        before = len(self.texts(ana))
        self.say(ana, "5")
        review = fill(course["review"]["text"]["es"],
                      **{"module.score": 0, "module.min_score": 50, "module.number": 1})
        wait_until(lambda: review in self.texts(ana)[before:], what="the review text")
        ana_done = clock_now(self.aula)
        # Luis scores 4 of 4: module 2 opens tomorrow at 09:00 in Cancún.
        self.module1(luis, correct=True)
        self.answer_and_wait(luis, "10", self.m1_doc["nodes"]["fin"]["message"]["es"].split("{{")[0])
        luis_done = clock_now(self.aula)

        unlocked_1 = fill(course["unlocked"]["es"], **{"module.number": 1, "module.name": self.m1_doc["name"]["es"]})
        unlocked_2 = fill(course["unlocked"]["es"], **{"module.number": 2, "module.name": self.m2_doc["name"]["es"]})
        # Ana's retake: the next 09:00 in Mexico City; Luis's module 2: tomorrow 09:00 in Cancún.
        due = sorted([(next_local(ana_done, "America/Mexico_City", 9, 0), ana, unlocked_1),
                      (next_local(luis_done, "America/Cancun", 9, 1), luis, unlocked_2)])
        for when, chat, unlocked in due:
            count = len(self.texts(chat))
            advance_to(self.aula, when - 60_000)
            time.sleep(0.5)
            self.assertNotIn(unlocked, self.texts(chat), "opened before 09:00 local")
            self.assertEqual(len(self.texts(chat)), count)
            now = advance_to(self.aula, when + 60_000)
            wait_until(lambda: unlocked in self.texts(chat), what=f"the drip to {chat}")
            # It went when 09:00 local had passed, not before.
            self.assertTrue(when <= now < when + 120_000, (when, now))

        # Ana retakes module 1 and passes; module 2 opens the next day at 09:00.
        self.module1(ana, correct=True)
        self.answer_and_wait(ana, "9", self.m1_doc["nodes"]["fin"]["message"]["es"].split("{{")[0])
        ana_m1 = clock_now(self.aula)
        when = next_local(ana_m1, "America/Mexico_City", 9, 1)
        advance_to(self.aula, when + 60_000)
        wait_until(lambda: unlocked_2 in self.texts(ana), what="module 2 for Ana")
        self.answer_and_wait(ana, "1", self.m2["anio"])
        before = len(self.texts(ana))
        self.say(ana, "2")
        cert_head = course["certificate"]["text"]["es"].split("{{")[0]
        msgs = wait_until(lambda: (lambda t: t if any(x.startswith(cert_head) for x in t) else None)(
            self.texts(ana)[before:]), what="the certificate")
        done = fill(course["completion"]["message"]["es"], **{"course.name": name, "score.total": 6, "score.max": 6})
        self.assertIn(done, msgs)
        cert_msg = next(x for x in msgs if x.startswith(cert_head))
        self.assertIn("Ana", cert_msg)
        match = re.search(re.escape(self.aula.url) + r"/verify/([0-9A-Z]{18})", cert_msg)
        self.assertIsNotNone(match, cert_msg)
        code = match.group(1)

        # The certificate checks out; what it shows is what the constancia states, nothing else.
        status, page, _ = http("GET", self.aula.url + "/verify/" + code)
        self.assertEqual(status, 200)
        self.assertIn("Constancia válida", page)
        self.assertIn("Ana", page)
        self.assertIn(name, page)
        self.assertNotIn("7001", page)
        status, body, _ = http("GET", self.aula.url + "/verify/" + code.lower()[:6] + "-" + code.lower()[6:] +
                               "?format=json")
        self.assertEqual(status, 200)
        shown = json.loads(body)
        self.assertEqual(shown["valid"], True)
        self.assertEqual(shown["name"], "Ana")
        self.assertEqual(shown["score"], 100)
        self.assertEqual(shown["hours"], course["hours"])
        self.assertIn(shown["folio"], cert_msg)
        self.assertEqual(set(shown), {"valid", "folio", "course_name", "name", "hours", "score", "date"})
        # A wrong code — one character changed, or made up — is refused.
        wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
        for bad in (wrong, "00AAAAAAAAAAAAAAAA", "nope", "../../etc/passwd"):
            status, page, _ = http("GET", self.aula.url + "/verify/" + bad)
            self.assertEqual(status, 404, bad)
            self.assertNotIn("Constancia válida", page)

        # Progress as the result records tell it.
        recs = results(self.redis, f"telegram:{ana}")
        mods = [(r["flow"], r["status"]) for r in recs if r["type"] == "module" and r["status"] != "started"]
        self.assertEqual(mods, [("leccion-muestra", "review"), ("leccion-muestra", "completed"),
                                ("leccion-muestra-2", "completed")])
        self.assertEqual([r["status"] for r in recs if r["type"] == "course"], ["completed"])
        self.assertEqual([r["value"]["code"] for r in recs if r["type"] == "certificate"], [code])


class CourseNudgeOnWhatsApp(unittest.TestCase):
    """A learner who stalls is nudged after the course's `after`; outside WhatsApp's 24-hour
    window the nudge goes as the course's approved template."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-course-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        cls.ca = TestCA()
        cls.addClassCleanup(cls.ca.close)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mock = MockWhatsApp(ca=cls.ca)
        cls.addClassCleanup(cls.mock.close)
        env = {**cls.mock.env(), "AULA_CONFIG": write_test_config(cls.tmp), "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def test_stalled_learner_is_nudged_with_the_course_template(self):
        wa = "5215512340001"  # Mexico's old mobile form; aula writes to the folded +52 number
        to = "525512340001"
        course = course_doc()
        _, m1 = load_flow(os.path.join(ROOT, "flows"), "leccion-muestra")
        status, body, _ = self.aula.whatsapp(mw.notification(WA_PHONE_NUMBER_ID, [mw.text_message(wa, "curso")]))
        self.assertEqual(status, 200, body)
        wait_until(lambda: len(self.mock.sent(to)) >= 5, what="module 1")
        count = len(self.mock.sent(to))
        after_h = int(course["nudges"]["after"].rstrip("h"))
        http("POST", self.aula.url + "/admin/test/clock", {"advance": f"{after_h - 1}h"}, ADMIN)
        time.sleep(0.5)
        self.assertEqual(len(self.mock.sent(to)), count, "nudged too early")
        http("POST", self.aula.url + "/admin/test/clock", {"advance": "2h"}, ADMIN)
        # 48 h after the learner's last message the window is closed: the course's template.
        tpl = wait_until(lambda: [c for c in self.mock.sent(to)[count:] if c["type"] == "template"],
                         what="the nudge template")
        self.assertEqual(tpl[0]["body"]["template"]["name"], course["nudges"]["template"])
        self.assertEqual([c for c in self.mock.sent(to)[count:] if c["type"] != "template"], [])
        # The learner answers the template: the nudge and the waiting question follow.
        count = len(self.mock.sent(to))
        status, body, _ = self.aula.whatsapp(mw.notification(WA_PHONE_NUMBER_ID, [mw.text_message(wa, "Hola")]))
        self.assertEqual(status, 200, body)

        def body_of(c):
            b = c["body"]
            return b["text"]["body"] if b["type"] == "text" else b.get("interactive", {}).get("body", {}).get("text")
        texts = wait_until(lambda: (lambda t: t if any(x and x.startswith(m1["edad"]) for x in t) else None)(
            [body_of(c) for c in self.mock.sent(to)[count:]]), what="the question again")
        self.assertIn(text_of(course["nudges"]["text"]), texts)
        recs = results(self.redis, "whatsapp:+525512340001")
        self.assertEqual([r["node"] for r in recs if r["type"] == "nudge"], ["edad"])


class Publishing(unittest.TestCase):
    """Versions in Redis, all-or-nothing reloads, migration of waiting learners, pinned cohorts,
    instances following each other, draft previews."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-publish-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = os.path.join(cls.tmp, "flows")
        shutil.copytree(os.path.join(ROOT, "flows"), cls.flows, ignore=shutil.ignore_patterns("tests"))
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mock = MockTelegram()
        cls.addClassCleanup(cls.mock.close)
        env = {"AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, cls.mock.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.other = Aula(cls.redis.url, cls.mock.url, extra_env=env)
        cls.addClassCleanup(cls.other.close)
        cls.other.start()

    def texts(self, chat):
        return [c["body"]["text"] for c in self.mock.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def say(self, chat, text):
        status, body, _ = self.aula.telegram(tg_text(chat, text))
        self.assertEqual(status, 200, body)

    def lesson_file(self):
        return os.path.join(self.flows, "leccion-muestra.yaml")

    def reload_cli(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        env.update({"AULA_CONFIG": os.path.join(ROOT, "config", "aula.yaml"),
                    "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}"})
        return subprocess.run([AULA_BIN, "reload", "--url", self.aula.url], env=env, capture_output=True, text=True,
                              timeout=60)

    def test_reload_all_or_nothing_migration_and_pins(self):
        _, m1 = load_flow(self.flows, "leccion-muestra")
        status, versions = admin(self.aula, "GET", "/admin/versions")
        self.assertEqual(status, 200, versions)
        v1 = versions["current"]
        self.assertGreaterEqual(v1, 1)
        # Both instances started from the same folder: one version, not two.
        self.assertEqual(admin(self.other, "GET", "/admin/versions")[1]["current"], v1)

        # Two learners waiting at `jornada` of the lesson: one in the pilot cohort (pinned to
        # the current version), one not.
        status, body = admin(self.aula, "POST", "/admin/pins", {"cohort": "piloto", "version": v1})
        self.assertEqual(status, 200, body)
        for chat, cohort in ((8001, None), (8002, "piloto")):
            if cohort:
                admin(self.aula, "POST", "/admin/enroll", {"learner": f"telegram:{chat}", "course": "curso-muestra",
                                                          "cohort": cohort})
            else:
                self.say(chat, "leccion")
            wait_until(lambda: any(t.startswith(m1["edad"]) for t in self.texts(chat)), what=f"edad to {chat}")
            self.say(chat, "2")
            wait_until(lambda: any(t.startswith(m1["jornada"]) for t in self.texts(chat)), what=f"jornada to {chat}")

        # A broken flow file: nothing changes, the error names file:line:col.
        broken = os.path.join(self.flows, "leccion-muestra-2.yaml")
        with open(broken, encoding="utf-8") as f:
            good_text = f.read()
        with open(broken, "w", encoding="utf-8") as f:
            f.write(good_text.replace("next: anio", "next: anyo"))
        status, rep = admin(self.aula, "POST", "/admin/reload")
        self.assertEqual(status, 422, rep)
        self.assertFalse(rep["ok"])
        self.assertTrue(any(re.search(r"leccion-muestra-2\.yaml:\d+:\d+", e) and "anyo" in e for e in rep["errors"]),
                        rep["errors"])
        cli = self.reload_cli()
        self.assertEqual(cli.returncode, 1, cli.stdout + cli.stderr)
        self.assertIn("nothing changed", cli.stderr)
        self.assertEqual(admin(self.aula, "GET", "/admin/versions")[1]["current"], v1)
        with open(broken, "w", encoding="utf-8") as f:
            f.write(good_text)

        # A good new version: `jornada` is gone; learners there go where `migrate` says.
        with open(self.lesson_file(), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        del doc["nodes"]["jornada"]
        doc["nodes"]["edad"]["next"] = "peligroso"
        doc["migrate"] = {"jornada": "peligroso"}
        with open(self.lesson_file(), "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f, allow_unicode=True, sort_keys=False)
        count = len(self.texts(8001))
        cli = self.reload_cli()
        self.assertEqual(cli.returncode, 0, cli.stdout + cli.stderr)
        self.assertIn(f"published version {v1 + 1}", cli.stdout)
        self.assertIn("migrate=1", cli.stdout)
        self.assertIn("pinned=1", cli.stdout)
        # The unpinned learner is asked the question the map names, without writing anything.
        wait_until(lambda: any(t.startswith(m1["peligroso"]) for t in self.texts(8001)[count:]),
                   what="the migrated learner's new question")
        recs = results(self.redis, "telegram:8001")
        moved = [r for r in recs if r["type"] == "migrated"]
        self.assertEqual([(r["value"]["from"], r["value"]["to"], r["status"]) for r in moved],
                         [("jornada", "peligroso", "migrate")])
        # Every instance follows the new version.
        wait_until(lambda: admin(self.other, "GET", "/admin/versions")[1]["current"] == v1 + 1,
                   what="the other instance to follow")
        # The pinned learner stays on v1: `jornada` still answers there.
        count = len(self.texts(8002))
        self.say(8002, "1")
        wait_until(lambda: any(t.startswith(m1["peligroso"]) for t in self.texts(8002)[count:]), what="pinned next")
        jornada_ok = text_of(doc["nodes"]["peligroso"]["quiz"])  # unchanged question after jornada
        self.assertTrue(any(t.startswith(jornada_ok) for t in self.texts(8002)[count:]))
        pinned_recs = results(self.redis, "telegram:8002")
        self.assertIn("jornada", [r["node"] for r in pinned_recs if r["type"] == "quiz"])
        self.assertEqual([r for r in pinned_recs if r["type"] == "migrated"], [])

        # SIGHUP publishes too; the same content makes no new version.
        self.aula.proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        self.assertEqual(admin(self.aula, "GET", "/admin/versions")[1]["current"], v1 + 1)
        status, versions = admin(self.aula, "GET", "/admin/versions")
        self.assertEqual([v["version"] for v in versions["versions"]][:2], [v1 + 1, v1])
        self.assertEqual(versions["pins"], {"piloto": v1})

    def test_draft_preview_is_not_recorded(self):
        drafts = os.path.join(self.flows, "drafts")
        os.makedirs(drafts, exist_ok=True)
        with open(os.path.join(drafts, "borrador.yaml"), "w", encoding="utf-8") as f:
            f.write('spec: 1\nid: borrador\nname: "Borrador"\nstart: hola\nnodes:\n'
                    '  hola:\n    question: "¿Qué te pareció el borrador? ¡Escribe! 🙂"\n    type: text\n'
                    '    save_as: opinion\n    next: fin\n  fin:\n    end: completed\n    message: "Gracias"\n')
        status, body = admin(self.aula, "POST", "/admin/preview", {"flow": "borrador"})
        self.assertEqual(status, 200, body)
        learner = body["learner"]
        self.assertRegex(learner, r"^preview-[0-9a-f]{32}$")
        self.assertEqual(body["url"], "/chat#" + learner)

        def mailbox():
            status, text, _ = http("GET", f"{self.aula.url}/chat/api/poll?learner={learner}")
            return [m["msg"]["text"] for m in json.loads(text)["messages"]] if status == 200 else []
        wait_until(lambda: "¿Qué te pareció el borrador? ¡Escribe! 🙂" in mailbox(), what="the draft's question")
        status, _, _ = http("POST", self.aula.url + "/chat/api/send", {"learner": learner, "text": "Muy bien ñ"},
                            {"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        wait_until(lambda: "Gracias" in mailbox(), what="the draft's end")
        self.assertEqual(results(self.redis, "web:" + learner), [])
        # The draft is not published: a learner outside the preview cannot reach it.
        status, body = admin(self.aula, "POST", "/admin/preview", {"flow": "no-such-flow"})
        self.assertEqual(status, 422, body)
        status, body = admin(self.aula, "POST", "/admin/reload")
        self.assertEqual(status, 200, body)
        status, versions = admin(self.aula, "GET", "/admin/versions")
        self.assertEqual(status, 200)
        # Without an admin token, no preview and no reload.
        status, _, _ = http("POST", self.aula.url + "/admin/preview", {"flow": "borrador"},
                            {"Content-Type": "application/json"})
        self.assertEqual(status, 401)
        status, _, _ = http("POST", self.aula.url + "/admin/reload", {}, {"Content-Type": "application/json"})
        self.assertEqual(status, 401)


if __name__ == "__main__":
    unittest.main()
