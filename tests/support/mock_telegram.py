#!/usr/bin/python3
"""A mock Telegram Bot API for aula's integration tests and the demo. Standard library only.

    /usr/bin/python3 tests/support/mock_telegram.py [PORT] [--token T] [--keep N] [--verbose]
                                                    [--tls CERT KEY] [--latency MS]

Listens on 127.0.0.1:PORT (0, the default, picks a free port). The first line on stdout is
always `PORT <n>`; nothing else is written to stdout. With --tls it speaks HTTPS only, with
the certificate chain CERT and the private key KEY (PEM files); the TLS handshake runs in the
connection's own thread, so a slow client never blocks the others. With --latency every Bot
API call is answered MS milliseconds late (the real API's round trip; rules' delays add to it).

Bot API:  POST (or GET) /bot<token>/<method> with a JSON, form-encoded or query-string body.
  Answers like Telegram: {"ok":true,"result":...}. send* methods return a Message with an
  incrementing message_id (sendMessage echoes chat and text; media methods give a file object
  and the caption); answerCallbackQuery, setWebhook, deleteWebhook, sendChatAction, … return
  true; getMe a bot User. It checks what Telegram checks and aula could get wrong: a missing
  chat_id, an empty text, a text over 4096 or a caption over 1024 UTF-16 code units, a
  callback_data outside 1–64 bytes (400 with Telegram's description); an unknown method is 404;
  with --token, any other token is 401. Method names are case-insensitive, as in Telegram.

Control endpoints (for tests):
  GET  /__calls[?method=sendMessage]  every recorded call, oldest first: [{seq, method, token,
                                      body, status, at, delay_ms, reset}] (the last --keep calls,
                                      default 100000). A call is recorded when its request has
                                      arrived (that is when Telegram acts on it), so a late
                                      answer keeps its place; its status is null until answered.
                                      delay_ms: how late it was answered (0: at once); reset:
                                      true when the connection was cut instead of answered (the
                                      call had no effect: status 0).
  GET  /__stats                       {"counts": {method: n}, "total": n}: exact, never trimmed
  POST /__reset                       forget calls, counts and failure rules; message_id restarts at 1
  POST /__fail                        queue a failure rule (or a JSON list of them):
         {"method": "sendMessage", "status": 429, "retry_after": 2, "times": 1}
         {"status": 403}  → "Forbidden: bot was blocked by the user"
         {"status": 500}
         {"delay_ms": 1500}            answer normally, but late (add "status" to fail late)
         {"status": 200, "body": "<html>"}  answer this raw body
         {"reset": true}               read the request, then cut the connection (TCP RST) without
                                       answering and without acting on the call
         {"chat_id": 77, "status": 500, "times": -1}   only calls for this chat (compared as text)
       "method" omitted = any method; "chat_id" omitted = any chat; "times" omitted = 1, null or
       -1 = until /__reset; "description" overrides the default text. The first matching rule
       applies.
SIGTERM or SIGINT: stop serving and exit 0.
"""

import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_common  # noqa: E402  (the skeleton the mocks share)
from mock_common import blank, utf16_len  # noqa: E402,F401

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Aula", "username": "aula_mock_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}

DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: can't use getUpdates method while webhook is active",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

# Methods that return a Message, and the file field each carries.
MESSAGE_METHODS = {
    "sendmessage": None, "sendphoto": "photo", "senddocument": "document", "sendaudio": "audio",
    "sendvoice": "voice", "sendvideo": "video", "sendanimation": "animation", "sendsticker": "sticker",
    "sendlocation": None, "sendcontact": None, "senddice": None, "forwardmessage": None,
}
EDIT_METHODS = {"editmessagereplymarkup", "editmessagetext", "editmessagecaption"}
TRUE_METHODS = {
    "answercallbackquery", "setwebhook", "deletewebhook", "sendchataction", "setmycommands",
    "deletemycommands", "deletemessage", "setchatmenubutton", "logout", "close",
}
FORM_JSON_FIELDS = {"reply_markup", "entities", "caption_entities", "allowed_updates", "commands",
                    "reply_parameters", "link_preview_options", "media"}


