#!/usr/bin/python3
"""A mock WhatsApp Cloud API (Graph API /messages) for aula's integration tests and the demo.
Standard library only.

    /usr/bin/python3 tests/support/mock_whatsapp.py [PORT] [--token T] [--phone-number-id ID]
                                                    [--keep N] [--verbose] [--tls CERT KEY]
                                                    [--latency MS]

Listens on 127.0.0.1:PORT (0, the default, picks a free port). The first line on stdout is
always `PORT <n>`; nothing else is written to stdout. With --tls it speaks HTTPS only, with the
certificate chain CERT and the private key KEY (PEM files); the handshake runs in the
connection's own thread. With --latency every API call is answered MS milliseconds late.

Graph API:  POST /<version>/<phone-number-id>/messages with a JSON body (aula's adapter points
  its api_base at http://127.0.0.1:<port>/v21.0). Answers like the Cloud API:
    {"messaging_product":"whatsapp","contacts":[{"input":to,"wa_id":…}],"messages":[{"id":"wamid.<n>"}]}
  (a Mexican "52"+10 digits comes back with the wa_id "521"+10 digits, as WhatsApp does; a
  template adds "message_status":"accepted"), and {"success":true} to a mark-read call
  ({"status":"read","message_id":…}). It checks what Meta checks and aula could get wrong,
  answering Graph-style errors {"error":{"message","type","code","error_data":{"details"},
  "fbtrace_id"}} with HTTP 400: messaging_product "whatsapp", a "to" of digits, a known type;
  text.body 1–4096 UTF-16 code units; captions ≤ 1024 (none on audio or stickers); media by
  link or id; interactive: body.text 1–1024, at most 3 reply buttons with unique ids and
  titles of 1–20 characters, a list with a button label of 1–20, 1–10 sections, at most 10 rows
  in all, row ids unique and ≤ 200, row titles 1–24, descriptions ≤ 72; templates: a name and
  language.code. With --token, any other Bearer token is 401 (code 190); with
  --phone-number-id, another id is 400 (code 100). Any other path is 404.

Control endpoints (for tests):
  GET  /__calls[?to=525512345678][&type=text]  every recorded call, oldest first: [{seq,
                                      phone_number_id, version, token, to, type, body, status,
                                      id, at, delay_ms, reset}] (the last --keep calls, default
                                      100000). A call is recorded when it has arrived; status
                                      is null until answered, 0 when the connection was cut.
  GET  /__stats                       {"counts": {type: n}, "total": n}: exact, never trimmed
  POST /__reset                       forget calls, counts and rules; wamid numbers restart at 1
  POST /__fail                        queue a failure rule (or a JSON list of them):
         {"to": "525512345678", "code": 131047, "status": 400, "times": 1}
         {"code": 131056}              Graph error 131056 (HTTP 400 unless "status" is given)
         {"status": 500}               HTTP 500 with code 131000 (401→190, 429→130429, 503→131016)
         {"delay_ms": 1500}            answer normally, but late (add "status"/"code" to fail late)
         {"status": 200, "body": "<html>"}  answer this raw body
         {"reset": true}               read the request, then cut the connection (TCP RST)
                                       without answering and without acting on the call
         {"type": "text", "code": 131047, "times": -1}  only calls of this message type
       "to" and "type" omitted = any; "times" omitted = 1, null or -1 = until /__reset;
       "message" and "details" override the default texts. The first matching rule applies.
SIGTERM or SIGINT: stop serving and exit 0.

Importable helpers for tests that post webhooks to aula: sign(app_secret, body) → the
X-Hub-Signature-256 header value; notification(...), text_message(...), button_reply(...),
list_reply(...), template_reply(...), media_message(...), status(...) build payloads as Meta
sends them; signed(app_secret, payload) → (body bytes, headers).
"""

import hashlib
import hmac
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_common  # noqa: E402  (the skeleton the mocks share)
from mock_common import blank, utf16_len  # noqa: E402,F401

