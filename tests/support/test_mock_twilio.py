"""Self-test of the mock Twilio Messaging API (mock_twilio.py): run with
/usr/bin/python3 -m unittest -v test_mock_twilio (from tests/support/; ctest does)."""

import base64
import http.client
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mock_twilio

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_twilio.py")
sys.path.insert(0, HERE)
import mock_common  # noqa: E402
from mock_common import stop_mock  # noqa: E402,F401
SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "f00dfeedc0ffee0123456789abcdef01"
FROM = "+15005550006"


def start_mock(*args):
    return mock_common.start_mock(MOCK, *args)


class Client:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, headers=None, content_type="application/json"):
        return mock_common.request(self.port, method, path, body, headers, content_type)

    def send(self, fields, sid=SID, token=TOKEN, auth=True):
        headers = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (sid, token)).encode()).decode()
        body = urllib.parse.urlencode(fields, doseq=True)
        return self.request("POST", "/2010-04-01/Accounts/%s/Messages.json" % sid, body, headers,
                            content_type="application/x-www-form-urlencoded")

    def calls(self, to=None):
        q = "?to=" + urllib.parse.quote(to) if to else ""
        return self.request("GET", "/__calls" + q)[1]


class Receiver:
    """A local webhook endpoint that records what the mock sends it."""

    def __init__(self):
        received = self.received = []

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                out = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SigningTest(unittest.TestCase):
    """sign() against the published vectors (twilio-python tests/unit/test_request_validator.py)."""

    URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
    PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}

    def test_vectors(self):
        self.assertEqual(mock_twilio.sign("12345", self.URL, self.PARAMS), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
        self.assertEqual(mock_twilio.sign("12345", self.URL.replace(".com", ".com:443"), self.PARAMS),
                         "kvajT1Ptam85bY51eRf/AJRuM3w=")
        dup = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
        self.assertEqual(mock_twilio.sign("12345", self.URL, dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=")

    def test_segments(self):
        seg = mock_twilio.segments
        self.assertEqual(seg("a" * 160), ("GSM-7", 160, 1))
        self.assertEqual(seg("a" * 161), ("GSM-7", 161, 2))
        self.assertEqual(seg("a" * 159 + "€"), ("GSM-7", 161, 2))
        self.assertEqual(seg("a" * 152 + "€" + "b" * 152), ("GSM-7", 306, 3))
        self.assertEqual(seg("ç" * 70), ("UCS-2", 70, 1))
        self.assertEqual(seg("😀" * 35), ("UCS-2", 70, 1))
        self.assertEqual(seg("😀" * 36), ("UCS-2", 72, 2))
        self.assertEqual(seg(""), ("GSM-7", 0, 0))


class MockTwilioTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_mock("--sid", SID, "--token", TOKEN)
        cls.c = Client(cls.port)

    @classmethod
    def tearDownClass(cls):
        stop_mock(cls.proc)

    def setUp(self):
        self.assertEqual(self.c.request("POST", "/__reset")[0], 200)

    def test_send_message(self):
        status, r = self.c.send({"To": "+525512345678", "From": FROM, "Body": "¿Cómo estás? 😀",
                                 "StatusCallback": "https://aula.example.org/webhooks/twilio/status"})
        self.assertEqual(status, 201, r)
        self.assertRegex(r["sid"], r"^SM[0-9a-f]{32}$")
        self.assertEqual((r["status"], r["to"], r["from"], r["body"]), ("queued", "+525512345678", FROM, "¿Cómo estás? 😀"))
        self.assertEqual(r["num_segments"], "1")
        self.assertEqual(r["account_sid"], SID)
        self.assertIsNone(r["error_code"])
        self.assertNotIn("status_callback", r)
        [call] = self.c.calls()
        self.assertEqual(call["status"], 201)
        self.assertEqual(call["message_sid"], r["sid"])
        self.assertEqual(call["body"], "¿Cómo estás? 😀")
        self.assertEqual(call["status_callback"], "https://aula.example.org/webhooks/twilio/status")
        self.assertEqual(call["auth_user"], SID)
        status, got = self.c.request("GET", "/2010-04-01/Accounts/%s/Messages/%s.json" % (SID, r["sid"]), headers={
            "Authorization": "Basic " + base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()})
        self.assertEqual((status, got["sid"]), (200, r["sid"]))

    def test_segments_and_service(self):
        for body, n in [("a" * 160, "1"), ("a" * 161, "2"), ("á" * 71, "2"), ("{" * 80, "1"), ("😀" * 36, "2")]:
            with self.subTest(n=len(body)):
                self.assertEqual(self.c.send({"To": "+525512345678", "From": FROM, "Body": body})[1]["num_segments"], n)
        status, r = self.c.send({"To": "+525512345678", "MessagingServiceSid": "MG" + "0" * 32, "Body": "Hola"})
        self.assertEqual((status, r["status"], r["messaging_service_sid"], r["from"]), (201, "accepted", "MG" + "0" * 32, None))
        status, r = self.c.send({"To": "+525512345678", "From": FROM, "MediaUrl": "https://cdn.example/a.png"})
        self.assertEqual((status, r["num_media"], r["num_segments"]), (201, "1", "1"))
        self.assertRegex(r["sid"], r"^MM[0-9a-f]{32}$")
        stats = self.c.request("GET", "/__stats")[1]
        self.assertEqual((stats["total"], stats["counts"]["messages"], stats["segments"]), (7, 7, 1 + 2 + 2 + 1 + 2 + 1 + 1))

    def test_validation_like_twilio(self):
        cases = [
            ({"From": FROM, "Body": "x"}, 21604),
            ({"To": "5512345678", "From": FROM, "Body": "x"}, 21211),
            ({"To": "+525512345678", "Body": "x"}, 21603),
            ({"To": "+525512345678", "From": FROM}, 21602),
            ({"To": "+525512345678", "From": FROM, "Body": "x" * 1601}, 21617),
            ({"To": "+525512345678", "From": FROM, "Body": "😀" * 801}, 21617),
        ]
        for fields, code in cases:
            with self.subTest(code=code):
                status, r = self.c.send(fields)
                self.assertEqual((status, r["code"], r["status"]), (400, code, 400))
                self.assertIn("/errors/%d" % code, r["more_info"])
        self.assertEqual(self.c.send({"To": "+525512345678", "From": FROM, "Body": "x" * 1600})[0], 201)

    def test_auth(self):
        status, r = self.c.send({"To": "+525512345678", "From": FROM, "Body": "x"}, token="wrong")
        self.assertEqual((status, r["code"]), (401, 20003))
        status, r = self.c.send({"To": "+525512345678", "From": FROM, "Body": "x"}, auth=False)
        self.assertEqual((status, r["code"]), (401, 20003))
        status, r = self.c.send({"To": "+525512345678", "From": FROM, "Body": "x"}, sid="AC" + "1" * 32)
        self.assertEqual(status, 401)
        self.assertEqual([c["status"] for c in self.c.calls()], [401, 401, 401])

    def test_fail_rules(self):
        self.c.request("POST", "/__fail", [
            {"to": "+525511111111", "code": 21610, "status": 400, "times": 2},
            {"status": 429, "code": 20429, "retry_after": 3},
            {"status": 500},
            {"status": 200, "body": "<html>"},
        ])
        # The rule for one recipient leaves the others alone (they take the next rules).
        status, r = self.c.send({"To": "+525511111111", "From": FROM, "Body": "a"})
        self.assertEqual((status, r["code"], r["message"]), (400, 21610, "Attempt to send to unsubscribed recipient"))
        status, r = self.c.send({"To": "+525522222222", "From": FROM, "Body": "a"})
        self.assertEqual((status, r["code"]), (429, 20429))
        status, r = self.c.send({"To": "+525511111111", "From": FROM, "Body": "a"})
        self.assertEqual((status, r["code"]), (400, 21610))
        status, r = self.c.send({"To": "+525522222222", "From": FROM, "Body": "a"})
        self.assertEqual((status, r["code"]), (500, 20500))
        status, r = self.c.send({"To": "+525522222222", "From": FROM, "Body": "a"})
        self.assertEqual((status, r), (200, "<html>"))
        self.assertEqual(self.c.send({"To": "+525511111111", "From": FROM, "Body": "a"})[0], 201)
        self.assertEqual([c["status"] for c in self.c.calls("+525511111111")], [400, 400, 201])

    def test_retry_after_header_and_forever(self):
        self.c.request("POST", "/__fail", {"status": 429, "code": 20429, "retry_after": 3, "times": None})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", "/2010-04-01/Accounts/%s/Messages.json" % SID, "To=%2B525512345678&From=x&Body=a", {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": "Basic " + base64.b64encode(("%s:%s" % (SID, TOKEN)).encode()).decode()})
            resp = conn.getresponse()
            resp.read()
            self.assertEqual((resp.status, resp.getheader("Retry-After")), (429, "3"))
        finally:
            conn.close()
        for _ in range(3):
            self.assertEqual(self.c.send({"To": "+525512345678", "From": FROM, "Body": "a"})[0], 429)
        self.c.request("POST", "/__reset")
        self.assertEqual(self.c.send({"To": "+525512345678", "From": FROM, "Body": "a"})[0], 201)

    def test_reset_cuts_the_connection(self):
        self.c.request("POST", "/__fail", {"reset": True})
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            self.c.send({"To": "+525512345678", "From": FROM, "Body": "a"})
        time.sleep(0.1)
        [call] = self.c.calls()
        self.assertEqual((call["status"], call["reset"]), (0, True))
        self.assertEqual(self.c.send({"To": "+525512345678", "From": FROM, "Body": "a"})[0], 201)

    def test_delay_does_not_block_other_calls(self):
        self.c.request("POST", "/__fail", {"to": "+525511111111", "delay_ms": 800})
        done = {}

        def slow():
            t0 = time.monotonic()
            done["status"] = self.c.send({"To": "+525511111111", "From": FROM, "Body": "a"})[0]
            done["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        self.assertEqual(self.c.send({"To": "+525522222222", "From": FROM, "Body": "a"})[0], 201)
        self.assertLess(time.monotonic() - t0, 0.5)
        t.join(10)
        self.assertEqual(done["status"], 201)
        self.assertGreaterEqual(done["elapsed"], 0.75)

    def test_status_callback_is_signed(self):
        rx = Receiver()
        try:
            status, r = self.c.send({"To": "+525512345678", "From": FROM, "Body": "Hola",
                                     "StatusCallback": rx.url + "/webhooks/twilio/status"})
            self.assertEqual(status, 201)
            status, out = self.c.request("POST", "/__status", {"status": "undelivered", "error_code": 30003})
            self.assertEqual((status, out["ok"], out["status"]), (200, True, 200), out)
            [got] = rx.received
            self.assertEqual(got["path"], "/webhooks/twilio/status")
            form = dict(urllib.parse.parse_qsl(got["body"], keep_blank_values=True))
            self.assertEqual((form["MessageSid"], form["MessageStatus"], form["SmsStatus"], form["ErrorCode"], form["To"]),
                             (r["sid"], "undelivered", "undelivered", "30003", "+525512345678"))
            url = rx.url + "/webhooks/twilio/status"
            self.assertEqual(got["headers"]["X-Twilio-Signature"], mock_twilio.sign(TOKEN, url, form))
            self.assertNotEqual(got["headers"]["X-Twilio-Signature"], mock_twilio.sign("other", url, form))
        finally:
            rx.close()
        status, out = self.c.request("POST", "/__status", {"message_sid": "SMnope"})
        self.assertEqual(status, 404)

    def test_inbound_webhook_is_signed(self):
        rx = Receiver()
        try:
            status, out = self.c.request("POST", "/__inbound", {
                "url": rx.url + "/webhooks/twilio?x=1", "from": "+5215512345678", "body": "¿Sí? 😀 1+1=2 & más",
                "media": [{"url": "https://cdn.example/a.jpg", "content_type": "image/jpeg"}]})
            self.assertEqual((status, out["status"]), (200, 200), out)
            [got] = rx.received
            form = dict(urllib.parse.parse_qsl(got["body"], keep_blank_values=True))
            self.assertEqual((form["Body"], form["From"], form["NumMedia"], form["MediaContentType0"]),
                             ("¿Sí? 😀 1+1=2 & más", "+5215512345678", "1", "image/jpeg"))
            self.assertRegex(form["MessageSid"], r"^MM[0-9a-f]{32}$")
            self.assertEqual(form["AccountSid"], SID)
            self.assertEqual(got["headers"]["X-Twilio-Signature"],
                             mock_twilio.sign(TOKEN, rx.url + "/webhooks/twilio?x=1", form))
        finally:
            rx.close()
        status, out = self.c.request("POST", "/__inbound", {"url": "http://127.0.0.1:1/nothing", "body": "x"})
        self.assertEqual((status, out["ok"]), (502, False))


class MockTwilioProcessTest(unittest.TestCase):
    def test_any_credentials_without_sid_and_token(self):
        proc, port = start_mock()
        try:
            c = Client(port)
            self.assertEqual(c.send({"To": "+525512345678", "From": FROM, "Body": "a"}, sid="AC1", token="t")[0], 201)
            self.assertEqual(c.send({"To": "+525512345678", "From": FROM, "Body": "a"}, auth=False)[0], 401)
            # Without --token a webhook needs its auth_token in the request.
            status, out = c.request("POST", "/__status", {})
            self.assertEqual(status, 400)
            self.assertIn("auth_token", out["message"])
        finally:
            self.assertEqual(stop_mock(proc), 0)

    def test_sigterm_exits_cleanly(self):
        proc, port = start_mock()
        Client(port).request("GET", "/__stats")
        t0 = time.monotonic()
        self.assertEqual(stop_mock(proc), 0)
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main()
