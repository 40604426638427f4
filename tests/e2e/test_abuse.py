"""Abuse and hostile input, end to end (issue 13): a flood from one learner, the egress policy
of flows' webhook nodes, and text that is not what a chat usually carries (broken UTF-8, lone
surrogates, zero-width and bidi controls, control characters, 10,000 characters, markup).
aula serve with a real redis-server, the mock Telegram Bot API and the mock Twilio API over
real HTTP, and a webhook target served here over loopback. The flows are written by this test;
expected texts come from them."""

import base64
import csv
import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import io
import json
import os
import shutil
import tempfile
import threading
import time
import unittest
import urllib.parse

import yaml

from harness import (ADMIN_TOKEN, TG_SECRET, TW_FROM, TW_SID, TW_TOKEN, Aula, MockTelegram, MockTwilio, Redis,
                     free_port, http, results, tg_text, wait_until, write_test_config)
import mock_twilio

PER_MINUTE = 5  # limits.learner_messages_per_minute in this test's configuration
FOLIO = "A-17"

ECO = {
    "spec": 1, "id": "eco", "name": "Eco", "language": "es", "start": "hola",
    "nodes": {
        "hola": {"message": "Hola {{contact.name}}", "next": "pregunta"},
        "pregunta": {"question": "Escribe lo que quieras:", "type": "text", "save_as": "dicho", "next": "fin"},
        "fin": {"end": "completed", "message": "Recibí: {{answers.dicho}}"},
    },
}


def webhook_flow(flow_id, url):
    return {
        "spec": 1, "id": flow_id, "name": flow_id, "language": "es", "start": "llamar",
        "nodes": {
            "llamar": {"webhook": {"method": "POST", "url": url, "headers": {"Content-Type": "application/json"},
                                   "body": '{"quien": "{{contact.name}}"}', "timeout": "30s"},
                       "save_as": "registro", "next": "ok", "on_failure": "error", "on_timeout": "tarde"},
            "ok": {"end": "completed", "message": "Folio {{answers.registro.folio}}."},
            "error": {"end": "failed", "message": "No se pudo registrar."},
            "tarde": {"end": "failed", "message": "El registro tardó demasiado."},
        },
    }


class Target(BaseHTTPRequestHandler):
    """The webhook nodes' target: /ok answers a folio, /grande too much, /lento too late."""
    hits = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        Target.hits.append((self.path, body))
        if self.path == "/lento":
            time.sleep(3)
        payload = json.dumps({"folio": FOLIO}).encode() if self.path != "/grande" else b"x" * (100 * 1024)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


class AbuseEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-abuse-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.target = ThreadingHTTPServer(("127.0.0.1", 0), Target)
        cls.target.daemon_threads = True
        cls.addClassCleanup(cls.target.server_close)
        cls.addClassCleanup(cls.target.shutdown)
        threading.Thread(target=cls.target.serve_forever, daemon=True).start()
        port = cls.target.server_address[1]

        flows = os.path.join(cls.tmp, "flows")
        os.makedirs(flows)
        cls.flows = {"eco": ECO,
                     "gancho-ok": webhook_flow("gancho-ok", f"http://127.0.0.1:{port}/ok"),
                     "gancho-grande": webhook_flow("gancho-grande", f"http://127.0.0.1:{port}/grande"),
                     "gancho-lento": webhook_flow("gancho-lento", f"http://127.0.0.1:{port}/lento"),
                     # The same server by a name that is not listed: loopback, refused.
                     "gancho-cerrado": webhook_flow("gancho-cerrado", f"http://localhost:{port}/cerrado")}
        for name, flow in cls.flows.items():
            with open(os.path.join(flows, name + ".yaml"), "w", encoding="utf-8") as f:
                yaml.safe_dump(flow, f, allow_unicode=True, sort_keys=False)
        with open(os.path.join(flows, "triggers.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump({"spec": 1, "language": "es", "menu": ["eco"],
                            "triggers": [{"keywords": [name], "flow": name, "policy": "interrupt"}
                                         for name in cls.flows]}, f, allow_unicode=True, sort_keys=False)

        config = write_test_config(cls.tmp)
        with open(config, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        cfg["limits"] = {"learner_messages_per_minute": PER_MINUTE}
        cfg["webhooks"] = {"allow_hosts": ["*", f"127.0.0.1:{port}"], "max_response": "1KiB", "timeout": "1s"}
        with open(config, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True, sort_keys=False)

        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tg = MockTelegram()
        cls.addClassCleanup(cls.tg.close)
        cls.twilio = MockTwilio()
        cls.addClassCleanup(cls.twilio.close)
        cls.aula = Aula(cls.redis.url, cls.tg.url,
                        extra_env={**cls.twilio.env(), "AULA_CONFIG": config, "AULA_FLOWS": flows})
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def setUp(self):
        self.tg.reset()

    # ------------------------------------------------------------------ helpers

    def send(self, update):
        status, body, _ = self.aula.telegram(update)
        self.assertEqual(status, 200, body)

    def send_raw(self, body_bytes):
        """POSTs bytes as a Telegram update (for bodies json.dumps cannot make)."""
        status, body, _ = http("POST", self.aula.url + "/webhooks/telegram", body_bytes,
                               {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"})
        self.assertEqual(status, 200, body)

    def texts_to(self, chat_id):
        return [c["body"].get("text", "") for c in self.tg.calls("sendMessage")
                if str(c["body"].get("chat_id")) == str(chat_id)]

    def wait_texts(self, chat_id, count, timeout=15):
        def enough():
            mine = self.texts_to(chat_id)
            return mine if len(mine) >= count else None
        return wait_until(enough, timeout=timeout, what=f"{count} messages to {chat_id}")

    def node_text(self, flow, node):
        n = self.flows[flow]["nodes"][node]
        return n.get("message") or n.get("question")

    def wait_records(self, conv, type_, count, timeout=10):
        def enough():
            recs = results(self.redis, conv, type_)
            return recs if len(recs) >= count else None
        return wait_until(enough, timeout=timeout, what=f"{count} {type_} records of {conv}")

    def echo(self, chat_id, raw_text_json):
        """Starts the eco flow, then sends `raw_text_json` (the JSON string literal's inside, as
        bytes) as the answer; returns the echo sent back (every part of a split message)."""
        self.send(tg_text(chat_id, "eco"))
        self.wait_texts(chat_id, 2)
        update = tg_text(chat_id, "PLACEHOLDER")
        body = json.dumps(update).encode("utf-8").replace(b'"PLACEHOLDER"', b'"' + raw_text_json + b'"')
        self.send_raw(body)
        prefix = self.node_text("eco", "fin").split("{{")[0]
        def done():
            texts = self.texts_to(chat_id)[2:]
            return texts if texts and texts[0].startswith(prefix) else None
        wait_until(done, timeout=15, what=f"the echo to {chat_id}")
        time.sleep(0.5)  # the rest of a long echo, split in parts
        return "".join(self.texts_to(chat_id)[2:])[len(prefix):]

    # ------------------------------------------------------------------ a flood from one learner

    def test_flood_from_one_learner_is_recorded_dropped_and_told_once(self):
        flooder, other = 7001, 7002
        conv = f"telegram:{flooder}"
        for i in range(50):  # a burst: one after another, as fast as HTTP goes
            self.send(tg_text(flooder, f"hola {i}"))
        dropped = self.wait_records(conv, "rate_limited", 50 - PER_MINUTE)
        time.sleep(1.0)  # anything more would have arrived by now
        dropped = results(self.redis, conv, "rate_limited")
        self.assertEqual(len(dropped), 50 - PER_MINUTE)
        # The excess, in order: what the learner wrote, and its place in the minute.
        self.assertEqual([r["text"] for r in dropped], [f"hola {i}" for i in range(PER_MINUTE, 50)])
        self.assertEqual([r["attempt"] for r in dropped], list(range(PER_MINUTE + 1, 51)))
        self.assertEqual([r["status"] for r in dropped], ["told"] + ["dropped"] * (50 - PER_MINUTE - 1))
        # Told once; the flow ran for the first PER_MINUTE only: the engine's own records name
        # only those texts.
        texts = self.texts_to(flooder)
        notices = [t for t in texts if "espera un momento" in t]
        self.assertEqual(len(notices), 1, texts)
        stepped = [r["text"] for r in results(self.redis, conv)
                   if r["type"] != "rate_limited" and r.get("text", "").startswith("hola ")]
        self.assertEqual(sorted(set(stepped)), [f"hola {i}" for i in range(PER_MINUTE)])

        # Another learner is not affected.
        self.send(tg_text(other, "eco"))
        greeting = self.node_text("eco", "hola").replace("{{contact.name}}", "Ana")
        self.assertEqual(self.wait_texts(other, 2)[:2], [greeting, self.node_text("eco", "pregunta")])
        self.assertEqual(results(self.redis, f"telegram:{other}", "rate_limited"), [])

        # A minute later the flooder is heard again, and not told again.
        self.assertEqual(self.aula.advance_clock("61s")[0], 200)
        before = len(self.texts_to(flooder))
        self.send(tg_text(flooder, "eco"))
        after = self.wait_texts(flooder, before + 2)
        self.assertEqual(after[before:before + 2], [greeting, self.node_text("eco", "pregunta")])
        # A provider's retry of an update already taken is a duplicate: not counted, not recorded.
        retry = tg_text(flooder, "otra vez")
        self.send(retry)
        self.send(retry)
        time.sleep(0.5)
        session = self.aula.session(self.redis, conv)
        self.assertEqual(session["flood"]["n"], 2, session.get("flood"))
        self.assertEqual(len(results(self.redis, conv, "rate_limited")), 50 - PER_MINUTE)

        # Counted in the metrics.
        _, body, _ = http("GET", self.aula.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertIn(f'aula_service_events_total{{kind="rate_limited"}} {50 - PER_MINUTE}', body)

    # ------------------------------------------------------------------ webhook nodes

    def run_webhook_flow(self, chat_id, flow):
        self.send(tg_text(chat_id, flow, first_name="Bea"))
        texts = self.wait_texts(chat_id, 1, timeout=20)
        records = self.wait_records(f"telegram:{chat_id}", "webhook", 1)
        return texts[0], records[0]

    def test_webhook_node_reaches_a_listed_host(self):
        text, record = self.run_webhook_flow(7101, "gancho-ok")
        self.assertEqual(text, self.node_text("gancho-ok", "ok").replace("{{answers.registro.folio}}", FOLIO))
        self.assertEqual(record["status"], "ok")
        hits = [body for path, body in Target.hits if path == "/ok"]
        self.assertEqual(json.loads(hits[-1]), {"quien": "Bea"})

    def test_webhook_node_refuses_an_unlisted_loopback_name(self):
        text, record = self.run_webhook_flow(7102, "gancho-cerrado")
        self.assertEqual(text, self.node_text("gancho-cerrado", "error"))
        self.assertEqual(record["status"], "failed")
        self.assertNotIn("/cerrado", [path for path, _ in Target.hits])  # nothing reached it
        wait_until(lambda: "webhook node call refused" in self.aula.output(), timeout=5, what="the refusal logged")

    def test_webhook_node_answer_over_the_size_limit_is_a_failure(self):
        text, record = self.run_webhook_flow(7103, "gancho-grande")
        self.assertEqual(text, self.node_text("gancho-grande", "error"))
        self.assertEqual(record["status"], "failed")

    def test_webhook_node_slow_answer_takes_the_timeout_exit(self):
        t0 = time.monotonic()
        text, record = self.run_webhook_flow(7104, "gancho-lento")
        self.assertEqual(text, self.node_text("gancho-lento", "tarde"))
        self.assertEqual(record["status"], "timeout")
        self.assertLess(time.monotonic() - t0, 3.0)  # webhooks.timeout (1s), not the target's 3 s

    # ------------------------------------------------------------------ text

    def test_markup_in_a_name_is_sent_as_plain_text(self):
        name = "*_[]()~`> <b>x</b> &amp;"
        self.send(tg_text(7201, "eco", first_name=name))
        self.wait_texts(7201, 2)
        first = [c for c in self.tg.calls("sendMessage") if str(c["body"].get("chat_id")) == "7201"][0]["body"]
        self.assertEqual(first["text"], self.node_text("eco", "hola").replace("{{contact.name}}", name))
        self.assertNotIn("parse_mode", first)  # nothing in it is read as markup

    def test_lone_surrogates_and_bytes_that_are_not_utf8_arrive_as_replacement_characters(self):
        conv = "telegram:7202"
        self.assertEqual(self.echo(7202, b"a\\udc80b\\ud83dc \xff\xfe d"), "a\ufffdb\ufffdc \ufffd\ufffd d")
        answer = self.wait_records(conv, "answer", 1)[-1]
        self.assertEqual(answer["text"], "a\ufffdb\ufffdc \ufffd\ufffd d")

    def test_zero_width_bidi_and_control_characters_are_stored_and_echoed(self):
        tricky = "\u200b\u200d\ufeff\u202eevil\u202c \u0645\u0631\u062d\u0628\u0627 \u0001\u0007\u001b[31m end"
        echoed = self.echo(7203, json.dumps(tricky)[1:-1].encode("ascii"))
        answer = self.wait_records("telegram:7203", "answer", 1)[-1]
        self.assertEqual(answer["text"], tricky)  # stored as the learner wrote it
        self.assertIn("\u202eevil\u202c \u0645\u0631\u062d\u0628\u0627", echoed)
        self.assertTrue(echoed.endswith("end"), repr(echoed))

    def test_a_10000_character_message_is_stored_whole_and_echoed_in_parts(self):
        long_text = ("Año ñandú 😀 " * 1000)[:10000]
        echoed = self.echo(7204, json.dumps(long_text)[1:-1].encode("ascii"))
        answer = self.wait_records("telegram:7204", "answer", 1)[-1]
        self.assertEqual(answer["text"], long_text)
        self.assertEqual(echoed.replace("\n", "").replace(" ", ""), long_text.replace(" ", ""))
        parts = self.texts_to(7204)[2:]
        self.assertGreater(len(parts), 1)  # over Telegram's 4,096: split, each part within it
        for p in parts:
            self.assertLessEqual(len(p.encode("utf-16-le")) // 2, 4096)

    def test_sms_with_bytes_that_are_not_utf8(self):
        number = "+525511119900"
        body = b"hola \xff\xfe fin"

        def post(text_bytes):
            params = [(str(k).encode(), str(v).encode()) for k, v in
                      mock_twilio.inbound_params(TW_SID, number, TW_FROM, "X").items() if k != "Body"]
            params.append((b"Body", text_bytes))
            url = self.aula.url + "/webhooks/twilio"
            data = url.encode() + b"".join(k + v for k, v in sorted(params))
            sig = base64.b64encode(hmac.new(TW_TOKEN.encode(), data, hashlib.sha1).digest()).decode()
            form = "&".join(urllib.parse.quote_plus(k) + "=" + urllib.parse.quote_plus(v) for k, v in params)
            return http("POST", url, form.encode("ascii"),
                        {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig})

        status, text, _ = post(b"eco")
        self.assertEqual(status, 200, text)
        wait_until(lambda: len(self.twilio.sent(number)) >= 2, timeout=15, what="the eco question by SMS")
        status, text, _ = post(body)
        self.assertEqual(status, 200, text)
        answer = self.wait_records("sms:" + number, "answer", 1)[-1]
        self.assertEqual(answer["text"], "hola \ufffd\ufffd fin")
        wait_until(lambda: len(self.twilio.sent(number)) >= 3, timeout=15, what="the echo by SMS")
        echoed = self.twilio.sent(number)[2]["body"]
        self.assertIn("hola \ufffd\ufffd fin", echoed)

    def test_formulas_typed_by_learners_are_neutralized_in_the_csv_export(self):
        formulas = ['=HYPERLINK("http://x","y")', "+52 1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
        for i, f in enumerate(formulas):
            chat = 7300 + i
            self.send(tg_text(chat, "eco", first_name="=cmd|' /C calc'!A0"))
            self.wait_texts(chat, 2)
            self.send(tg_text(chat, f))
            self.wait_records(f"telegram:{chat}", "answer", 1)

        def exported():
            status, text, _ = http("GET", self.aula.url + "/admin/reports/answers?flow=eco&format=csv",
                                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            self.assertEqual(status, 200, text)
            rows = [r for r in csv.DictReader(io.StringIO(text)) if r["conv"].startswith("telegram:73")]
            return rows if len(rows) >= len(formulas) else None
        rows = wait_until(exported, timeout=15, what="the answers in the report")
        for row in rows:
            for column, cell in row.items():
                self.assertFalse(cell and cell[0] in "=+-@\t\r", (column, cell))
        self.assertEqual(sorted(r["text"][1:] for r in rows), sorted(formulas))


if __name__ == "__main__":
    unittest.main()
