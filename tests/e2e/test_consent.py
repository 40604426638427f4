"""The privacy notice and the consent question before a learner's first flow, on every channel
(Telegram, WhatsApp, SMS through Twilio, web chat), end to end: aula serve with
privacy.consent on, a real redis-server and record store, the providers' mocks. Accepting
starts what the learner asked for and records the decision (notice version, time, channel);
refusing keeps nothing of the learner but the refusal. Expected lesson texts come from the flow
files; the notice's from config/aviso-de-privacidad.*.md."""

import json
import os
import re
import shutil
import tempfile
import time
import unittest

from harness import (ROOT, TW_FROM, TW_SID, WA_PHONE_NUMBER_ID, Aula, MockTelegram, MockTwilio, MockWhatsApp, Redis,
                     WebLearner, admin, http, load_flow, results, tg_tap, tg_text, wait_until, write_flows,
                     write_test_config)
import mock_twilio  # noqa: E402 (tests/support, on the path once harness is imported)
import mock_whatsapp as mw  # noqa: E402

NOTICE_VERSION = "2026-11"  # config/aula.yaml's privacy.notice_version, kept by write_test_config
# Records about messages aula sent (not about what the learner said): allowed after a refusal.
DELIVERY_TYPES = {"sent", "delivery", "dead_letter", "reengagement"}
# What a refused learner's session may hold: format and version, language, the decision, the
# last time they wrote (the channel's window), an opt-out, whether the question is out again,
# and the flood limit's count of their messages this minute (no content).
REFUSED_SESSION_KEYS = {"v", "ver", "lang", "consent", "li", "out", "cq", "flood"}  # cq: asked again; flood: a count


