"""A learner on SMS through Twilio, end to end: aula serve with a real redis-server, the mock
Twilio REST API over real HTTP, webhooks signed as Twilio signs them (over AULA_PUBLIC_URL +
path and the sorted form fields). Expected texts come from the flow files, never from aula's
output."""

import os
import shutil
import tempfile
import time
import unittest

from harness import (SMS_HINT, TW_FROM, TW_SID, TW_TOKEN, Aula, MockTwilio, Redis, header, load_flow, results,
                     sent_messages, text_of, wait_until, write_flows, write_test_config)
import mock_twilio  # noqa: E402 (tests/support, on the path once harness is imported)

STOPPED = "Listo: ya no recibirás mensajes. Si quieres volver, escribe ALTA."  # the engine's built-in texts
RESTARTED = "¡Qué bueno que vuelves! Escribe MENU para ver las actividades."


def menu(question, labels):
    """A question as SMS shows it: numbered options, then the hint line."""
    return question + "\n" + "\n".join(f"{i}. {label}" for i, label in enumerate(labels, 1)) + "\n" + SMS_HINT


class SmsEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Each process is stopped by a class cleanup, which also runs when setUpClass fails
        # half-way (after tearDownClass otherwise), so none outlives the suite.
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-sms-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"))
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mock = MockTwilio()
        cls.addClassCleanup(cls.mock.close)
        env = {**cls.mock.env(), "AULA_CONFIG": write_test_config(cls.tmp), "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    # ------------------------------------------------------------------ helpers

    def inbound(self, number, body, sid=None):
        return mock_twilio.inbound_params(TW_SID, number, TW_FROM, body, message_sid=sid)

    def say(self, number, body, sid=None):
        status, text, headers = self.aula.twilio(self.inbound(number, body, sid))
        self.assertEqual(status, 200, text)
        return text, headers

    def wait_sent(self, number, count, timeout=15):
        def enough():
            sent = self.mock.sent(number)
            return sent if len(sent) >= count else None
        return wait_until(enough, timeout=timeout, what=f"{count} messages to {number}")

    def assert_no_more(self, number, count, wait=1.0):
        time.sleep(wait)
        calls = self.mock.calls(number)
        self.assertEqual(len(calls), count, [(c["status"], c["body"]) for c in calls[count:]])

    # ------------------------------------------------------------------ tests

    def test_1_signatures(self):
        number = "+525511110100"
        params = self.inbound(number, "leccion")
        good = mock_twilio.sign(TW_TOKEN, self.aula.url + "/webhooks/twilio", params)
        # Missing, wrong, made with another token, over another URL or other fields: 401.
        self.assertEqual(self.aula.twilio(params, signature=False)[0], 401)
        self.assertEqual(self.aula.twilio(params, signature="bm90IGEgc2lnbmF0dXJl")[0], 401)
        self.assertEqual(self.aula.twilio(params, auth_token="another-auth-token")[0], 401)
        self.assertEqual(self.aula.twilio(params, signature=mock_twilio.sign(
            TW_TOKEN, "https://example.org/webhooks/twilio", params))[0], 401)
        self.assertEqual(self.aula.twilio(params, signature=mock_twilio.sign(
            TW_TOKEN, self.aula.url + "/webhooks/twilio/status", params))[0], 401)
        self.assertEqual(self.aula.twilio({**params, "Body": "diagnostico"}, signature=good)[0], 401)
        self.assertEqual(self.aula.twilio(params, path="/webhooks/twilio/status", signature=good)[0], 401)
        time.sleep(0.5)
        self.assertEqual(self.mock.calls(number), [])
        self.assertIsNone(self.aula.session(self.redis, "sms:" + number))
        # The right signature: taken, and answered with an empty TwiML document.
        status, body, headers = self.aula.twilio(params, signature=good)
        self.assertEqual(status, 200, body)
        self.assertTrue(header(headers, "Content-Type").startswith("text/xml"), headers)
        self.assertTrue(body.endswith("<Response/>"), body)
        self.wait_sent(number, 4)

    def test_2_sample_lesson(self):
        number, conv = "+525511110001", "sms:+525511110001"
        doc, es = load_flow(self.flows, "leccion-muestra")
        nodes = doc["nodes"]
        labels = lambda node: [text_of(o["label"]) for o in nodes[node]["options"]]  # noqa: E731
        body, headers = self.say(number, "Lección")
        self.assertTrue(header(headers, "Content-Type").startswith("text/xml"), headers)
        self.assertEqual(body.replace('<?xml version="1.0" encoding="UTF-8"?>', "").strip(), "<Response/>")
        sent = self.wait_sent(number, 4)
        # Accents and emoji survive (no transliteration configured); no name on SMS: the default.
        self.assertEqual([c["body"] for c in sent[:3]],
                         [es["bienvenida"].replace("{{contact.name|colega}}", "colega"), es["leccion-1"],
                          es["leccion-2"]])
        for c in sent:
            self.assertEqual(c["from"], TW_FROM)
            self.assertEqual(c["account_sid"], TW_SID)
            self.assertEqual(c["status_callback"], self.aula.url + "/webhooks/twilio/status")
        self.assertEqual(sent[3]["body"], menu(es["edad"], labels("edad")))
        self.say(number, "2")  # by number: 15 años
        sent = self.wait_sent(number, 6)
        self.assertEqual(sent[4]["body"], text_of(nodes["edad"]["feedback"]["correct"]))
        self.assertEqual(sent[5]["body"], menu(es["jornada"], labels("jornada")))
        self.say(number, "6 HORAS")  # by label
        sent = self.wait_sent(number, 8)
        self.assertEqual(sent[6]["body"], text_of(nodes["jornada"]["feedback"]["correct"]))
        self.assertEqual(sent[7]["body"], menu(es["peligroso"], labels("peligroso")))
        self.say(number, "no")
        sent = self.wait_sent(number, 10)
        self.assertEqual(sent[8]["body"], text_of(nodes["peligroso"]["feedback"]["correct"]))
        self.assertTrue(sent[9]["body"].startswith(es["recomendacion"] + "\n"), sent[9]["body"])
        self.assertTrue(sent[9]["body"].endswith("\n" + SMS_HINT), sent[9]["body"])
        self.say(number, "9")
        sent = self.wait_sent(number, 11)
        points = sum(n.get("points", 1) for n in nodes.values() if "quiz" in n)
        end = text_of(nodes["fin"]["message"]).replace("{{score.total}}", str(points)) \
            .replace("{{score.max}}", str(points)).replace("{{contact.name|colega}}", "colega")
        self.assertEqual(sent[10]["body"], end)
        self.assert_no_more(number, 11, wait=0.5)
        quiz = [(r["node"], r["correct"], r["text"]) for r in results(self.redis, conv, "quiz")]
        self.assertEqual(quiz, [("edad", True, "2"), ("jornada", True, "6 HORAS"), ("peligroso", True, "no")])
        ends = results(self.redis, conv, "end")
        self.assertEqual([(e["status"], e["points"]) for e in ends], [("completed", points)])
        # What Twilio bills: the records carry the segments of each message (UCS-2 here).
        # (A step's replies acknowledged together are one record: each message is a part.)
        sent_recs = results(self.redis, conv, "sent")
        messages = sent_messages(sent_recs)
        self.assertEqual(len(messages), 11)
        self.assertLess(len(sent_recs), len(messages), "a step's replies were not one record")
        seg = {c["message_sid"]: c["num_segments"] for c in sent}
        self.assertEqual(sorted(m["external_id"] for m in messages), sorted(seg))
        for m in messages:
            self.assertEqual(m.get("segments"), seg[m["external_id"]], m)
        self.assertEqual(sum(r.get("segments", 0) for r in sent_recs), sum(seg.values()))

    def test_3_stop_then_nothing_then_start(self):
        number, conv = "+525511110003", "sms:+525511110003"
        doc, es = load_flow(self.flows, "recordatorios")
        self.say(number, "recordatorios")
        sent = self.wait_sent(number, 1)
        self.assertEqual(sent[0]["body"],
                         menu(es["pregunta"], [text_of(o["label"]) for o in doc["nodes"]["pregunta"]["options"]]))
        self.say(number, "STOP")
        sent = self.wait_sent(number, 2)
        self.assertEqual(sent[1]["body"], STOPPED)
        # Nothing more: not a second confirmation, no answer, no reminder when it falls due.
        self.say(number, "Baja")
        self.say(number, "hola")
        status, body, _ = self.aula.advance_clock("25h")
        self.assertEqual(status, 200, body)
        self.assert_no_more(number, 2)
        self.assertEqual(self.aula.learner(conv)["status"], "stopped")
        self.say(number, "START")
        sent = self.wait_sent(number, 3)
        self.assertEqual(sent[2]["body"], RESTARTED)
        self.assertEqual(self.aula.learner(conv)["status"], "active")
        # Twilio's own stop word (not one of the engine's global keywords) stops too; YES is back.
        self.say(number, "STOPALL")
        sent = self.wait_sent(number, 4)
        self.assertEqual(sent[3]["body"], STOPPED)
        self.assertEqual(self.aula.learner(conv)["status"], "stopped")
        self.say(number, "leccion")
        self.assert_no_more(number, 4, wait=0.5)
        self.say(number, "YES")
        sent = self.wait_sent(number, 5)
        self.assertEqual(sent[4]["body"], RESTARTED)
        self.assert_no_more(number, 5, wait=0.5)

    def test_4_status_callbacks_and_duplicate_inbound(self):
        number, conv = "+525511110004", "sms:+525511110004"
        sid = mock_twilio.new_sid()
        self.say(number, "leccion", sid=sid)
        self.say(number, "leccion", sid=sid)  # Twilio retried the webhook: the same MessageSid
        sent = self.wait_sent(number, 4)
        self.assert_no_more(number, 4)
        self.assertEqual(len(results(self.redis, conv, "start")), 1)
        first, second = sent[0]["message_sid"], sent[1]["message_sid"]
        for state in ("queued", "sent", "delivered"):
            r = self.mock.status_callback(first, state)
            self.assertEqual(r["status"], 200, r)
            self.assertEqual(r["url"], self.aula.url + "/webhooks/twilio/status")
        r = self.mock.status_callback(second, "undelivered", error_code=30003)
        self.assertEqual(r["status"], 200, r)

        def delivery():
            recs = {x["id"]: x for x in results(self.redis, conv, "delivery")}
            return list(recs.values()) if len(recs) >= 4 else None
        recs = wait_until(delivery, what="delivery records")
        self.assertEqual(sorted((x["external_id"], x["status"]) for x in recs),
                         sorted([(first, "queued"), (first, "sent"), (first, "delivered"), (second, "undelivered")]))
        bad = [x for x in recs if x["status"] == "undelivered"][0]
        self.assertTrue(bad["error"].startswith("30003"), bad)
        self.assertEqual({x["channel"] for x in recs}, {"sms"})
        self.assertNotIn("error", [k for x in recs if x["status"] != "undelivered" for k in x])
        # A status callback signed wrongly changes nothing.
        params = mock_twilio.status_params({"sid": second, "to": number, "account_sid": TW_SID}, "delivered")
        self.assertEqual(self.aula.twilio(params, path="/webhooks/twilio/status", auth_token="wrong")[0], 401)
        time.sleep(0.3)
        self.assertEqual(len({x["id"] for x in results(self.redis, conv, "delivery")}), 4)
        self.assert_no_more(number, 4, wait=0.2)

    def test_5_unsubscribed_21610_opts_out_without_retry(self):
        number, conv = "+525511110005", "sms:+525511110005"
        self.mock.fail(to=number, code=21610, status=400, times=-1)
        self.say(number, "leccion")
        learner = wait_until(lambda: (j := self.aula.learner(conv)) and j["status"] == "stopped" and j,
                             what="the learner opted out")
        self.assertEqual(learner["status"], "stopped")
        time.sleep(1.0)  # retry_base is 100ms: a retry would have come by now
        calls = self.mock.calls(number)
        self.assertEqual([c["status"] for c in calls], [400], [(c["status"], c["body"]) for c in calls])
        # The learner writes again: still opted out, nothing is sent.
        self.say(number, "hola")
        self.assert_no_more(number, 1)
        self.assertEqual(self.aula.learner(conv)["status"], "stopped")


if __name__ == "__main__":
    unittest.main()
