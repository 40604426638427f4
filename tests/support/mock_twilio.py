#!/usr/bin/python3
"""A mock Twilio Programmable Messaging REST API for aula's integration tests and the demo.
Standard library only.

    /usr/bin/python3 tests/support/mock_twilio.py [PORT] [--sid AC…] [--token T] [--keep N]
                                                  [--verbose] [--tls CERT KEY] [--latency MS]

Listens on 127.0.0.1:PORT (0, the default, picks a free port). The first line on stdout is
always `PORT <n>`; nothing else is written to stdout. With --tls it speaks HTTPS only (CERT and
KEY are PEM files; the handshake runs in the connection's own thread). With --latency every API
call is answered MS milliseconds late (rules' delays add to it).

REST API (CHANNELS.md §3.4):
  POST /2010-04-01/Accounts/<sid>/Messages.json   form body: To, From or MessagingServiceSid,
      Body and/or MediaUrl (repeatable), StatusCallback. Basic auth is required; with --sid and
      --token only that account SID and auth token pass (else 401, code 20003), and the SID in
      the path must be that account's (else 404, code 20404). Checked like Twilio: To present
      (21604) and E.164 (21211), a sender (21603), a Body or a MediaUrl (21602), Body at most
      1600 characters (21617; counted in UTF-16 units, stricter than Twilio may be, so aula's
      splitting is checked against the stricter reading). Answers 201 with a message resource:
      sid "SM" + 32 hex ("MM" with media), status "queued" ("accepted" through a Messaging
      Service), num_segments computed by the GSM-7 / UCS-2 rules (a string, as Twilio sends it).
  GET  /2010-04-01/Accounts/<sid>/Messages/<MessageSid>.json   the resource of a sent message.
  Errors are Twilio's JSON: {"code": N, "message": "...", "more_info": "...", "status": S}.

Control endpoints (for tests):
  GET  /__calls[?to=+52…]   every recorded call, oldest first: [{seq, account_sid, auth_user,
                            to, from, messaging_service_sid, body, media_url: [..],
                            status_callback, params, status, message_sid, num_segments, at,
                            delay_ms, reset}] (the last --keep calls). A call is recorded when it
                            arrives; its status is null until answered, 0 when the connection
                            was cut instead (reset: true).
  GET  /__stats             {"counts": {"messages": n, ...}, "total": n, "segments": n}
  POST /__reset             forget calls, counts, messages and failure rules
  POST /__fail              queue a failure rule (or a JSON list of them):
         {"to": "+525512345678", "code": 21610, "status": 400, "times": 1}
         {"status": 500}                       → code 20500
         {"status": 429, "code": 20429, "retry_after": 2}   (Retry-After header when given)
         {"delay_ms": 1500}                    answer normally, but late (add "status" to fail late)
         {"status": 200, "body": "<html>"}     answer this raw body
         {"reset": true}                       read the request, then cut the connection (TCP RST)
       "to" omitted = any recipient; "times" omitted = 1, null or -1 = until /__reset; "message"
       overrides the default text. The first matching rule applies.
  POST /__status            make Twilio's status callback for a sent message, signed:
         {"status": "delivered", "message_sid": "SM…" (default: the last message sent),
          "error_code": 30003, "url": "…" (default: the message's StatusCallback),
          "auth_token": "…" (default: --token), "cafile": "ca.pem" or "insecure": true (https)}
       → {"ok": true, "status": <HTTP status of the callback>, "body": "...", "params": {...}}
  POST /__inbound           send a signed inbound SMS/MMS webhook, as Twilio does:
         {"url": "http://127.0.0.1:8080/webhooks/twilio", "from": "+525512345678",
          "to": "+15005550006", "body": "Hola", "media": [{"url": …, "content_type": "image/jpeg"}],
          "message_sid": (default: a new one), "auth_token", "cafile"/"insecure"} → as above
SIGTERM or SIGINT: stop serving and exit 0.

Importable: sign(auth_token, url, params) -> X-Twilio-Signature; segments(text) ->
(encoding, units, segments); inbound_params(...), status_params(...) and post_signed(...) build
and send webhooks the way Twilio does.
"""

import base64
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mock_common  # noqa: E402  (the skeleton the mocks share)
from mock_common import utf16_len  # noqa: E402,F401