def notice_lines(lang):
    with open(os.path.join(ROOT, "config", "aviso-de-privacidad.%s.md" % lang), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


class ConsentOnEveryChannel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-consent-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tg = MockTelegram()
        cls.addClassCleanup(cls.tg.close)
        cls.wa = MockWhatsApp()
        cls.addClassCleanup(cls.wa.close)
        cls.tw = MockTwilio()
        cls.addClassCleanup(cls.tw.close)
        env = {**cls.wa.env(), **cls.tw.env(), "AULA_CONFIG": write_test_config(cls.tmp, consent=True),
               "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, cls.tg.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.notice_url = cls.aula.url + "/privacidad"
        cls.diag, cls.diag_es = load_flow(cls.flows, "diagnostico")
        cls.lesson, cls.lesson_es = load_flow(cls.flows, "leccion-muestra")

    # ------------------------------------------------------------------ helpers

    def consent_records(self, conv):
        return [r for r in results(self.redis, conv, "consent")]

    def wait_consent(self, conv, decision, count=1):
        def found():
            recs = [r for r in self.consent_records(conv) if r.get("status") == decision]
            return recs if len(recs) >= count else None
        recs = wait_until(found, timeout=15, what=f"{conv}: consent {decision}")
        r = recs[-1]
        channel = conv.split(":")[0]
        self.assertEqual(r["value"]["decision"], decision, r)
        self.assertEqual(r["value"]["notice_version"], NOTICE_VERSION, r)
        self.assertEqual(r["value"]["channel"], channel, r)
        self.assertEqual(r["channel"], channel, r)
        now_ms = json.loads(self.aula.advance_clock("0s")[1])["now_ms"]
        self.assertTrue(0 < r["value"]["at"] <= now_ms and now_ms - r["value"]["at"] < 120_000, (r, now_ms))
        return r

    def assert_only_refusal(self, conv, refusals=1, staff_types=()):
        """Nothing of the learner is kept but the refusal: no other result record (in Redis or
        the record store), and a session with the decision only. `staff_types`: records staff
        made about the learner (an import's "profile")."""
        time.sleep(1.2)  # what a step would have recorded is committed with it; let the drain run too
        recs = [r for r in results(self.redis, conv) if r["type"] not in DELIVERY_TYPES | set(staff_types)]
        self.assertEqual([(r["type"], r.get("status")) for r in recs], [("consent", "refused")] * refusals, recs)
        s = self.aula.session(self.redis, conv)
        self.assertIsNotNone(s)
        self.assertLessEqual(set(s), REFUSED_SESSION_KEYS, s)
        self.assertEqual(s["consent"]["d"], "refused", s)
        self.assertEqual(s["consent"]["ver"], NOTICE_VERSION, s)
        for key in ("contact", "answers", "run", "courses", "queue", "cp"):
            self.assertNotIn(key, s)

    def tg_messages(self, chat, count):
        def enough():
            mine = [c for c in self.tg.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]
            return mine if len(mine) >= count else None
        return wait_until(enough, timeout=15, what=f"{count} messages to {chat}")

    def tg_send(self, update):
        status, body, _ = self.aula.telegram(update)
        self.assertEqual(status, 200, body)

    def assert_tg_question(self, msg, url):
        self.assertIn(url, msg["body"]["text"])
        keyboard = msg["body"]["reply_markup"]["inline_keyboard"]
        buttons = [b for row in keyboard for b in row]
        self.assertEqual([b["callback_data"] for b in buttons], ["consent.yes", "consent.no"])
        return buttons

    # ------------------------------------------------------------------ the notice

    def test_0_notice_is_served_in_spanish_and_english(self):
        status, body, headers = http("GET", self.notice_url)
        self.assertEqual(status, 200)
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        self.assertEqual(ctype, "text/html; charset=utf-8")
        page = body if isinstance(body, str) else body.decode("utf-8")
        # Every heading of the file, escaped text, UTF-8 intact (á, ñ, ¿).
        headings = [l.lstrip("#").strip() for l in notice_lines("es") if l.startswith("#")]
        self.assertGreater(len(headings), 5)
        for h in headings:
            self.assertIn(h.replace("&", "&amp;"), page)
        for ch in ("á", "ñ", "¿"):
            self.assertIn(ch, page)
        for law in ("Ley General de Protección de Datos Personales en Posesión de Sujetos Obligados",
                    "Ley Federal de Protección de Datos Personales en Posesión de los Particulares"):
            self.assertIn(law, page)
        self.assertIn(NOTICE_VERSION, page)
        self.assertNotIn("<script", page.lower())
        status, body, _ = http("GET", self.notice_url + "?lang=en")
        self.assertEqual(status, 200)
        page_en = body if isinstance(body, str) else body.decode("utf-8")
        for h in [l.lstrip("#").strip() for l in notice_lines("en") if l.startswith("#")]:
            self.assertIn(h, page_en)
        self.assertIn('lang=en', page_en[:200])

    # ------------------------------------------------------------------ Telegram

    def test_1_telegram_deep_link_waits_for_acepto(self):
        chat, conv = 9101, "telegram:9101"
        self.tg_send(tg_text(chat, "/start diagnostico", first_name="José"))
        msgs = self.tg_messages(chat, 1)
        buttons = self.assert_tg_question(msgs[0], self.notice_url)
        self.assertEqual([b["text"] for b in buttons], ["Acepto", "No acepto"])
        time.sleep(0.5)
        self.assertEqual(len(self.tg_messages(chat, 1)), 1)  # the diagnosis waits
        self.assertEqual(self.consent_records(conv), [])
        self.tg_send(tg_tap(chat, "consent.yes", first_name="José"))
        msgs = self.tg_messages(chat, 4)
        # The thanks, then the diagnosis the deep link asked for.
        self.assertEqual(msgs[2]["body"]["text"], self.diag_es["bienvenida"].replace("{{contact.name|colega}}", "José")
                         .replace("{{contact.name}}", "José"))
        self.assertTrue(msgs[3]["body"]["text"].startswith(self.diag_es["rol"]), msgs[3])
        self.wait_consent(conv, "accepted")
        view = self.aula.learner(conv)
        self.assertEqual(view["consent"]["decision"], "accepted", view)
        self.assertEqual(view["consent"]["notice_version"], NOTICE_VERSION)
        self.assertEqual(view["consent"]["channel"], "telegram")

    def test_2_telegram_refusal_keeps_nothing_and_asks_again_later(self):
        chat, conv = 9102, "telegram:9102"
        self.tg_send(tg_text(chat, "leccion", first_name="Rosa"))
        self.assert_tg_question(self.tg_messages(chat, 1)[0], self.notice_url)
        self.tg_send(tg_tap(chat, "consent.no", first_name="Rosa"))
        msgs = self.tg_messages(chat, 2)
        self.assertNotIn("inline_keyboard", json.dumps(msgs[1]["body"]))
        self.wait_consent(conv, "refused")
        self.assert_only_refusal(conv)
        # A later message offers the question again; still nothing kept.
        self.tg_send(tg_text(chat, "Hola, ¿me explicas?", first_name="Rosa"))
        self.assert_tg_question(self.tg_messages(chat, 3)[2], self.notice_url)
        self.assert_only_refusal(conv)
        # BAJA at the question works as anywhere.
        self.tg_send(tg_text(chat, "BAJA", first_name="Rosa"))
        msgs = self.tg_messages(chat, 4)
        self.assertNotIn("inline_keyboard", json.dumps(msgs[3]["body"]))
        wait_until(lambda: (self.aula.session(self.redis, conv) or {}).get("out"), what="opted out")
        self.assert_only_refusal(conv)

    def test_3_telegram_english_learner(self):
        chat, conv = 9103, "telegram:9103"
        self.tg_send(tg_text(chat, "lesson", first_name="Kim", language_code="en"))
        buttons = self.assert_tg_question(self.tg_messages(chat, 1)[0], self.notice_url + "?lang=en")
        self.assertEqual([b["text"] for b in buttons], ["I agree", "I do not agree"])
        self.tg_send(tg_text(chat, "I agree", first_name="Kim", language_code="en"))
        self.wait_consent(conv, "accepted")
        _, en = load_flow(self.flows, "leccion-muestra", lang="en")
        msgs = self.tg_messages(chat, 3)
        self.assertEqual(msgs[2]["body"]["text"], en["bienvenida"].replace("{{contact.name|colleague}}", "Kim").replace("{{contact.name|colega}}", "Kim"))

    # ------------------------------------------------------------------ WhatsApp

    def wa_post(self, wa_id, message, name=None):
        contacts = [mw.contact(wa_id, name)] if name else ()
        status, body, _ = self.aula.whatsapp(mw.notification(WA_PHONE_NUMBER_ID, [message], contacts=contacts))
        self.assertEqual(status, 200, body)

    def wa_sent(self, to, count):
        def enough():
            sent = self.wa.sent(to)
            return sent if len(sent) >= count else None
        return wait_until(enough, timeout=15, what=f"{count} WhatsApp messages to {to}")

    def assert_wa_question(self, call, url):
        self.assertEqual(call["type"], "interactive", call)
        inter = call["body"]["interactive"]
        self.assertEqual(inter["type"], "button")
        self.assertIn(url, inter["body"]["text"])
        buttons = [b["reply"] for b in inter["action"]["buttons"]]
        self.assertEqual([b["id"] for b in buttons], ["consent.yes", "consent.no"])
        self.assertEqual([b["title"] for b in buttons], ["Acepto", "No acepto"])

    def test_4_whatsapp_accept_with_the_button(self):
        # Mexico's 521… and 52… are one learner: aula writes to 52… and keys the session by +52….
        wa_id, to, conv = "5215512340101", "525512340101", "whatsapp:+525512340101"
        self.wa_post(wa_id, mw.text_message(wa_id, "diagnostico"), name="Luz")
        self.assert_wa_question(self.wa_sent(to, 1)[0], self.notice_url)
        self.wa_post(wa_id, mw.button_reply(wa_id, "consent.yes", "Acepto"), name="Luz")
        sent = self.wa_sent(to, 4)
        self.assertEqual(sent[2]["body"]["text"]["body"],
                         self.diag_es["bienvenida"].replace("{{contact.name|colega}}", "Luz")
                         .replace("{{contact.name}}", "Luz"))
        self.wait_consent(conv, "accepted")

    def test_5_whatsapp_refusal_typed(self):
        wa_id, to, conv = "5215512340102", "525512340102", "whatsapp:+525512340102"
        self.wa_post(wa_id, mw.text_message(wa_id, "Hola"), name="Mar")
        self.assert_wa_question(self.wa_sent(to, 1)[0], self.notice_url)
        self.wa_post(wa_id, mw.text_message(wa_id, "no acepto"), name="Mar")
        self.wa_sent(to, 2)
        self.wait_consent(conv, "refused")
        self.assert_only_refusal(conv)

    # ------------------------------------------------------------------ SMS (Twilio)

    def sms_say(self, number, body):
        status, text, _ = self.aula.twilio(mock_twilio.inbound_params(TW_SID, number, TW_FROM, body))
        self.assertEqual(status, 200, text)

    def sms_sent(self, number, count):
        def enough():
            sent = self.tw.sent(number)
            return sent if len(sent) >= count else None
        return wait_until(enough, timeout=15, what=f"{count} SMS to {number}")

    def assert_sms_question(self, body, url):
        self.assertIn(url, body)
        self.assertRegex(body, re.compile(r"^1\. Acepto$", re.M))
        self.assertRegex(body, re.compile(r"^2\. No acepto$", re.M))

    def test_6_sms_numbered_menu_1_accepts(self):
        number, conv = "+525511120001", "sms:+525511120001"
        self.sms_say(number, "Lección")
        self.assert_sms_question(self.sms_sent(number, 1)[0]["body"], self.notice_url)
        self.sms_say(number, "1")
        sent = self.sms_sent(number, 3)
        self.assertEqual(sent[2]["body"], self.lesson_es["bienvenida"].replace("{{contact.name|colega}}", "colega"))
        self.wait_consent(conv, "accepted")

    def test_7_sms_2_refuses_then_alta_and_1_accepts(self):
        number, conv = "+525511120002", "sms:+525511120002"
        self.sms_say(number, "Lección")
        self.assert_sms_question(self.sms_sent(number, 1)[0]["body"], self.notice_url)
        self.sms_say(number, "2")
        self.sms_sent(number, 2)
        self.wait_consent(conv, "refused")
        self.assert_only_refusal(conv)
        # Changing one's mind: ALTA asks again; 1 accepts; the menu follows (nothing waited).
        self.sms_say(number, "ALTA")
        self.assert_sms_question(self.sms_sent(number, 3)[2]["body"], self.notice_url)
        self.sms_say(number, "1")
        self.sms_sent(number, 5)
        self.wait_consent(conv, "accepted")
        statuses = [r["status"] for r in self.consent_records(conv)]
        self.assertEqual(statuses, ["refused", "accepted"])

    # ------------------------------------------------------------------ web chat

    def test_8_web_chat_accept_and_refuse(self):
        ana = WebLearner(self.aula, "c0de0001" * 4)
        ana.send({"start": "diagnostico"})
        msg = ana.asked(self.notice_url)
        self.assertEqual([c["label"] for c in msg["choices"]], ["Acepto", "No acepto"])
        ana.tap(self.notice_url, "Acepto")
        ana.asked(self.diag_es["rol"])
        self.wait_consent(ana.conv, "accepted")

        eva = WebLearner(self.aula, "c0de0002" * 4)
        eva.send({"start": "diagnostico", "name": "Eva"})
        eva.tap(self.notice_url, "No acepto")
        wait_until(lambda: len(eva.poll()) >= 2, what="the refusal's confirmation")
        self.wait_consent(eva.conv, "refused")
        self.assert_only_refusal(eva.conv)

    # ------------------------------------------------------------------ enrolled by staff

    def test_9_enrolled_learner_still_consents_and_refusal_skips_broadcasts(self):
        csv = "nombre,canal,telefono,estado\nAna Núñez,telegram,9201,Jalisco\nBeto Ruiz,telegram,9202,Jalisco\n"
        status, body = admin(self.aula, "POST", "/admin/learners/import",
                             {"cohort": "consent-piloto", "course": "curso-muestra", "csv": csv})
        self.assertEqual(status, 200, body)
        # Enrolment sends the question, not the first module.
        for chat in (9201, 9202):
            self.assert_tg_question(self.tg_messages(chat, 1)[0], self.notice_url)
        time.sleep(0.5)
        self.assertEqual(len(self.tg_messages(9201, 1)), 1)
        self.tg_send(tg_tap(9201, "consent.yes"))
        self.tg_send(tg_tap(9202, "consent.no"))
        self.wait_consent("telegram:9201", "accepted")
        self.wait_consent("telegram:9202", "refused")
        self.assert_only_refusal("telegram:9202", staff_types=("profile",))
        # The accepted learner's course opened; the directory view shows their decision.
        self.assertGreaterEqual(len(self.tg_messages(9201, 3)), 3)
        s = self.aula.session(self.redis, "telegram:9201")
        self.assertEqual([c["id"] for c in s.get("courses", [])], ["curso-muestra"], s)
        view = self.aula.learner("telegram:9201")
        self.assertIn("accepted", view["record"]["consent"])
        self.assertIn(NOTICE_VERSION, view["record"]["consent"])
        self.assertIn("telegram", view["record"]["consent"])
        view = self.aula.learner("telegram:9202")
        self.assertIn("refused", view["record"]["consent"])
        # A broadcast to the cohort skips the learner who refused, with the reason.
        status, body = admin(self.aula, "POST", "/admin/broadcasts",
                             {"cohort": "consent-piloto", "text": "Aviso del grupo", "dry_run": True})
        self.assertIn(status, (200, 201), body)
        skipped = {s["learner"]: s["why"] for s in body.get("skipped", [])}
        self.assertEqual(skipped.get("telegram:9202"), "no_consent", body)
        self.assertNotIn("telegram:9201", skipped)


if __name__ == "__main__":
    unittest.main()