class State(mock_common.State):
    def reset_extra(self):
        self.next_message_id = 1
        self.webhook_url = ""

    def take_rule(self, method, body=None):
        def matches(rule):
            if "chat_id" in rule and (body is None or str(body.get("chat_id")) != str(rule["chat_id"])):
                return False
            m = rule.get("method")
            return m is None or str(m).lower() == method.lower()
        return self.take_rule_where(matches)

    def record(self, method, token, body, status):
        """Records a call as it arrives; returns it for finish() when status is None (pending)."""
        return self.append(method, {"method": method, "token": token, "body": body}, status=status)

    def snapshot(self, want=None):
        return self.select(lambda c: want is None or c["method"].lower() == want.lower())

    def new_message_id(self):
        with self.lock:
            mid = self.next_message_id
            self.next_message_id += 1
            return mid


def validate(method, body):
    """What Telegram rejects with 400 that aula's adapter could get wrong; None if fine."""
    m = method.lower()
    if m in MESSAGE_METHODS or m in EDIT_METHODS:
        if "chat_id" not in body and "inline_message_id" not in body:
            return "Bad Request: chat_id is empty"
    if m == "sendmessage" or m == "editmessagetext":
        text = body.get("text")
        if blank(text):
            return "Bad Request: message text is empty"
        if utf16_len(text) > 4096:
            return "Bad Request: message is too long"
    field = MESSAGE_METHODS.get(m)
    if field and blank(body.get(field)):
        return "Bad Request: there is no %s in the request" % field
    caption = body.get("caption")
    if isinstance(caption, str) and utf16_len(caption) > 1024:
        return "Bad Request: message caption is too long"
    markup = body.get("reply_markup")
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            return "Bad Request: field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays"
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or blank(button.get("text")):
                    return "Bad Request: BUTTON_TEXT_EMPTY"
                data = button.get("callback_data")
                if data is not None and not (isinstance(data, str) and 1 <= len(data.encode("utf-8")) <= 64):
                    return "Bad Request: BUTTON_DATA_INVALID"
    return None


def chat_of(body):
    chat_id = body.get("chat_id", 0)
    try:
        chat_id = int(chat_id)
    except (TypeError, ValueError):
        pass
    return {"id": chat_id, "type": "private"}


def message_result(state, method, body):
    m = method.lower()
    mid = state.new_message_id()
    msg = {"message_id": mid, "from": BOT_USER, "chat": chat_of(body), "date": int(time.time())}
    if m == "sendmessage":
        msg["text"] = body.get("text", "")
    field = MESSAGE_METHODS.get(m)
    if field:
        ref = body.get(field)
        name = os.path.basename(urllib.parse.urlparse(ref).path) if isinstance(ref, str) else "file"
        info = {"file_id": "%s-%d" % (field, mid), "file_unique_id": "u%d" % mid, "file_size": 1000}
        if field == "photo":
            msg["photo"] = [dict(info, width=320, height=240)]
        else:
            msg[field] = dict(info, file_name=name or "file")
    if "caption" in body:
        msg["caption"] = body["caption"]
    if isinstance(body.get("reply_markup"), dict):
        msg["reply_markup"] = body["reply_markup"]
    return msg