API_VERSION = "2010-04-01"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")

MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number %(to)s is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: %(to)s.",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21608: "The number %(to)s is unverified. Trial accounts cannot send messages to unverified numbers.",
    21610: "Attempt to send to unsubscribed recipient",
    21611: "This 'From' number has exceeded the maximum number of queued messages",
    21612: "The 'To' phone number: %(to)s, is not currently reachable using the 'From' phone number via SMS.",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}
DEFAULT_CODES = {400: 21211, 401: 20003, 403: 20003, 404: 20404, 429: 20429, 500: 20500, 502: 20500, 503: 20503}

# GSM 03.38: the basic table (1 septet) and the extension table (2 septets: ESC + char).
GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                 "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = set("\f^{}\\[~]|€")


def sign(auth_token, url, params):
    """X-Twilio-Signature: base64(HMAC-SHA1(auth_token, url + name+value of every POST param,
    sorted by name, then by value)). params: a dict, or a list of (name, value) pairs."""
    items = params.items() if isinstance(params, dict) else params
    data = url + "".join(k + v for k, v in sorted((str(k), str(v)) for k, v in items))
    mac = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def segments(text):
    """(encoding, units, segments) of an SMS body: GSM-7 160/153 septets (extension characters
    2), else UCS-2 70/67 UTF-16 units (a character above U+FFFF 2); a character is never split
    across segments."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        costs = [2 if c in GSM7_EXTENSION else 1 for c in text]
        encoding, single, multi = "GSM-7", 160, 153
    else:
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
        encoding, single, multi = "UCS-2", 70, 67
    total = sum(costs)
    if total == 0:
        return encoding, 0, 0
    if total <= single:
        return encoding, total, 1
    count, used = 1, 0
    for k in costs:
        if used + k > multi:
            count, used = count + 1, 0
        used += k
    return encoding, total, count


def new_sid(prefix="SM"):
    return prefix + secrets.token_hex(16)


def rfc2822(t=None):
    return email.utils.format_datetime(datetime.fromtimestamp(t or time.time(), timezone.utc))


def inbound_params(account_sid, from_, to, body, media=(), message_sid=None, messaging_service_sid=None):
    """The form fields of Twilio's inbound-message webhook (CHANNELS.md §3.1)."""
    media = list(media or [])
    sid = message_sid or new_sid("MM" if media else "SM")
    params = {
        "ToCountry": "US", "ToState": "", "SmsMessageSid": sid, "NumMedia": str(len(media)),
        "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
        "FromCity": "", "Body": body, "FromCountry": "MX" if from_.startswith("+52") else "",
        "To": to, "ToZip": "", "NumSegments": str(max(1, segments(body)[2])), "MessageSid": sid,
        "AccountSid": account_sid, "From": from_, "ApiVersion": API_VERSION,
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    for i, m in enumerate(media):
        params["MediaUrl%d" % i] = m.get("url", "")
        params["MediaContentType%d" % i] = m.get("content_type", "image/jpeg")
    return params


def status_params(message, status, error_code=None):
    """The form fields of Twilio's status callback for a message resource (CHANNELS.md §3.5)."""
    params = {
        "SmsSid": message["sid"], "SmsStatus": status, "MessageStatus": status,
        "To": message.get("to") or "", "MessageSid": message["sid"],
        "AccountSid": message.get("account_sid") or "", "ApiVersion": API_VERSION,
    }
    if message.get("messaging_service_sid"):
        params["MessagingServiceSid"] = message["messaging_service_sid"]
    if message.get("from"):
        params["From"] = message["from"]
    if error_code not in (None, ""):
        params["ErrorCode"] = str(error_code)
    return params


def post_signed(url, params, auth_token, cafile=None, insecure=False, timeout=10):
    """POSTs `params` form-encoded to `url` with X-Twilio-Signature, as Twilio does.
    Returns (status, body text); raises OSError when the connection fails."""
    data = urllib.parse.urlencode(list(params.items())).encode("utf-8")
    req = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "X-Twilio-Signature": sign(auth_token, url, params),
        "User-Agent": "TwilioProxy/1.1",
        "Accept": "*/*",
    })
    ctx = None
    if url.startswith("https:"):
        ctx = ssl.create_default_context(cafile=cafile)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