# Default (message, details) of the Graph error codes the mock can be told to answer.
ERRORS = {
    4: ("(#4) Application request limit reached", "Application request limit reached"),
    100: ("(#100) Invalid parameter", "Invalid parameter"),
    190: ("Invalid OAuth access token - Cannot parse access token", ""),
    368: ("Temporarily blocked for policies violations", "Temporarily blocked for policies violations"),
    80007: ("(#80007) Rate limit issues", "The WhatsApp Business Account has reached its rate limit"),
    130429: ("(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("(#131000) Something went wrong", "Something went wrong"),
    131008: ("(#131008) Required parameter is missing", "Required parameter is missing"),
    131009: ("(#131009) Parameter value is not valid", "Parameter value is not valid"),
    131016: ("(#131016) Service unavailable", "A service is temporarily unavailable."),
    131026: ("(#131026) Message undeliverable", "Message undeliverable"),
    131047: ("(#131047) Re-engagement message",
             "Message failed to send because more than 24 hours have passed since the customer last "
             "replied to this number."),
    131048: ("(#131048) Spam rate limit hit", "Message failed to send because there are restrictions on how many "
             "messages can be sent from this phone number."),
    131050: ("(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing "
             "messages on WhatsApp from your business.", ""),
    131053: ("(#131053) Media upload error", "Unable to download the media"),
    131056: ("(#131056) (Business Account, Consumer Account) pair rate limit hit",
             "Message failed to send because there were too many messages sent from this phone number to the "
             "same phone number in a short period of time."),
    133016: ("(#133016) Account register deregister rate limit exceeded", ""),
}
CODE_FOR_STATUS = {400: 100, 401: 190, 403: 200, 404: 100, 429: 130429, 500: 131000, 502: 131000, 503: 131016}

MESSAGE_TYPES = {"text", "interactive", "template", "image", "audio", "video", "document", "sticker",
                 "location", "contacts", "reaction"}
MEDIA_TYPES = {"image", "audio", "video", "document", "sticker"}


# ---------------------------------------------------------------------------------------------
# Webhook payloads, as Meta sends them (for tests that post to aula).

def sign(app_secret, body):
    """The X-Hub-Signature-256 header value for `body` (bytes or str)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    key = app_secret.encode("utf-8") if isinstance(app_secret, str) else app_secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signed(app_secret, payload):
    """(body bytes, headers) for POSTing `payload` (a dict or str) to aula's webhook."""
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload, ensure_ascii=False)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(app_secret, body)}


def notification(phone_number_id, messages=(), statuses=(), contacts=(), field="messages",
                 display_phone_number="15550783881", waba_id="102290129340398"):
    """A whole notification: one entry, one change with these messages / statuses / contacts."""
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": display_phone_number, "phone_number_id": phone_number_id}}
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"object": "whatsapp_business_account",
            "entry": [{"id": waba_id, "changes": [{"value": value, "field": field}]}]}


def contact(wa_id, name):
    return {"profile": {"name": name}, "wa_id": wa_id}


_wamid_in = [0]
_wamid_lock = threading.Lock()


def _inbound_id():
    with _wamid_lock:
        _wamid_in[0] += 1
        return "wamid.IN%d.%d" % (int(time.time() * 1000), _wamid_in[0])


def _message(wa_id, type_, fields, id=None, timestamp=None, context=None):
    m = {"from": wa_id, "id": id or _inbound_id(), "timestamp": str(int(timestamp or time.time())), "type": type_}
    if context:
        m["context"] = {"from": "15550783881", "id": context}
    m.update(fields)
    return m


def text_message(wa_id, text, **kw):
    return _message(wa_id, "text", {"text": {"body": text}}, **kw)


def button_reply(wa_id, ref, title="", **kw):
    return _message(wa_id, "interactive",
                    {"interactive": {"type": "button_reply", "button_reply": {"id": ref, "title": title or ref}}}, **kw)