def answer(state, method, body):
    """(status, result) for a well-formed call."""
    m = method.lower()
    if m in MESSAGE_METHODS:
        return 200, message_result(state, method, body)
    if m in EDIT_METHODS:
        if "inline_message_id" in body:
            return 200, True
        msg = {"message_id": body.get("message_id", 0), "from": BOT_USER, "chat": chat_of(body),
               "date": int(time.time()), "edit_date": int(time.time())}
        if "text" in body:
            msg["text"] = body["text"]
        if isinstance(body.get("reply_markup"), dict) and body["reply_markup"].get("inline_keyboard"):
            msg["reply_markup"] = body["reply_markup"]
        return 200, msg
    if m == "setwebhook":
        with state.lock:
            state.webhook_url = body.get("url", "")
        return 200, True
    if m == "deletewebhook":
        with state.lock:
            state.webhook_url = ""
        return 200, True
    if m in TRUE_METHODS:
        return 200, True
    if m == "getme":
        return 200, BOT_USER
    if m == "getwebhookinfo":
        with state.lock:
            url = state.webhook_url
        return 200, {"url": url, "has_custom_certificate": False, "pending_update_count": 0}
    if m == "getupdates":
        return 200, []
    return 404, None


def error_body(status, description=None, retry_after=None):
    out = {"ok": False, "error_code": status,
           "description": description or DESCRIPTIONS.get(status, "Error %d" % status)}
    if status == 429:
        after = 1 if retry_after is None else retry_after
        if not description:
            out["description"] = "Too Many Requests: retry after %d" % after
        out["parameters"] = {"retry_after": after}
    return out


class Handler(mock_common.Handler):
    server_version = "mock-telegram/1"
    name = "mock_telegram"

    # Set on the class by main().
    token = None

    def calls_query(self, query):
        return self.state.snapshot(query.get("method", [None])[0])

    def api_get(self, url):
        if url.path.startswith("/bot"):
            return self.api_call(url, b"")
        self.not_found(url)

    def api_post(self, url, raw):
        if url.path.startswith("/bot"):
            return self.api_call(url, raw)
        self.not_found(url)

    def parse_params(self, url, raw):
        """The call's parameters: query string, then the body (JSON or form). None if unreadable."""
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not raw:
            pass
        elif ctype == "application/json":
            try:
                body = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                return None
            if not isinstance(body, dict):
                return None
            params.update(body)
        elif ctype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
            params.update({k: v[-1] for k, v in form.items()})
        else:  # multipart uploads and the like: recorded, not parsed
            params["_content_type"] = ctype
            params["_bytes"] = len(raw)
        for key in FORM_JSON_FIELDS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params

    def api_call(self, url, raw):
        parts = url.path.split("/")  # ["", "bot<token>", "<method>"]
        if len(parts) != 3 or not parts[2]:
            return self.send_json(404, error_body(404))
        token, method = parts[1][3:], parts[2]
        body = self.parse_params(url, raw)
        if body is None:
            self.state.record(method, token, None, 400)
            return self.send_json(400, error_body(400, "Bad Request: can't parse request body"))
        if self.token is not None and token != self.token:
            self.state.record(method, token, body, 401)
            return self.send_json(401, error_body(401))

        rule = self.state.take_rule(method, body)
        call = self.state.record(method, token, body, None)
        delay_ms, done = self.apply_rule(call, rule)
        if done:
            return
        if rule and "status" in rule and not 200 <= int(rule["status"]) < 300:
            status = int(rule["status"])
            self.state.finish(call, status, delay_ms)
            return self.send_json(status, error_body(status, rule.get("description"), rule.get("retry_after")))

        problem = validate(method, body)
        if problem:
            self.state.finish(call, 400, delay_ms)
            return self.send_json(400, error_body(400, problem))
        status, result = answer(self.state, method, body)
        self.state.finish(call, status, delay_ms)
        if status != 200:
            return self.send_json(status, error_body(status))
        self.send_json(200, {"ok": True, "result": result})


def main(argv=None):
    ap = mock_common.arg_parser("Mock Telegram Bot API on 127.0.0.1")
    ap.add_argument("--token", default=None, help="accept only this bot token (else any)")
    mock_common.add_server_args(ap, "answer every Bot API call this late")
    args = ap.parse_args(argv)

    Handler.token = args.token
    return mock_common.serve(args, Handler, State(args.keep))


if __name__ == "__main__":
    sys.exit(main())
