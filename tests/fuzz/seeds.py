#!/usr/bin/python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/seed-*) from the case
tables of the tests (the adapters' raw webhook bodies, the roster's CSV cases), the shipped and
test flows, their transcripts, and a few hand-made inputs. Run once when the tables change:
    /usr/bin/python3 tests/fuzz/seeds.py
Inputs the fuzzer found later live beside them (named by their sha1) and are kept."""
import hashlib
import json
import os
import re
import sys

import yaml

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = os.path.join(root, "tests", "fuzz", "corpus")


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def raw_strings(path):
    """The R"(...)" literals of a C++ test file."""
    text = open(os.path.join(root, path), encoding="utf-8").read()
    return re.findall(r'R"\((.*?)\)"', text, re.S)


def cpp_strings(path):
    """Plain "..." literals (simple escapes only) of a C++ test file."""
    text = open(os.path.join(root, path), encoding="utf-8").read()
    out = []
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*)"', text):
        s = m.group(1)
        try:
            s = s.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")
        except Exception:
            continue
        out.append(s)
    return out


# Telegram: raw updates.
for s in raw_strings("tests/adapters/test_telegram.cpp"):
    if s.lstrip().startswith("{"):
        write("telegram", s)

# WhatsApp: raw webhook bodies (POST = first byte even), and the verification GET (odd).
for s in raw_strings("tests/adapters/test_whatsapp.cpp"):
    if s.lstrip().startswith("{"):
        write("whatsapp", b"\x00" + s.encode())
write("whatsapp", b"\x01hub.mode=subscribe&hub.verify_token=aula-verify-Tok3n&hub.challenge=1158201444")
write("whatsapp", b"\x01hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1")

# Twilio: first byte 0 = inbound POST, 1 = status callback, 2 = GET with the fields in the query.
inbound = ("ToCountry=US&ToState=CA&SmsMessageSid=SM0f1e2d3c4b5a69788796a5b4c3d2e1f0&NumMedia=0&ToCity=&FromZip="
           "&SmsSid=SM0f1e2d3c4b5a69788796a5b4c3d2e1f0&FromState=CDMX&SmsStatus=received&FromCity=&Body={body}"
           "&FromCountry=MX&To=%2B15005550006&MessagingServiceSid=&ToZip=&NumSegments=1"
           "&MessageSid=SM0f1e2d3c4b5a69788796a5b4c3d2e1f0&AccountSid=AC0123456789abcdef0123456789abcdef"
           "&From=%2B5215512345678&ApiVersion=2010-04-01")
for body in ["Hola", "S%C3%AD%2C+claro", "BAJA", "1", "", "%F0%9F%91%8D+gracias"]:
    write("twilio", b"\x00" + inbound.format(body=body).encode())
write("twilio", b"\x00" + inbound.format(body="mira").replace("NumMedia=0", "NumMedia=1&MediaContentType0=image%2Fjpeg"
                                                             "&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2FME1").encode())
status = ("SmsSid=SM1234567890abcdef1234567890abcdef&SmsStatus={s}&MessageStatus={s}&To=%2B525512345678"
          "&MessageSid=SM1234567890abcdef1234567890abcdef&AccountSid=AC0123456789abcdef0123456789abcdef"
          "&From=%2B15005550006&ApiVersion=2010-04-01")
for s in ["queued", "sent", "delivered", "undelivered", "failed"]:
    write("twilio", b"\x01" + status.format(s=s).encode())
write("twilio", b"\x01" + (status.format(s="failed") + "&ErrorCode=30003").encode())
write("twilio", b"\x02From=%2B525512345678&Body=Hola&MessageSid=SM1&To=%2B15005550006")
write("twilio", b"\x00From=%2B525512345678&Body=%ZZ")

# Flow files: the shipped flows and the flow-language examples, as YAML (first byte 0) and as
# JSON (1). Course and trigger files are not flows.
flow_dirs = ["flows", "tests/flows"]
for d in flow_dirs:
    for name in sorted(os.listdir(os.path.join(root, d))):
        if not name.endswith(".yaml") or name in ("course.yaml", "triggers.yaml"):
            continue
        text = open(os.path.join(root, d, name), "rb").read()
        if len(text) > 40000:
            continue  # keep the corpus small: the big modules add little over the small ones
        write("flow", b"\x00" + text)
        if d == "tests/flows":
            write("flow", b"\x01" + json.dumps(yaml.safe_load(text), ensure_ascii=False).encode())

# Templates: the texts of the flows that use {{…}}, and what learners say in the transcripts
# (as values a variable holds).
texts = set()
def walk(v):
    if isinstance(v, str):
        if "{{" in v:
            texts.add(v)
    elif isinstance(v, dict):
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for d in flow_dirs:
    for name in sorted(os.listdir(os.path.join(root, d))):
        if name.endswith(".yaml"):
            walk(yaml.safe_load(open(os.path.join(root, d, name), encoding="utf-8")))
said = []
for d in ["flows/tests", "tests/flows/tests"]:
    for name in sorted(os.listdir(os.path.join(root, d))):
        if name.endswith(".yaml"):
            doc = yaml.safe_load(open(os.path.join(root, d, name), encoding="utf-8"))
            for step in json.dumps(doc, ensure_ascii=False).split('"say": "')[1:]:
                said.append(json.loads('"' + step.split('"', 1)[0] + '"') if '\\' not in step.split('"', 1)[0] else step.split('"', 1)[0])
for i, t in enumerate(sorted(texts)[:40]):
    value = said[i % len(said)] if said else "Ana"
    write("template", t.encode() + b"\x00" + value.encode())
write("template", "Hola {{ contact.name | colega }}, tu puntaje: {{score.total}}/{{score.max}}\x00{{answers.x}}")
write("template", "{{a}}{{b|}}{{ |x}} {{ no cierra\x00\"<b>&\n")

# Sessions: what the engine writes (hand-made from session.cpp's keys).
write("session", json.dumps({"v": 1, "ver": 3, "lang": "es", "contact": {"name": "Ana", "state": "Jalisco"},
                             "answers": {"rol": {"v": "inspector", "t": "Inspector(a)"}, "edad": {"v": 34, "t": "34"}},
                             "run": {"flow": "diagnostico", "id": "r1", "node": "p2", "r": 1, "a": 0, "n": 3, "s": 2,
                                     "smax": 3, "t0": 1767625200000, "tm": {"id": "r1:p2:remind", "due": 1767711600000,
                                                                           "k": "remind", "c": 1},
                                     "ex": {"id": "r1:expire", "due": 1768230000000, "k": "expire", "c": 0}},
                             "stack": [{"flow": "curso", "id": "r0", "node": "sub", "t0": 1}],
                             "queue": ["retroalimentacion"], "last": {"flow": "x", "status": "completed", "s": 1, "smax": 2},
                             "courses": [{"id": "trabajo-infantil", "st": "active", "cur": 1,
                                          "mods": [{"flow": "ti-1-conceptos", "st": "completed", "s": 5, "smax": 5, "a": 1,
                                                    "t0": 1, "t1": 2}], "nudges": 0, "t0": 1, "t1": 0,
                                          "tm": {"id": "c:drip", "due": 5, "k": "drip", "c": 0},
                                          "cert": {"code": "AB12", "folio": "F-1"}}],
                             "out": True, "menu": True, "pause": {"why": "dead letter", "at": 7}, "li": 1767625200000},
                            ensure_ascii=False))
write("session", '{"v":1,"ver":0}')
write("session", '{"v":2}')

# Rosters: first byte picks the default channel (0 whatsapp, 1 sms, 2 telegram, 3 web).
rosters = [s for s in cpp_strings("tests/io/test_roster.cpp") if "\n" in s or "," in s or ";" in s]
header = "nombre,canal,telefono,idioma,estado,consentimiento,zona_horaria,rol\n"
for i, s in enumerate(rosters):
    csv = s if "\n" in s else header + s + "\n"
    write("roster", bytes([i % 4]) + csv.encode("utf-8", "surrogateescape"))
write("roster", b"\x00\xef\xbb\xbfNombre;Tel\xc3\xa9fono;Estado;Consentimiento\r\n\"L\xc3\xb3pez, Ana\";55 1234 5678;CDMX;s\xc3\xad\r\n")
write("roster", b"\x02nombre,chat_id,idioma\nLuis,123456789,en\n\"multi\nline\",-100,es\n")
write("roster", b"\x03nombre\tcanal\taddress\nEva\tweb\t0123456789abcdef0123456789abcdef\n")
print("seeds written to", corpus, file=sys.stderr)