class State(mock_common.State):
    def reset_extra(self):
        self.segments = 0
        self.messages = {}  # sid -> resource
        self.last_sid = None

    def take_rule(self, to):
        return self.take_rule_where(lambda rule: not ("to" in rule and str(rule["to"]) != str(to)))

    def record(self, kind, call):
        return self.append(kind, call, message_sid=None, num_segments=None)

    def finish_extra(self, call, message=None):
        if message is not None:
            call["message_sid"] = message["sid"]
            call["num_segments"] = int(message["num_segments"])
            self.segments += int(message["num_segments"])
            self.messages[message["sid"]] = message
            self.last_sid = message["sid"]

    def snapshot(self, to=None):
        return self.select(lambda c: to is None or c.get("to") == to)

    def stats(self):
        with self.lock:
            return {"counts": dict(self.counts), "total": self.total, "segments": self.segments}

    def message(self, sid=None):
        with self.lock:
            sid = sid or self.last_sid
            m = self.messages.get(sid) if sid else None
            return dict(m) if m else None


def error_body(status, code=None, message=None, to=""):
    code = code or DEFAULT_CODES.get(status, 20500 if status >= 500 else 21211)
    text = message or MESSAGES.get(code, "Error %d" % code)
    if "%(" in text:
        text = text % {"to": to}
    return {"code": code, "message": text, "more_info": "https://www.twilio.com/docs/errors/%d" % code,
            "status": status}


def validate(form):
    """(code, extra) for what Twilio rejects with 400 that aula's adapter could get wrong; None if fine."""
    to = form.get("To", [""])[-1]
    if not to:
        return 21604
    if not E164.match(to):
        return 21211
    if not form.get("From", [""])[-1] and not form.get("MessagingServiceSid", [""])[-1]:
        return 21603
    body = form.get("Body", [""])[-1]
    if not body and not any(form.get("MediaUrl", [])):
        return 21602
    if utf16_len(body) > 1600:
        return 21617
    return None


def message_resource(account_sid, form):
    body = form.get("Body", [""])[-1]
    media = [u for u in form.get("MediaUrl", []) if u]
    service = form.get("MessagingServiceSid", [""])[-1] or None
    sid = new_sid("MM" if media else "SM")
    now = rfc2822()
    return {
        "account_sid": account_sid, "api_version": API_VERSION, "body": body,
        "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": form.get("From", [""])[-1] or None,
        "messaging_service_sid": service, "num_media": str(len(media)),
        "num_segments": "1" if media else str(max(1, segments(body)[2])),
        "price": None, "price_unit": "USD", "sid": sid, "status": "accepted" if service else "queued",
        "subresource_uris": {"media": "/%s/Accounts/%s/Messages/%s/Media.json" % (API_VERSION, account_sid, sid)},
        "to": form.get("To", [""])[-1], "uri": "/%s/Accounts/%s/Messages/%s.json" % (API_VERSION, account_sid, sid),
        "status_callback": form.get("StatusCallback", [""])[-1] or None,  # not in Twilio's resource; kept for /__status
    }