def list_reply(wa_id, ref, title="", description=None, **kw):
    row = {"id": ref, "title": title or ref}
    if description is not None:
        row["description"] = description
    return _message(wa_id, "interactive", {"interactive": {"type": "list_reply", "list_reply": row}}, **kw)


def template_reply(wa_id, payload="aula:continue", text="Continuar", **kw):
    """A tap on a template's quick reply."""
    return _message(wa_id, "button", {"button": {"payload": payload, "text": text}}, **kw)


def media_message(wa_id, type_="image", media_id="1003383421387256", caption=None, voice=None, **kw):
    obj = {"id": media_id, "mime_type": {"image": "image/jpeg", "audio": "audio/ogg; codecs=opus",
                                         "video": "video/mp4", "document": "application/pdf",
                                         "sticker": "image/webp"}.get(type_, "application/octet-stream"),
           "sha256": hashlib.sha256(media_id.encode()).hexdigest()}
    if caption is not None:
        obj["caption"] = caption
    if voice is not None:
        obj["voice"] = voice
    return _message(wa_id, type_, {type_: obj}, **kw)


def status(wamid, state, recipient_id, timestamp=None, error_code=None, error_title=None):
    s = {"id": wamid, "status": state, "timestamp": str(int(timestamp or time.time())), "recipient_id": recipient_id}
    if error_code is not None:
        title = error_title or ERRORS.get(error_code, ("Error", ""))[0]
        s["errors"] = [{"code": error_code, "title": title, "message": title,
                        "error_data": {"details": ERRORS.get(error_code, ("", ""))[1]}}]
    return s


# ---------------------------------------------------------------------------------------------
# The mock server.

class State(mock_common.State):
    def reset_extra(self):
        self.next_id = 1

    def take_rule(self, body):
        to = str(body.get("to", "")) if isinstance(body, dict) else ""
        type_ = (body.get("type") if isinstance(body, dict) else None) or ("read" if _is_mark_read(body) else None)

        def matches(rule):
            if "to" in rule and str(rule["to"]).lstrip("+") != to:
                return False
            return not ("type" in rule and rule["type"] != type_)
        return self.take_rule_where(matches)

    def record(self, call):
        return self.append(call.get("type") or "?", call, id=None)

    def snapshot(self, to=None, type_=None):
        return self.select(lambda c: (to is None or c.get("to") == to.lstrip("+"))
                           and (type_ is None or c.get("type") == type_))

    def new_wamid(self):
        with self.lock:
            n = self.next_id
            self.next_id += 1
            return "wamid.%d" % n


def _is_mark_read(body):
    return isinstance(body, dict) and body.get("status") == "read" and "message_id" in body


def error_body(code, message=None, details=None, status=400):
    default = ERRORS.get(code, ("(#%d) Error" % code, ""))
    err = {"message": message or default[0], "type": "OAuthException", "code": code,
           "fbtrace_id": "Amock%06d" % (code % 1000000)}
    details = default[1] if details is None else details
    if details or status == 400:
        err["error_data"] = {"messaging_product": "whatsapp", "details": details or err["message"]}
    return {"error": err}


def _check_len(value, name, lo, hi):
    """(code, details) when `value` is not a string of lo–hi UTF-16 code units, else None."""
    if value is None:
        return 131008, "Parameter '%s' is required" % name
    if not isinstance(value, str):
        return 100, "Param %s must be a string" % name
    if utf16_len(value) < lo or (lo > 0 and blank(value)):
        return 100, "Param %s must be at least %d characters long" % (name, lo)
    if utf16_len(value) > hi:
        return 100, "Param %s must be at most %d characters long" % (name, hi)
    return None


