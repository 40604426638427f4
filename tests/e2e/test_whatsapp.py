"""A learner on WhatsApp, end to end: aula serve with a real redis-server, the mock Graph API
over HTTPS (a test CA made with openssl, trusted through AULA_CA_FILE), Meta's webhooks signed
with the app secret. Expected texts come from the flow files, never from aula's output."""

import os
import shutil
import tempfile
import time
import unittest

from harness import (WA_APP_SECRET, WA_PHONE_NUMBER_ID, Aula, MockWhatsApp, Redis, TestCA, http, load_flow, results,
                     sent_messages, text_of, wait_until, write_flows, write_test_config)
import mock_whatsapp as mw  # noqa: E402 (tests/support, on the path once harness is imported)

PNID = WA_PHONE_NUMBER_ID


def fill(text, name):
    return text.replace("{{contact.name|colega}}", name)


def body_text(call):
    """What the learner reads first in a sent message: a text's body, an interactive body."""
    b = call["body"]
    if b["type"] == "text":
        return b["text"]["body"]
    if b["type"] == "interactive":
        return b["interactive"]["body"]["text"]
    return None


class WhatsAppEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Each process is stopped by a class cleanup, which also runs when setUpClass fails
        # half-way (after tearDownClass otherwise), so none outlives the suite.
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-wa-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"))
        cls.ca = TestCA()
        cls.addClassCleanup(cls.ca.close)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mock = MockWhatsApp(ca=cls.ca)
        cls.addClassCleanup(cls.mock.close)
        assert cls.mock.url.startswith("https://")
        env = {**cls.mock.env(), "AULA_CONFIG": write_test_config(cls.tmp), "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    # ------------------------------------------------------------------ helpers

    def post(self, wa_id, *messages, name=None):
        contacts = [mw.contact(wa_id, name)] if name else ()
        status, body, _ = self.aula.whatsapp(mw.notification(PNID, messages, contacts=contacts))
        self.assertEqual(status, 200, body)

    def say(self, wa_id, text, **kw):
        self.post(wa_id, mw.text_message(wa_id, text), **kw)

    def wait_sent(self, to, count, timeout=15):
        def enough():
            sent = self.mock.sent(to)
            return sent if len(sent) >= count else None
        return wait_until(enough, timeout=timeout, what=f"{count} messages to {to}")

    def assert_no_more(self, to, count, wait=1.0):
        time.sleep(wait)
        sent = self.mock.sent(to)
        self.assertEqual(len(sent), count, [(c["type"], body_text(c)) for c in sent[count:]])

    def assert_buttons(self, call, text, options):
        """An interactive message with reply buttons: the body, the titles (≤ 20 characters);
        returns the button ids."""
        self.assertEqual(call["type"], "interactive")
        inter = call["body"]["interactive"]
        self.assertEqual(inter["type"], "button")
        self.assertEqual(inter["body"]["text"], text)
        buttons = inter["action"]["buttons"]
        labels = [text_of(o["label"]) for o in options]
        titles = [b["reply"]["title"] for b in buttons]
        for title, label in zip(titles, labels):
            self.assertLessEqual(len(title), 20)
            if len(label) <= 20:
                self.assertEqual(title, label)
            else:
                self.assertTrue(title.endswith("…") and label.startswith(title[:-1].rstrip()), (title, label))
        self.assertEqual(len(titles), len(labels))
        ids = [b["reply"]["id"] for b in buttons]
        self.assertEqual(len(set(ids)), len(ids))
        return ids

    def assert_list(self, call, text, options):
        """An interactive list: the body, one row per option; returns the row ids."""
        self.assertEqual(call["type"], "interactive")
        inter = call["body"]["interactive"]
        self.assertEqual(inter["type"], "list")
        self.assertEqual(inter["body"]["text"], text)
        rows = [r for s in inter["action"]["sections"] for r in s["rows"]]
        self.assertEqual([r["title"] for r in rows], [text_of(o["label"]) for o in options])
        ids = [r["id"] for r in rows]
        self.assertEqual(len(set(ids)), len(ids))
        return ids

    def assert_all_accepted(self, to):
        bad = [(c["type"], c["status"]) for c in self.mock.calls(to) if c["status"] != 200]
        self.assertEqual(bad, [], "the mock rejected some of aula's calls")

    # ------------------------------------------------------------------ tests

    def test_1_verification_and_signatures(self):
        status, body, headers = self.aula.whatsapp_verify(challenge="1158201444")
        self.assertEqual((status, body), (200, "1158201444"))
        status, body, _ = self.aula.whatsapp_verify(token="wrong-token")
        self.assertEqual(status, 403)
        self.assertNotIn("1158201444", body)
        status, _, _ = self.aula.whatsapp_verify(mode="unsubscribe")
        self.assertEqual(status, 403)

        wa_id, to = "5215512340100", "525512340100"
        note = mw.notification(PNID, [mw.text_message(wa_id, "diagnostico")])
        self.assertEqual(self.aula.whatsapp(note, app_secret="not-the-app-secret")[0], 401)
        self.assertEqual(self.aula.whatsapp(note, signature=False)[0], 401)
        self.assertEqual(self.aula.whatsapp(note, signature="sha256=" + "0" * 64)[0], 401)
        self.assertEqual(self.aula.whatsapp(note, signature="sha1=abc")[0], 401)
        # Signed for another body: what Meta signed is not what arrived.
        other = mw.signed(WA_APP_SECRET, mw.notification(PNID, [mw.text_message(wa_id, "hola")]))[1]
        self.assertEqual(self.aula.whatsapp(note, signature=other["X-Hub-Signature-256"])[0], 401)
        time.sleep(0.5)
        self.assertEqual(self.mock.calls(to), [])
        self.assertIsNone(self.aula.session(self.redis, "whatsapp:+525512340100"))
        self.assertEqual(results(self.redis, "whatsapp:+525512340100"), [])
        # The same notification, rightly signed, is taken.
        self.assertEqual(self.aula.whatsapp(note)[0], 200)
        self.wait_sent(to, 2)

    def test_2_diagnosis_end_to_end(self):
        wa_id, to, conv = "5215512340001", "525512340001", "whatsapp:+525512340001"
        doc, es = load_flow(self.flows, "diagnostico")
        nodes = doc["nodes"]
        self.say(wa_id, "Diagnóstico", name="José")  # a trigger keyword (accent and case ignored)
        sent = self.wait_sent(to, 2)
        self.assertEqual(sent[0]["type"], "text")
        self.assertEqual(sent[0]["body"]["text"]["body"], fill(es["bienvenida"], "José"))
        # rol: 7 options → an interactive list; tapped.
        rows = self.assert_list(sent[1], es["rol"], nodes["rol"]["options"])
        self.post(wa_id, mw.list_reply(wa_id, rows[1], text_of(nodes["rol"]["options"][1]["label"])))
        sent = self.wait_sent(to, 3)
        self.assertEqual(sent[2]["type"], "text")
        self.assertEqual(body_text(sent[2]), es["institucion"])
        self.say(wa_id, "STPS Jalisco — ¿sí? ¡claro! 🎉")
        # estado: 32 options → numbered text; answered by the label.
        sent = self.wait_sent(to, 4)
        self.assertEqual(sent[3]["type"], "text")
        self.assertTrue(body_text(sent[3]).startswith(es["estado"]), body_text(sent[3]))
        self.assertIn("\n14. Jalisco", body_text(sent[3]))
        self.say(wa_id, "Jalisco")
        sent = self.wait_sent(to, 5)
        self.assertEqual(body_text(sent[4]), es["anios"])
        self.say(wa_id, "7")
        # capacitacion: 3 options → reply buttons; tapped.
        sent = self.wait_sent(to, 6)
        buttons = self.assert_buttons(sent[5], es["capacitacion"], nodes["capacitacion"]["options"])
        self.post(wa_id, mw.button_reply(wa_id, buttons[1], "Sí, hace tiempo"))
        sent = self.wait_sent(to, 8)
        self.assertEqual(body_text(sent[6]), es["intro-conocimiento"])
        count = 8
        for node in ["con-conceptos", "con-marco-legal", "con-deteccion", "con-inspeccion", "con-canalizacion",
                     "con-peligroso"]:
            sent = self.wait_sent(to, count)
            self.assertEqual(sent[-1]["type"], "text")  # a scale: its numbers in the text
            self.assertTrue(body_text(sent[-1]).startswith(es[node]), body_text(sent[-1]))
            self.say(wa_id, "4")
            count += 1
        # temas: a multiple choice → numbered text, typed numbers.
        sent = self.wait_sent(to, count)
        self.assertEqual(sent[-1]["type"], "text")
        self.assertTrue(body_text(sent[-1]).startswith(es["temas"]), body_text(sent[-1]))
        self.say(wa_id, "1, 4 y 7")
        count += 1
        # horario: 4 options → a list; answered by typing its number.
        sent = self.wait_sent(to, count)
        self.assert_list(sent[-1], es["horario"], nodes["horario"]["options"])
        self.say(wa_id, "3")
        count += 1
        sent = self.wait_sent(to, count)
        self.assertEqual(body_text(sent[-1]), es["necesidades"])
        self.say(wa_id, "Canalizar casos en el campo 🌽")
        count += 1
        sent = self.wait_sent(to, count)
        self.assertEqual(body_text(sent[-1]), fill(text_of(nodes["fin"]["message"]), "José"))
        self.assert_no_more(to, count, wait=0.5)
        self.assert_all_accepted(to)

        # The answers, in the session in Redis.
        session = wait_until(lambda: (s := self.aula.session(self.redis, conv)) and "run" not in s and s,
                             what="the finished session")
        answers = {k: v["v"] for k, v in session["answers"].items()}
        opt = lambda node, i: nodes[node]["options"][i]["id"]  # noqa: E731
        self.assertEqual(answers["rol"], opt("rol", 1))
        self.assertEqual(answers["institucion"], "STPS Jalisco — ¿sí? ¡claro! 🎉")
        self.assertEqual(answers["estado"], [o["id"] for o in nodes["estado"]["options"]
                                             if text_of(o["label"]) == "Jalisco"][0])
        self.assertEqual(float(answers["anios_funcion"]), 7)
        self.assertEqual(answers["capacitacion_previa"], opt("capacitacion", 1))
        for node in ["con-conceptos", "con-marco-legal", "con-deteccion", "con-inspeccion", "con-canalizacion",
                     "con-peligroso"]:
            self.assertEqual(answers[nodes[node]["save_as"]], 4, node)
        self.assertEqual(answers["temas_prioritarios"], [opt("temas", 0), opt("temas", 3), opt("temas", 6)])
        self.assertEqual(answers["horario"], opt("horario", 2))
        self.assertEqual(answers["necesidades"], "Canalizar casos en el campo 🌽")
        self.assertEqual(session["contact"]["name"], "José")
        ends = results(self.redis, conv, "end")
        self.assertEqual([e["status"] for e in ends], ["completed"])

    def test_3_sample_lesson_with_quizzes(self):
        wa_id, to, conv = "5215512340002", "525512340002", "whatsapp:+525512340002"
        doc, es = load_flow(self.flows, "leccion-muestra")
        nodes = doc["nodes"]
        self.say(wa_id, "LECCIÓN", name="Ana")
        sent = self.wait_sent(to, 4)
        self.assertEqual([body_text(c) for c in sent[:3]],
                         [fill(es["bienvenida"], "Ana"), es["leccion-1"], es["leccion-2"]])
        # edad: tapped right.
        ids = self.assert_buttons(sent[3], es["edad"], nodes["edad"]["options"])
        right = [i for i, o in enumerate(nodes["edad"]["options"]) if o.get("correct")][0]
        self.post(wa_id, mw.button_reply(wa_id, ids[right]))
        sent = self.wait_sent(to, 6)
        self.assertEqual(body_text(sent[4]), text_of(nodes["edad"]["feedback"]["correct"]))
        # jornada: typed wrong (a retry: the feedback and the buttons again), then tapped right.
        jornada = nodes["jornada"]
        ids = self.assert_buttons(sent[5], es["jornada"], jornada["options"])
        self.say(wa_id, text_of(jornada["options"][1]["label"]))
        sent = self.wait_sent(to, 7)
        again = self.assert_buttons(sent[6], text_of(jornada["feedback"]["retry"]) + "\n\n" + es["jornada"],
                                    jornada["options"])
        self.assertEqual(again, ids)
        self.post(wa_id, mw.button_reply(wa_id, ids[0]))
        sent = self.wait_sent(to, 9)
        self.assertEqual(body_text(sent[7]), text_of(jornada["feedback"]["correct"]))
        # peligroso: two buttons; typed "no".
        self.assert_buttons(sent[8], es["peligroso"], nodes["peligroso"]["options"])
        self.say(wa_id, "no")
        sent = self.wait_sent(to, 11)
        self.assertEqual(body_text(sent[9]), text_of(nodes["peligroso"]["feedback"]["correct"]))
        self.assertEqual(sent[10]["type"], "text")  # NPS 0–10: numbers in the text
        self.assertTrue(body_text(sent[10]).startswith(es["recomendacion"]))
        self.say(wa_id, "9")
        sent = self.wait_sent(to, 12)
        points = sum(n.get("points", 1) for n in nodes.values() if "quiz" in n)
        end = fill(text_of(nodes["fin"]["message"]), "Ana").replace("{{score.total}}", str(points)) \
            .replace("{{score.max}}", str(points))
        self.assertEqual(body_text(sent[11]), end)
        self.assert_no_more(to, 12, wait=0.5)
        self.assert_all_accepted(to)
        quiz = [(r["node"], r["correct"]) for r in results(self.redis, conv, "quiz")]
        self.assertEqual(quiz, [("edad", True), ("jornada", False), ("jornada", True), ("peligroso", True)])
        ends = results(self.redis, conv, "end")
        self.assertEqual([(e["status"], e["points"]) for e in ends], [("completed", points)])
        answers = {k: v["v"] for k, v in self.aula.session(self.redis, conv)["answers"].items()}
        self.assertEqual(answers["jornada_maxima"], jornada["options"][0]["id"])
        self.assertEqual(answers["nps_leccion"], 9)

    def test_4_window_template_once_then_held_messages_in_order(self):
        wa_id, to, conv = "5215512340003", "525512340003", "whatsapp:+525512340003"
        doc, es = load_flow(self.flows, "recordatorios")
        q = doc["nodes"]["pregunta"]
        self.say(wa_id, "recordatorios")
        sent = self.wait_sent(to, 1)
        self.assert_buttons(sent[0], es["pregunta"], q["options"])
        # A day and an hour later the reminder falls due: outside the window, the template goes
        # instead, once.
        for _ in range(3):  # reminder 1, reminder 2, then the timeout's closing message
            status, body, _ = self.aula.advance_clock("25h")
            self.assertEqual(status, 200, body)
            wait_until(lambda: [c for c in self.mock.sent(to) if c["type"] == "template"], what="the template")
            time.sleep(0.7)
        sent = self.mock.sent(to)
        self.assertEqual([c["type"] for c in sent], ["interactive", "template"],
                         [(c["type"], body_text(c)) for c in sent])
        tpl = sent[1]["body"]["template"]
        self.assertEqual(tpl["name"], "aula_continuar")
        self.assertEqual(tpl["language"]["code"], "es_MX")
        self.assertEqual([c["type"] for c in self.mock.calls(to)], ["interactive", "template"])
        self.assertEqual(len(results(self.redis, conv, "reengagement")), 1)
        # The learner taps the template's quick reply: what was held goes, in order.
        self.post(wa_id, mw.template_reply(wa_id))
        remind = text_of(q["timeout"]["remind"])
        sent = self.wait_sent(to, 5)
        self.assertEqual([c["type"] for c in sent], ["interactive", "template", "interactive", "interactive", "text"])
        self.assertEqual(body_text(sent[2]), remind + "\n\n" + es["pregunta"])
        self.assertEqual(body_text(sent[3]), remind + "\n\n" + es["pregunta"])
        self.assertEqual(body_text(sent[4]), es["sin-respuesta"])
        self.assert_no_more(to, 5)
        self.assertEqual(len([c for c in self.mock.calls(to) if c["type"] == "template"]), 1)
        self.assert_all_accepted(to)

    def test_5_window_closed_by_meta_sends_the_template_instead_of_retrying(self):
        wa_id, to = "5215512340004", "525512340004"
        _, es = load_flow(self.flows, "leccion-muestra")
        # Meta says the window is closed (131047) for the first free-text message.
        self.mock.fail(to=to, type="text", code=131047, times=1)
        self.say(wa_id, "leccion", name="Ana")
        wait_until(lambda: [c for c in self.mock.sent(to) if c["type"] == "template"], what="the template")
        time.sleep(2.5)  # the held text must wait for the learner, not be retried meanwhile
        calls = self.mock.calls(to)
        self.assertEqual([(c["type"], c["status"]) for c in calls], [("text", 400), ("template", 200)],
                         [(c["type"], c["status"], body_text(c)) for c in calls])
        self.assertEqual(calls[1]["body"]["template"]["name"], "aula_continuar")
        # The learner taps "Continuar": the lesson goes, from its first message.
        self.post(wa_id, mw.template_reply(wa_id))
        sent = self.wait_sent(to, 5)
        self.assertEqual([body_text(c) for c in sent[1:4]],
                         [fill(es["bienvenida"], "Ana"), es["leccion-1"], es["leccion-2"]])
        self.assertEqual(body_text(sent[4]), es["edad"])
        self.assertEqual(len([c for c in self.mock.calls(to) if c["type"] == "template"]), 1)

    def test_6_delivery_statuses_reach_the_result_records(self):
        wa_id, to, conv = "5215512340005", "525512340005", "whatsapp:+525512340005"
        self.say(wa_id, "leccion")
        sent = self.wait_sent(to, 4)
        first, second = sent[0]["id"], sent[1]["id"]
        self.assertTrue(first.startswith("wamid."))
        statuses = [mw.status(first, "sent", wa_id), mw.status(first, "delivered", wa_id),
                    mw.status(first, "read", wa_id), mw.status(second, "failed", wa_id, error_code=131026)]
        status, body, _ = self.aula.whatsapp(mw.notification(PNID, statuses=statuses))
        self.assertEqual(status, 200, body)
        # A status Meta delivers again is the same record (same id: the record store keeps it once).
        self.assertEqual(self.aula.whatsapp(mw.notification(PNID, statuses=statuses[1:2]))[0], 200)

        def delivery():
            recs = {r["id"]: r for r in results(self.redis, conv, "delivery")}
            return list(recs.values()) if len(recs) >= 4 else None
        recs = wait_until(delivery, what="delivery records")
        time.sleep(0.3)
        recs = list({r["id"]: r for r in results(self.redis, conv, "delivery")}.values())
        got = sorted((r["external_id"], r["status"]) for r in recs)
        self.assertEqual(got, sorted([(first, "sent"), (first, "delivered"), (first, "read"), (second, "failed")]))
        failed = [r for r in recs if r["status"] == "failed"][0]
        self.assertIn("131026", failed["error"])
        self.assertNotIn("error", [k for r in recs if r["status"] != "failed" for k in r])
        self.assertEqual({r["channel"] for r in recs}, {"whatsapp"})
        # The sent records name the same wamids.
        sent_ids = [m["external_id"] for m in sent_messages(results(self.redis, conv, "sent"))]
        self.assertIn(first, sent_ids)
        self.assertIn(second, sent_ids)
        # Nothing was sent because of a status.
        self.assert_no_more(to, 4, wait=0.5)

    def test_7_same_webhook_twice_gives_one_reply(self):
        wa_id, to, conv = "5215512340006", "525512340006", "whatsapp:+525512340006"
        self.say(wa_id, "leccion")
        sent = self.wait_sent(to, 4)
        ids = sent[3]["body"]["interactive"]["action"]["buttons"]
        tap = mw.button_reply(wa_id, ids[1]["reply"]["id"])  # 15 años: right
        self.post(wa_id, tap)
        self.post(wa_id, tap)  # Meta redelivers: the same wamid
        self.wait_sent(to, 6)
        self.assert_no_more(to, 6)
        self.assertEqual(len(results(self.redis, conv, "quiz")), 1)
        # Also when it comes again after another message.
        text = mw.text_message(wa_id, "hola")
        self.post(wa_id, text)
        self.wait_sent(to, 7)
        self.post(wa_id, text)
        self.assert_no_more(to, 7)

    def test_8_bad_requests(self):
        status, _, _ = http("POST", self.aula.url + "/webhooks/whatsapp", b"{not json",
                            {"Content-Type": "application/json",
                             "X-Hub-Signature-256": mw.sign(WA_APP_SECRET, b"{not json")})
        self.assertEqual(status, 400)
        # Another business number's notification: acknowledged, ignored.
        note = mw.notification("999999999", [mw.text_message("5215512340007", "leccion")])
        self.assertEqual(self.aula.whatsapp(note)[0], 200)
        time.sleep(0.5)
        self.assertEqual(self.mock.calls("525512340007"), [])


if __name__ == "__main__":
    unittest.main()