class Handler(mock_common.Handler):
    server_version = "mock-twilio/1"
    name = "mock_twilio"
    json_type = "application/json; charset=utf-8"
    error_key = "message"

    # Set on the class by main().
    sid = None
    token = None

    def credentials(self):
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user, password

    def calls_query(self, query):
        return self.state.snapshot(query.get("to", [None])[0])

    def not_found(self, url):
        self.send_json(404, error_body(404, 20404))

    def api_get(self, url):
        m = MESSAGE_PATH.match(url.path)
        if m:
            creds = self.credentials()
            if creds is None or (self.token is not None and creds != (self.sid or creds[0], self.token)):
                return self.send_json(401, error_body(401, 20003))
            msg = self.state.message(m.group(2))
            if not msg or msg["account_sid"] != m.group(1):
                return self.send_json(404, error_body(404, 20404))
            msg.pop("status_callback", None)
            return self.send_json(200, msg)
        self.not_found(url)

    def api_post(self, url, raw):
        if url.path in ("/__status", "/__inbound"):
            return self.send_webhook(url.path, raw)
        m = MESSAGES_PATH.match(url.path)
        if m:
            return self.create_message(m.group(1), raw)
        self.not_found(url)

    def create_message(self, account_sid, raw):
        creds = self.credentials()
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            text = raw.decode("utf-8")
            form = urllib.parse.parse_qs(text, keep_blank_values=True, strict_parsing=False) if raw else {}
        except UnicodeDecodeError:
            form = None
        call = {"account_sid": account_sid, "auth_user": creds[0] if creds else None,
                "to": None, "from": None, "messaging_service_sid": None, "body": None, "media_url": [],
                "status_callback": None, "params": None}
        if form is not None:
            call.update({"to": form.get("To", [None])[-1], "from": form.get("From", [None])[-1],
                         "messaging_service_sid": form.get("MessagingServiceSid", [None])[-1],
                         "body": form.get("Body", [None])[-1], "media_url": form.get("MediaUrl", []),
                         "status_callback": form.get("StatusCallback", [None])[-1],
                         "params": {k: v[-1] if len(v) == 1 else v for k, v in form.items()}})
        call = self.state.record("messages", call)

        if creds is None or (self.token is not None and creds[1] != self.token) or \
                (self.sid is not None and creds[0] != self.sid):
            self.state.finish(call, 401)
            return self.send_json(401, error_body(401, 20003))
        if creds[0] != account_sid:
            self.state.finish(call, 404)
            return self.send_json(404, error_body(404, 20404))
        if form is None or (raw and ctype != "application/x-www-form-urlencoded"):
            self.state.finish(call, 400)
            return self.send_json(400, error_body(400, 21602))

        rule = self.state.take_rule(call["to"])
        delay_ms, done = self.apply_rule(call, rule)
        if done:
            return
        if rule and ("code" in rule or ("status" in rule and not 200 <= int(rule["status"]) < 300)):
            status = int(rule.get("status", 400))
            self.state.finish(call, status, delay_ms)
            headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else None
            return self.send_json(status, error_body(status, rule.get("code"), rule.get("message"), call["to"] or ""),
                                  headers=headers)

        problem = validate(form)
        if problem:
            self.state.finish(call, 400, delay_ms)
            return self.send_json(400, error_body(400, problem, to=call["to"] or ""))
        msg = message_resource(account_sid, form)
        self.state.finish(call, 201, delay_ms, message=msg)
        out = dict(msg)
        out.pop("status_callback", None)
        self.send_json(201, out)

    def send_webhook(self, path, raw):
        try:
            req = json.loads(raw or b"{}")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            return self.send_json(400, {"ok": False, "message": "a JSON object is expected"})
        token = req.get("auth_token") or self.token
        if not token:
            return self.send_json(400, {"ok": False, "message": "no auth_token (and no --token)"})
        if path == "/__status":
            msg = self.state.message(req.get("message_sid"))
            if not msg:
                return self.send_json(404, {"ok": False, "message": "no such message"})
            url = req.get("url") or msg.get("status_callback")
            params = status_params(msg, req.get("status", "delivered"), req.get("error_code"))
        else:
            url = req.get("url")
            params = inbound_params(req.get("account_sid") or self.sid or "AC" + "0" * 32,
                                    req.get("from", "+525512345678"), req.get("to", "+15005550006"),
                                    req.get("body", ""), req.get("media") or [], req.get("message_sid"),
                                    req.get("messaging_service_sid"))
        if not url:
            return self.send_json(400, {"ok": False, "message": "no url"})
        try:
            status, body = post_signed(url, params, token, req.get("cafile"), bool(req.get("insecure")))
        except (OSError, ValueError) as e:
            return self.send_json(502, {"ok": False, "message": str(e), "params": params})
        self.send_json(200, {"ok": True, "status": status, "body": body, "params": params, "url": url})


def main(argv=None):
    ap = mock_common.arg_parser("Mock Twilio Messaging REST API on 127.0.0.1")
    ap.add_argument("--sid", default=None, help="accept only this account SID (else any)")
    ap.add_argument("--token", default=None, help="accept only this auth token (else any); signs webhooks")
    mock_common.add_server_args(ap)
    args = ap.parse_args(argv)

    Handler.sid = args.sid
    Handler.token = args.token
    return mock_common.serve(args, Handler, State(args.keep))


if __name__ == "__main__":
    sys.exit(main())