def validate(body):
    """(code, details) of what Meta rejects with 400 and aula's adapter could get wrong; None if fine."""
    if not isinstance(body, dict):
        return 100, "The request body must be a JSON object"
    if _is_mark_read(body):
        if body.get("messaging_product") != "whatsapp":
            return 100, "Param messaging_product must be 'whatsapp'"
        return None
    if body.get("messaging_product") != "whatsapp":
        return 100, "Param messaging_product must be 'whatsapp'"
    to = body.get("to")
    if not isinstance(to, str) or not to.isdigit() or not 5 <= len(to) <= 15:
        return 100, "Param to must be a phone number of digits"
    type_ = body.get("type", "text")
    if type_ not in MESSAGE_TYPES:
        return 100, "Param type must be one of %s" % sorted(MESSAGE_TYPES)
    obj = body.get(type_)
    if not isinstance(obj, dict):
        return 131008, "Parameter '%s' is required" % type_
    if type_ == "text":
        return _check_len(obj.get("body"), "text['body']", 1, 4096)
    if type_ in MEDIA_TYPES:
        if blank(obj.get("link")) and blank(obj.get("id")):
            return 131008, "Parameter 'link' or 'id' is required"
        if "caption" in obj:
            if type_ in ("audio", "sticker"):
                return 100, "Param %s['caption'] is not supported" % type_
            problem = _check_len(obj["caption"], "%s['caption']" % type_, 0, 1024)
            if problem:
                return problem
        return None
    if type_ == "template":
        if blank(obj.get("name")):
            return 131008, "Parameter 'template['name']' is required"
        lang = obj.get("language")
        if not isinstance(lang, dict) or blank(lang.get("code")):
            return 131008, "Parameter 'template['language']['code']' is required"
        return None
    if type_ == "interactive":
        return validate_interactive(obj)
    return None


def validate_interactive(obj):
    kind = obj.get("type")
    body = obj.get("body")
    problem = _check_len(body.get("text") if isinstance(body, dict) else None, "interactive['body']['text']", 1, 1024)
    if problem:
        return problem
    action = obj.get("action")
    if not isinstance(action, dict):
        return 131008, "Parameter 'interactive['action']' is required"
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return 131009, "Param interactive['action']['buttons'] must have between 1 and 3 items"
        ids, titles = set(), set()
        for b in buttons:
            reply = b.get("reply") if isinstance(b, dict) else None
            if not isinstance(b, dict) or b.get("type") != "reply" or not isinstance(reply, dict):
                return 100, "Param interactive['action']['buttons'][]['type'] must be 'reply'"
            problem = (_check_len(reply.get("title"), "buttons[]['reply']['title']", 1, 20)
                       or _check_len(reply.get("id"), "buttons[]['reply']['id']", 1, 256))
            if problem:
                return problem
            if reply["id"] in ids or reply["title"] in titles:
                return 131009, "Button titles and ids must be unique"
            ids.add(reply["id"])
            titles.add(reply["title"])
        return None
    if kind == "list":
        problem = _check_len(action.get("button"), "interactive['action']['button']", 1, 20)
        if problem:
            return problem
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            return 131009, "Param interactive['action']['sections'] must have between 1 and 10 items"
        ids, rows_total = set(), 0
        for section in sections:
            rows = section.get("rows") if isinstance(section, dict) else None
            if not isinstance(rows, list) or not rows:
                return 131009, "Param sections[]['rows'] must have at least 1 item"
            if len(sections) > 1:
                problem = _check_len(section.get("title"), "sections[]['title']", 1, 24)
                if problem:
                    return problem
            for row in rows:
                if not isinstance(row, dict):
                    return 100, "Param rows[] must be an object"
                problem = (_check_len(row.get("id"), "rows[]['id']", 1, 200)
                           or _check_len(row.get("title"), "rows[]['title']", 1, 24))
                if not problem and "description" in row:
                    problem = _check_len(row["description"], "rows[]['description']", 0, 72)
                if problem:
                    return problem
                if row["id"] in ids:
                    return 131009, "Row ids must be unique"
                ids.add(row["id"])
                rows_total += 1
        if rows_total > 10:
            return 131009, "Total row count exceed max allowed count: 10"
        return None
    return 100, "Param interactive['type'] must be 'button' or 'list'"


