"""Self-test of the mock Telegram Bot API (mock_telegram.py): run with
/usr/bin/python3 -m unittest -v test_mock_telegram (from tests/support/; ctest does)."""

import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_telegram.py")
sys.path.insert(0, HERE)
import mock_common  # noqa: E402
from mock_common import stop_mock  # noqa: E402,F401
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def start_mock(*args):
    return mock_common.start_mock(MOCK, *args)


class Client:
    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, content_type="application/json"):
        return mock_common.request(self.port, method, path, body, content_type=content_type)

    def api(self, method, body=None, token=TOKEN, **kw):
        return self.request("POST", "/bot%s/%s" % (token, method), body if body is not None else {}, **kw)

    def calls(self, method=None):
        q = "?method=" + method if method else ""
        return self.request("GET", "/__calls" + q)[1]


class MockTelegramTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_mock()
        cls.c = Client(cls.port)

    @classmethod
    def tearDownClass(cls):
        stop_mock(cls.proc)

    def setUp(self):
        self.assertEqual(self.c.request("POST", "/__reset")[0], 200)

    def test_send_message_json(self):
        status, r = self.c.api("sendMessage", {"chat_id": 9007199254740993, "text": "Hola 😀"})
        self.assertEqual(status, 200)
        self.assertTrue(r["ok"])
        self.assertEqual(r["result"]["message_id"], 1)
        self.assertEqual(r["result"]["chat"]["id"], 9007199254740993)
        self.assertEqual(r["result"]["text"], "Hola 😀")
        status, r = self.c.api("sendMessage", {"chat_id": 1, "text": "otra"})
        self.assertEqual(r["result"]["message_id"], 2)
        calls = self.c.calls()
        self.assertEqual([c["method"] for c in calls], ["sendMessage", "sendMessage"])
        self.assertEqual(calls[0]["token"], TOKEN)
        self.assertEqual(calls[0]["body"], {"chat_id": 9007199254740993, "text": "Hola 😀"})
        self.assertEqual(calls[0]["status"], 200)

    def test_form_body_and_keyboard(self):
        markup = {"inline_keyboard": [[{"text": "Sí", "callback_data": "r1.ab.0"}]]}
        form = urllib.parse.urlencode({"chat_id": "12345", "text": "¿Seguimos?", "reply_markup": json.dumps(markup)})
        status, r = self.c.api("sendmessage", form, content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 200)
        self.assertEqual(r["result"]["chat"]["id"], 12345)
        self.assertEqual(r["result"]["reply_markup"], markup)
        [call] = self.c.calls("sendMessage")  # method filter is case-insensitive
        self.assertEqual(call["body"]["reply_markup"], markup)

    def test_true_methods_and_media(self):
        self.assertEqual(self.c.api("answerCallbackQuery", {"callback_query_id": "q1"})[1], {"ok": True, "result": True})
        self.assertEqual(self.c.api("setWebhook", {"url": "https://x/webhooks/telegram", "secret_token": "s"})[1]["result"], True)
        self.assertEqual(self.c.api("getWebhookInfo")[1]["result"]["url"], "https://x/webhooks/telegram")
        self.assertTrue(self.c.api("getMe")[1]["result"]["is_bot"])
        status, r = self.c.api("sendPhoto", {"chat_id": 5, "photo": "https://cdn/a.png", "caption": "mapa"})
        self.assertEqual(status, 200)
        self.assertEqual(r["result"]["caption"], "mapa")
        self.assertIn("photo", r["result"])
        status, r = self.c.api("sendDocument", {"chat_id": 5, "document": "https://cdn/guia.pdf"})
        self.assertEqual(r["result"]["document"]["file_name"], "guia.pdf")
        stats = self.c.request("GET", "/__stats")[1]
        self.assertEqual(stats["total"], 6)
        self.assertEqual(stats["counts"]["sendPhoto"], 1)

    def test_validation_like_telegram(self):
        cases = [
            ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, 400, "message is too long"),
            ("sendMessage", {"chat_id": 1, "text": "😀" * 2049}, 400, "message is too long"),
            ("sendMessage", {"chat_id": 1, "text": "   "}, 400, "message text is empty"),
            ("sendMessage", {"text": "hi"}, 400, "chat_id is empty"),
            ("sendPhoto", {"chat_id": 1, "photo": "u", "caption": "c" * 1025}, 400, "caption is too long"),
            ("sendMessage", {"chat_id": 1, "text": "q", "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "r" * 65}]]}},
             400, "BUTTON_DATA_INVALID"),
            ("noSuchMethod", {}, 404, "Not Found"),
        ]
        for method, body, status, text in cases:
            with self.subTest(method=method, text=text):
                got, r = self.c.api(method, body)
                self.assertEqual(got, status)
                self.assertFalse(r["ok"])
                self.assertEqual(r["error_code"], status)
                self.assertIn(text, r["description"])
        self.assertEqual(self.c.api("sendMessage", {"chat_id": 1, "text": "x" * 4096})[0], 200)
        got, r = self.c.request("POST", "/bot%s/sendMessage" % TOKEN, "{not json")
        self.assertEqual(got, 400)

    def test_fail_429_once(self):
        self.c.request("POST", "/__fail", {"method": "sendMessage", "status": 429, "retry_after": 2, "times": 1})
        self.assertEqual(self.c.api("getMe")[0], 200)  # another method is not affected
        status, r = self.c.api("sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual(status, 429)
        self.assertEqual(r["parameters"]["retry_after"], 2)
        self.assertEqual(r["description"], "Too Many Requests: retry after 2")
        self.assertEqual(self.c.api("sendMessage", {"chat_id": 1, "text": "a"})[0], 200)
        self.assertEqual([c["status"] for c in self.c.calls("sendMessage")], [429, 200])

    def test_fail_403_500_and_raw(self):
        self.c.request("POST", "/__fail", [{"status": 403}, {"status": 500}, {"status": 200, "body": "<html>"}])
        status, r = self.c.api("sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual((status, r["description"]), (403, "Forbidden: bot was blocked by the user"))
        status, r = self.c.api("sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual((status, r["error_code"]), (500, 500))
        status, r = self.c.api("sendMessage", {"chat_id": 1, "text": "a"})
        self.assertEqual((status, r), (200, "<html>"))
        self.assertEqual(self.c.api("sendMessage", {"chat_id": 1, "text": "a"})[0], 200)

    def test_fail_until_reset(self):
        self.c.request("POST", "/__fail", {"method": "sendMessage", "status": 403, "times": None,
                                           "description": "Forbidden: user is deactivated"})
        for _ in range(3):
            self.assertEqual(self.c.api("sendMessage", {"chat_id": 1, "text": "a"})[1]["description"],
                             "Forbidden: user is deactivated")
        self.c.request("POST", "/__reset")
        self.assertEqual(self.c.api("sendMessage", {"chat_id": 1, "text": "a"})[0], 200)
        self.assertEqual(len(self.c.calls()), 1)

    def test_delay_does_not_block_other_calls(self):
        self.c.request("POST", "/__fail", {"method": "getMe", "delay_ms": 800})
        done = {}

        def slow():
            t0 = time.monotonic()
            done["status"] = self.c.api("getMe")[0]
            done["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.1)
        t0 = time.monotonic()
        self.assertEqual(self.c.api("sendMessage", {"chat_id": 1, "text": "a"})[0], 200)
        self.assertLess(time.monotonic() - t0, 0.5)
        t.join(10)
        self.assertEqual(done["status"], 200)
        self.assertGreaterEqual(done["elapsed"], 0.75)


class MockTelegramProcessTest(unittest.TestCase):
    def test_token_check(self):
        proc, port = start_mock("--token", TOKEN)
        try:
            c = Client(port)
            status, r = c.api("sendMessage", {"chat_id": 1, "text": "a"}, token="1:wrong")
            self.assertEqual((status, r["description"]), (401, "Unauthorized"))
            self.assertEqual(c.api("sendMessage", {"chat_id": 1, "text": "a"})[0], 200)
        finally:
            self.assertEqual(stop_mock(proc), 0)

    def test_sigterm_exits_cleanly(self):
        proc, port = start_mock()
        Client(port).api("getMe")
        t0 = time.monotonic()
        self.assertEqual(stop_mock(proc), 0)
        self.assertLess(time.monotonic() - t0, 5)


if __name__ == "__main__":
    unittest.main()
