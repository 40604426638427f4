"""The mock Bot API's fault rules that the chaos tests rely on (tests/support/mock_telegram.py):
connection resets, rules for one chat, calls recorded when they arrive, and HTTPS with a test
CA. Run: /usr/bin/python3 -m unittest -v test_mock_faults (from tests/chaos/; ctest does)."""

import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from chaos import ChaosMock, TestCA

TOKEN = "123456:ABC-test-token"


def api(mock, method, body, ctx=None, host="127.0.0.1"):
    """(status, parsed body) or (None, the exception) when no answer came."""
    if ctx:
        conn = http.client.HTTPSConnection(host, mock.port, timeout=10, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, mock.port, timeout=10)
    try:
        conn.request("POST", "/bot%s/%s" % (TOKEN, method), body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    except (OSError, http.client.HTTPException) as e:
        return None, e
    finally:
        conn.close()


class MockFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = ChaosMock()

    @classmethod
    def tearDownClass(cls):
        cls.mock.close()

    def setUp(self):
        self.mock.reset()

    def test_reset_cuts_the_connection_and_has_no_effect(self):
        self.mock.fail(method="sendMessage", reset=True, times=1)
        status, err = api(self.mock, "sendMessage", {"chat_id": 1, "text": "a"})
        self.assertIsNone(status)
        self.assertIsInstance(err, (ConnectionError, http.client.RemoteDisconnected, OSError))
        status, r = api(self.mock, "sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual(status, 200)
        self.assertEqual(r["result"]["message_id"], 1)  # the cut call made no message
        calls = self.mock.calls("sendMessage")
        self.assertEqual([(c["status"], c["reset"]) for c in calls], [(0, True), (200, False)])

    def test_rule_for_one_chat_only(self):
        self.mock.fail(chat_id=77, status=500, times=-1)
        for _ in range(3):
            self.assertEqual(api(self.mock, "sendMessage", {"chat_id": 77, "text": "x"})[0], 500)
            self.assertEqual(api(self.mock, "sendMessage", {"chat_id": 78, "text": "y"})[0], 200)
        # The chat id compares as text: "77" in a form or JSON string is the same chat.
        self.assertEqual(api(self.mock, "sendMessage", {"chat_id": "77", "text": "x"})[0], 500)
        by_chat = {}
        for c in self.mock.calls("sendMessage"):
            by_chat.setdefault(str(c["body"]["chat_id"]), set()).add(c["status"])
        self.assertEqual(by_chat, {"77": {500}, "78": {200}})

    def test_a_late_answer_keeps_its_place(self):
        self.mock.fail(method="sendMessage", delay_ms=700, times=1)
        slow = {}
        t = threading.Thread(target=lambda: slow.setdefault("r", api(self.mock, "sendMessage",
                                                                      {"chat_id": 1, "text": "first"})))
        t.start()
        time.sleep(0.2)
        pending = self.mock.calls("sendMessage")
        self.assertEqual([(c["body"]["text"], c["status"]) for c in pending], [("first", None)])
        self.assertEqual(api(self.mock, "sendMessage", {"chat_id": 1, "text": "second"})[0], 200)
        t.join(10)
        self.assertEqual(slow["r"][0], 200)
        calls = self.mock.calls("sendMessage")
        self.assertEqual([c["body"]["text"] for c in calls], ["first", "second"])
        self.assertGreaterEqual(calls[0]["delay_ms"], 700)
        self.assertEqual(calls[1]["delay_ms"], 0)


class MockOverHttps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="aula-chaos-tls-")
        cls.ca = TestCA(cls.dir)
        cls.mock = ChaosMock(tls=cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.mock.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_verified_by_the_test_ca_for_ip_and_name(self):
        self.assertTrue(self.mock.url.startswith("https://"))
        ctx = ssl.create_default_context(cafile=self.ca.ca)
        for host in ("127.0.0.1", "localhost"):
            status, r = api(self.mock, "sendMessage", {"chat_id": 5, "text": "hola"}, ctx=ctx, host=host)
            if status is None and host == "localhost" and isinstance(r, ConnectionRefusedError):
                continue  # localhost resolved to ::1 only; the mock listens on 127.0.0.1
            self.assertEqual(status, 200, r)
        self.assertTrue(self.mock.calls("sendMessage"))

    def test_untrusted_without_the_ca(self):
        status, err = api(self.mock, "getMe", {}, ctx=ssl.create_default_context())
        self.assertIsNone(status)
        self.assertIsInstance(err, ssl.SSLCertVerificationError)

    def test_plain_http_gets_no_answer_and_does_not_block(self):
        s = socket.create_connection(("127.0.0.1", self.mock.port), timeout=5)
        try:
            s.sendall(b"GET /__stats HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                data = s.recv(100)
            except OSError:
                data = b""
            self.assertFalse(data.startswith(b"HTTP/1.1 200"))
        finally:
            s.close()
        ctx = ssl.create_default_context(cafile=self.ca.ca)
        self.assertEqual(api(self.mock, "getMe", {}, ctx=ctx)[0], 200)

    def test_reset_over_tls(self):
        self.mock.fail(method="sendMessage", reset=True, times=1)
        ctx = ssl.create_default_context(cafile=self.ca.ca)
        self.assertIsNone(api(self.mock, "sendMessage", {"chat_id": 9, "text": "a"}, ctx=ctx)[0])
        self.assertEqual(api(self.mock, "sendMessage", {"chat_id": 9, "text": "a"}, ctx=ctx)[0], 200)


if __name__ == "__main__":
    unittest.main()