def wa_id_of(to):
    """The wa_id WhatsApp reports for `to`: Mexican mobiles keep their old "521" form."""
    if to.startswith("52") and len(to) == 12:
        return "521" + to[2:]
    return to


class Handler(mock_common.Handler):
    server_version = "mock-whatsapp/1"
    name = "mock_whatsapp"

    # Set on the class by main().
    token = None
    phone_number_id = None

    def calls_query(self, query):
        return self.state.snapshot(query.get("to", [None])[0], query.get("type", [None])[0])

    def not_found(self, url):
        self.send_json(404, error_body(100, "Unknown path components: " + url.path, "", 404))

    def api_post(self, url, raw):
        parts = url.path.split("/")  # ["", "<version>", "<phone-number-id>", "messages"]
        if len(parts) == 4 and parts[3] == "messages" and parts[1] and parts[2]:
            return self.api_call(parts[1], parts[2], raw)
        self.not_found(url)

    def api_call(self, version, phone_number_id, raw):
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        call = {"version": version, "phone_number_id": phone_number_id, "token": token, "body": body,
                "to": str(body.get("to", "")) if isinstance(body, dict) else "",
                "type": ("read" if _is_mark_read(body) else body.get("type", "text")) if isinstance(body, dict) else None}
        if self.token is not None and token != self.token:
            self.state.finish(self.state.record(call), 401)
            return self.send_json(401, error_body(190, status=401))
        if self.phone_number_id is not None and phone_number_id != self.phone_number_id:
            self.state.finish(self.state.record(call), 400)
            return self.send_json(400, error_body(
                100, "Unsupported post request. Object with ID '%s' does not exist" % phone_number_id, ""))
        if body is None:
            self.state.finish(self.state.record(call), 400)
            return self.send_json(400, error_body(100, "(#100) The parameter messaging_product is required.",
                                                  "Unable to parse the request body as JSON"))

        rule = self.state.take_rule(body)
        call = self.state.record(call)
        delay_ms, done = self.apply_rule(call, rule)
        if done:
            return
        if rule and ("code" in rule or ("status" in rule and not 200 <= int(rule["status"]) < 300)):
            status = int(rule.get("status", 400))
            code = int(rule.get("code", CODE_FOR_STATUS.get(status, 100)))
            self.state.finish(call, status, delay_ms)
            return self.send_json(status, error_body(code, rule.get("message"), rule.get("details"), status))

        problem = validate(body)
        if problem:
            self.state.finish(call, 400, delay_ms)
            return self.send_json(400, error_body(problem[0], None, problem[1]))
        if _is_mark_read(body):
            self.state.finish(call, 200, delay_ms)
            return self.send_json(200, {"success": True})
        wamid = self.state.new_wamid()
        self.state.finish(call, 200, delay_ms, id=wamid)
        message = {"id": wamid}
        if body.get("type") == "template":
            message["message_status"] = "accepted"
        self.send_json(200, {"messaging_product": "whatsapp",
                             "contacts": [{"input": body["to"], "wa_id": wa_id_of(body["to"])}],
                             "messages": [message]})


def main(argv=None):
    ap = mock_common.arg_parser("Mock WhatsApp Cloud API on 127.0.0.1")
    ap.add_argument("--token", default=None, help="accept only this Bearer token (else any)")
    ap.add_argument("--phone-number-id", default=None, help="accept only this phone number id (else any)")
    mock_common.add_server_args(ap)
    args = ap.parse_args(argv)

    Handler.token = args.token
    Handler.phone_number_id = args.phone_number_id
    return mock_common.serve(args, Handler, State(args.keep))


if __name__ == "__main__":
    sys.exit(main())
