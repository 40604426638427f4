"""Self-test of the mock WhatsApp Cloud API (mock_whatsapp.py): run with
/usr/bin/python3 -m unittest -v test_mock_whatsapp (from tests/support/; ctest does)."""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_whatsapp.py")
sys.path.insert(0, HERE)
import mock_common  # noqa: E402
from mock_common import stop_mock  # noqa: E402,F401
import mock_whatsapp  # noqa: E402  (the importable helpers)

TOKEN = "EAAJB0ZCzPZBaYBAKq7ZB4kZAtestTOKENvalue123"
PHONE_ID = "106540352242922"
PATH = "/v21.0/%s/messages" % PHONE_ID


def start_mock(*args):
    return mock_common.start_mock(MOCK, *args)


class Client:
    def __init__(self, port, tls_context=None):
        self.port = port
        self.tls_context = tls_context

    def request(self, method, path, body=None, token=TOKEN):
        headers = {"Authorization": "Bearer " + token} if token is not None else {}
        return mock_common.request(self.port, method, path, body, headers, tls_context=self.tls_context)

    def send(self, body, **kw):
        return self.request("POST", PATH, body, **kw)

    def calls(self, query=""):
        return self.request("GET", "/__calls" + query)[1]


def text(to, body):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
            "text": {"body": body, "preview_url": False}}


def buttons(to, titles, body="¿Seguimos?"):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
            "interactive": {"type": "button", "body": {"text": body}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "r.%d" % i, "title": t}} for i, t in enumerate(titles)]}}}


def rows_list(to, rows, button="Ver opciones", body="Elige"):
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive",
            "interactive": {"type": "list", "body": {"text": body},
                            "action": {"button": button, "sections": [{"rows": rows}]}}}


class MockWhatsAppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_mock()
        cls.c = Client(cls.port)

    @classmethod
    def tearDownClass(cls):
        stop_mock(cls.proc)

    def setUp(self):
        self.assertEqual(self.c.request("POST", "/__reset")[0], 200)

    def test_send_text_like_the_cloud_api(self):
        status, r = self.c.send(text("525512345678", "Hola 😀 ñandú"))
        self.assertEqual(status, 200)
        self.assertEqual(r, {"messaging_product": "whatsapp",
                             "contacts": [{"input": "525512345678", "wa_id": "5215512345678"}],
                             "messages": [{"id": "wamid.1"}]})
        status, r = self.c.send(text("15551234567", "otra"))
        self.assertEqual(r["messages"][0]["id"], "wamid.2")
        self.assertEqual(r["contacts"][0]["wa_id"], "15551234567")
        calls = self.c.calls()
        self.assertEqual([c["type"] for c in calls], ["text", "text"])
        self.assertEqual(calls[0]["token"], TOKEN)
        self.assertEqual(calls[0]["phone_number_id"], PHONE_ID)
        self.assertEqual(calls[0]["version"], "v21.0")
        self.assertEqual(calls[0]["body"]["text"]["body"], "Hola 😀 ñandú")
        self.assertEqual((calls[0]["status"], calls[0]["id"]), (200, "wamid.1"))
        self.assertEqual(len(self.c.calls("?to=%2B525512345678")), 1)  # '+' optional in the filter

    def test_interactive_template_media_and_mark_read(self):
        self.assertEqual(self.c.send(buttons("525512345678", ["Sí", "No", "Totalmente de acuer…"]))[0], 200)
        rows = [{"id": "r.%d" % i, "title": "Opción %d" % i} for i in range(10)]
        rows[0]["description"] = "x" * 72
        self.assertEqual(self.c.send(rows_list("525512345678", rows))[0], 200)
        template = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "525512345678",
                    "type": "template", "template": {"name": "aula_continuar", "language": {"code": "es_MX"}}}
        status, r = self.c.send(template)
        self.assertEqual((status, r["messages"][0]["message_status"]), (200, "accepted"))
        image = {"messaging_product": "whatsapp", "to": "525512345678", "type": "image",
                 "image": {"link": "https://cdn.example/a.png", "caption": "c" * 1024}}
        self.assertEqual(self.c.send(image)[0], 200)
        status, r = self.c.send({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"})
        self.assertEqual((status, r), (200, {"success": True}))
        stats = self.c.request("GET", "/__stats")[1]
        self.assertEqual(stats, {"counts": {"interactive": 2, "template": 1, "image": 1, "read": 1}, "total": 5})
        self.assertEqual(len(self.c.calls("?type=interactive")), 2)

    def test_validation_like_meta(self):
        long_rows = [{"id": "r.%d" % i, "title": "t"} for i in range(11)]
        cases = [
            ({"to": "525512345678", "type": "text", "text": {"body": "x"}}, "messaging_product"),
            (text("+525512345678", "x"), "Param to"),
            (text("525512345678", "x" * 4097), "at most 4096"),
            (text("525512345678", "😀" * 2049), "at most 4096"),
            (text("525512345678", ""), "at least 1"),
            ({"messaging_product": "whatsapp", "to": "525512345678", "type": "text"}, "is required"),
            ({"messaging_product": "whatsapp", "to": "525512345678", "type": "fax", "fax": {}}, "Param type"),
            (buttons("525512345678", ["a", "b", "c", "d"]), "between 1 and 3"),
            (buttons("525512345678", ["x" * 21]), "at most 20"),
            (buttons("525512345678", ["a", "a"]), "unique"),
            (buttons("525512345678", ["a"], body="b" * 1025), "at most 1024"),
            (rows_list("525512345678", long_rows), "max allowed count: 10"),
            (rows_list("525512345678", [{"id": "r", "title": "x" * 25}]), "at most 24"),
            (rows_list("525512345678", [{"id": "r", "title": "t", "description": "d" * 73}]), "at most 72"),
            (rows_list("525512345678", [{"id": "r", "title": "t"}], button="b" * 21), "at most 20"),
            (rows_list("525512345678", [{"id": "r", "title": "t"}, {"id": "r", "title": "u"}]), "unique"),
            ({"messaging_product": "whatsapp", "to": "525512345678", "type": "audio",
              "audio": {"link": "https://x/a.mp3", "caption": "no"}}, "not supported"),
            ({"messaging_product": "whatsapp", "to": "525512345678", "type": "image",
              "image": {"link": "https://x/a.png", "caption": "c" * 1025}}, "at most 1024"),
            ({"messaging_product": "whatsapp", "to": "525512345678", "type": "image", "image": {}}, "'link' or 'id'"),
            ({"messaging_product": "whatsapp", "to": "525512345678", "type": "template",
              "template": {"name": "aula_continuar"}}, "language"),
        ]
        for body, details in cases:
            with self.subTest(details=details, body=json.dumps(body)[:80]):
                status, r = self.c.send(body)
                self.assertEqual(status, 400)
                err = r["error"]
                self.assertIn(err["code"], (100, 131008, 131009))
                self.assertEqual(err["type"], "OAuthException")
                self.assertIn("fbtrace_id", err)
                self.assertIn(details, err["error_data"]["details"])
        status, r = self.c.send("{not json")
        self.assertEqual((status, r["error"]["code"]), (400, 100))
        self.assertEqual(self.c.send(text("525512345678", "x" * 4096))[0], 200)
        self.assertEqual(self.c.request("POST", "/v21.0/%s/media" % PHONE_ID, {})[0], 404)

    def test_fail_rules_by_recipient_and_type(self):
        self.c.request("POST", "/__fail", {"to": "525500000001", "code": 131047, "type": "text"})
        self.assertEqual(self.c.send(text("525500000002", "a"))[0], 200)  # another recipient
        status, r = self.c.send(text("525500000001", "a"))
        self.assertEqual((status, r["error"]["code"]), (400, 131047))
        self.assertIn("24 hours", r["error"]["error_data"]["details"])
        self.assertEqual(self.c.send(text("525500000001", "a"))[0], 200)  # times: 1
        self.c.request("POST", "/__fail", {"code": 131047, "type": "text", "times": -1})
        template = {"messaging_product": "whatsapp", "to": "525500000001", "type": "template",
                    "template": {"name": "aula_continuar", "language": {"code": "es_MX"}}}
        self.assertEqual(self.c.send(template)[0], 200)  # a template goes outside the window
        for _ in range(3):
            self.assertEqual(self.c.send(text("525500000001", "a"))[1]["error"]["code"], 131047)
        self.assertEqual([c["status"] for c in self.c.calls("?to=525500000001")], [400, 200, 200, 400, 400, 400])

    def test_fail_status_codes_and_raw(self):
        self.c.request("POST", "/__fail", [{"code": 131056}, {"status": 500}, {"status": 429},
                                           {"status": 200, "body": "<html>"},
                                           {"code": 190, "status": 401, "message": "Session has expired"}])
        status, r = self.c.send(text("525512345678", "a"))
        self.assertEqual((status, r["error"]["code"]), (400, 131056))
        status, r = self.c.send(text("525512345678", "a"))
        self.assertEqual((status, r["error"]["code"]), (500, 131000))
        status, r = self.c.send(text("525512345678", "a"))
        self.assertEqual((status, r["error"]["code"]), (429, 130429))
        self.assertEqual(self.c.send(text("525512345678", "a")), (200, "<html>"))
        status, r = self.c.send(text("525512345678", "a"))
        self.assertEqual((status, r["error"]["code"], r["error"]["message"]), (401, 190, "Session has expired"))
        self.assertEqual(self.c.send(text("525512345678", "a"))[0], 200)

    def test_reset_rule_cuts_the_connection(self):
        self.c.request("POST", "/__fail", {"reset": True})
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.c.send(text("525512345678", "a"))
        self.assertEqual(self.c.send(text("525512345678", "b"))[1]["messages"][0]["id"], "wamid.1")
        calls = self.c.calls()
        self.assertEqual([(c["status"], c["reset"]) for c in calls], [(0, True), (200, False)])

    def test_delay_does_not_block_other_calls(self):
        self.c.request("POST", "/__fail", {"to": "525500000009", "delay_ms": 800})
        done = {}

        def slow():
            t0 = time.monotonic()
            done["status"] = self.c.send(text("525500000009", "lento"))[0]
            done["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        self.assertEqual(self.c.send(text("525512345678", "rápido"))[0], 200)
        self.assertLess(time.monotonic() - t0, 0.5)
        t.join(10)
        self.assertEqual(done["status"], 200)
        self.assertGreaterEqual(done["elapsed"], 0.75)


class HelpersTest(unittest.TestCase):
    def test_sign_known_vectors(self):
        # The classic HMAC-SHA256 example, and the vector test_whatsapp.cpp checks too.
        self.assertEqual(mock_whatsapp.sign("key", "The quick brown fox jumps over the lazy dog"),
                         "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
        self.assertEqual(mock_whatsapp.sign("0d4e5f6a7b8c9d0e1f2a3b4c5d6e7f80",
                                            b'{"object":"whatsapp_business_account","entry":[]}'),
                         "sha256=b691adaa559a5f8483420726816c62b38f5cbedd49501199c5c25ad5c1335519")

    def test_payload_builders(self):
        n = mock_whatsapp.notification(
            PHONE_ID,
            messages=[mock_whatsapp.text_message("5215512345678", "¡Hola!", id="wamid.A", timestamp=1767625200),
                      mock_whatsapp.button_reply("5215512345678", "r1.ab.0", "Sí", id="wamid.B"),
                      mock_whatsapp.template_reply("5215512345678", id="wamid.C"),
                      mock_whatsapp.media_message("5215512345678", "audio", "99", voice=True, id="wamid.D")],
            statuses=[mock_whatsapp.status("wamid.1", "failed", "5215512345678", 1767625300, error_code=131047)],
            contacts=[mock_whatsapp.contact("5215512345678", "Ana")])
        self.assertEqual(n["object"], "whatsapp_business_account")
        [entry] = n["entry"]
        [change] = entry["changes"]
        self.assertEqual(change["field"], "messages")
        value = change["value"]
        self.assertEqual(value["metadata"]["phone_number_id"], PHONE_ID)
        self.assertEqual(value["contacts"], [{"profile": {"name": "Ana"}, "wa_id": "5215512345678"}])
        m = value["messages"]
        self.assertEqual(m[0], {"from": "5215512345678", "id": "wamid.A", "timestamp": "1767625200", "type": "text",
                                "text": {"body": "¡Hola!"}})
        self.assertEqual(m[1]["interactive"], {"type": "button_reply", "button_reply": {"id": "r1.ab.0", "title": "Sí"}})
        self.assertEqual(m[2]["button"], {"payload": "aula:continue", "text": "Continuar"})
        self.assertEqual((m[3]["type"], m[3]["audio"]["id"], m[3]["audio"]["voice"]), ("audio", "99", True))
        [s] = value["statuses"]
        self.assertEqual((s["status"], s["timestamp"], s["errors"][0]["code"]), ("failed", "1767625300", 131047))
        body, headers = mock_whatsapp.signed("secret", n)
        self.assertEqual(json.loads(body), n)
        self.assertEqual(headers["X-Hub-Signature-256"], mock_whatsapp.sign("secret", body))
        self.assertEqual(len(headers["X-Hub-Signature-256"]), 71)
        self.assertNotEqual(mock_whatsapp.text_message("1", "a")["id"], mock_whatsapp.text_message("1", "a")["id"])


class MockWhatsAppProcessTest(unittest.TestCase):
    def test_token_and_phone_number_id_checks(self):
        proc, port = start_mock("--token", TOKEN, "--phone-number-id", PHONE_ID)
        try:
            c = Client(port)
            status, r = c.send(text("525512345678", "a"), token="EAAwrong")
            self.assertEqual((status, r["error"]["code"]), (401, 190))
            status, r = c.send(text("525512345678", "a"), token=None)
            self.assertEqual(status, 401)
            status, r = c.request("POST", "/v21.0/999/messages", text("525512345678", "a"))
            self.assertEqual((status, r["error"]["code"]), (400, 100))
            self.assertEqual(c.send(text("525512345678", "a"))[0], 200)
        finally:
            self.assertEqual(stop_mock(proc), 0)

    @unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
    def test_tls(self):
        tmp = tempfile.mkdtemp()
        try:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                            "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            proc, port = start_mock("--tls", cert, key)
            try:
                ctx = ssl.create_default_context(cafile=cert)
                c = Client(port, ctx)
                status, r = c.send(text("525512345678", "seguro"))
                self.assertEqual((status, r["messages"][0]["id"]), (200, "wamid.1"))
                with self.assertRaises(ssl.SSLError):  # the system store does not trust it
                    Client(port, ssl.create_default_context()).send(text("525512345678", "x"))
            finally:
                self.assertEqual(stop_mock(proc), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_sigterm_exits_cleanly(self):
        proc, port = start_mock()
        Client(port).send(text("525512345678", "a"))
        t0 = time.monotonic()
        self.assertEqual(stop_mock(proc), 0)
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main()
