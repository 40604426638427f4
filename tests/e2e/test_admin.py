"""Facilitators and administrators end to end: people's tokens (401 / 403 by role and cohort),
CSV enrolment with `aula enroll` (good rows in, bad rows reported by line, a Telegram invite
link for a learner without a chat id, WhatsApp learners reached by the template), and the
audit log. aula serve with a real redis-server; the mock Telegram and WhatsApp APIs."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import yaml

from harness import (ADMIN_TOKEN, AULA_BIN, ROOT, Aula, MockTelegram, MockWhatsApp, Redis, TestCA, http, tg_text,
                     wait_until, write_flows, write_test_config)

COURSE = "curso-muestra"


def course_doc():
    with open(os.path.join(ROOT, "flows", "course.yaml"), encoding="utf-8") as f:
        return next(c for c in yaml.safe_load(f)["courses"] if c["id"] == COURSE)


# Lines as an administrator's spreadsheet would give them (semicolons, Spanish headers).
CSV = """nombre;canal;telefono;estado;idioma;consentimiento;rol
Ana Núñez;telegram;7101;Jalisco;es;;inspectora
Luis Pérez;whatsapp;+52 1 55 1234 0001;Quintana Roo;es;formulario 2026-11-20;inspector
Sin Teléfono;whatsapp;123;Jalisco;es;formulario;inspector
;telegram;7102;Jalisco;es;;inspector
Marta Ruiz;fax;5512340002;Jalisco;es;;inspectora
Ana Otra Vez;telegram;7101;Jalisco;es;;inspectora
"Pedro ""el Profe"" Díaz";telegram;;Sonora;es;;comisión
Sin Consentimiento;whatsapp;+52 55 1234 0003;Jalisco;es;;inspector
"""


class FacilitatorsAndEnrolment(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-admin-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = write_flows(os.path.join(cls.tmp, "flows"), extra=())
        cfg_path = write_test_config(cls.tmp)
        with open(cfg_path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        cfg["telegram"]["bot_username"] = "aula_prueba_bot"
        with open(cfg_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True, sort_keys=False)
        cls.ca = TestCA()
        cls.addClassCleanup(cls.ca.close)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.tg = MockTelegram()
        cls.addClassCleanup(cls.tg.close)
        cls.wa = MockWhatsApp(ca=cls.ca)
        cls.addClassCleanup(cls.wa.close)
        env = {**cls.wa.env(), "AULA_CONFIG": cfg_path, "AULA_FLOWS": cls.flows}
        cls.aula = Aula(cls.redis.url, cls.tg.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.cli_env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        cls.cli_env.update({"AULA_CONFIG": cfg_path, "AULA_REDIS_URL": cls.redis.url,
                            "AULA_LISTEN": cls.aula.url.replace("http://", ""),
                            "AULA_ADMIN_TOKENS": f"admin:{ADMIN_TOKEN}", "USER": "prueba"})

    def cli(self, *args):
        return subprocess.run([AULA_BIN, *args], env=self.cli_env, capture_output=True, text=True, timeout=120)

    def call(self, method, path, body=None, token=ADMIN_TOKEN):
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        status, text, _ = http(method, self.aula.url + path, body, headers)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def tg_texts(self, chat):
        return [c["body"]["text"] for c in self.tg.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def settled_count(self, chat, quiet=0.5, timeout=10):
        """How many messages `chat` has once none arrived for `quiet` seconds."""
        until = time.monotonic() + timeout
        n = len(self.tg_texts(chat))
        while time.monotonic() < until:
            time.sleep(quiet)
            m = len(self.tg_texts(chat))
            if m == n:
                return n
            n = m
        self.fail(f"messages to {chat} kept coming for {timeout} s")

    def test_tokens_scopes_enrolment_and_audit(self):
        welcome_head = course_doc()["welcome"]["es"].split("{{")[0]
        # A facilitator's token, made with the CLI straight in Redis: printed once.
        made = self.cli("admin", "token", "create", "--name", "Laura Facilitadora", "--role", "facilitator",
                        "--cohorts", "piloto")
        self.assertEqual(made.returncode, 0, made.stderr)
        laura = made.stdout.strip()
        self.assertRegex(laura, r"^aula_[0-9a-f]{48}$")
        keys = self.redis.cli("--scan", "--pattern", "aula:dir:token:*").split()
        self.assertEqual(len(keys), 1)
        self.assertNotIn(laura, self.redis.cli("GET", keys[0]))  # only the hash is kept
        again = self.cli("admin", "token", "create", "--name", "Laura Facilitadora", "--cohorts", "piloto")
        self.assertEqual(again.returncode, 2, again.stdout)

        # 401 without or with a wrong token; 403 outside the role or the cohorts.
        self.assertEqual(self.call("GET", "/admin/versions", token=None)[0], 401)
        self.assertEqual(self.call("GET", "/admin/versions", token="aula_" + "0" * 48)[0], 401)
        self.assertEqual(self.call("POST", "/admin/reload", {}, token=laura)[0], 403)
        self.assertEqual(self.call("POST", "/admin/tokens", {"name": "X", "role": "admin"}, token=laura)[0], 403)
        status, body = self.call("POST", "/admin/learners/import",
                                 {"cohort": "lanzamiento", "course": COURSE, "csv": CSV}, token=laura)
        self.assertEqual(status, 403, body)
        self.assertEqual(self.call("GET", "/admin/cohorts/lanzamiento", token=laura)[0], 403)

        # The CSV through `aula enroll` as Laura, two rows per request.
        path = os.path.join(self.tmp, "participantes.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write(CSV)
        out = self.cli("enroll", "--cohort", "piloto", "--course", COURSE, "--token", laura, "--part", "2", path)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)  # some rows were reported
        self.assertIn("2 enrolled in piloto", out.stdout)
        problem_lines = sorted({int(m) for m in re.findall(r"^  line (\d+)(?: \(|:)", out.stdout, re.M)})
        self.assertEqual(problem_lines, [4, 5, 6, 7, 9], out.stdout)
        self.assertRegex(out.stdout, r"line 4 \(telefono\): not a phone number")
        self.assertRegex(out.stdout, r"line 5 \(nombre\)")
        self.assertRegex(out.stdout, r"line 6 \(canal\)")
        self.assertRegex(out.stdout, r"line 7: duplicate of line 2")
        self.assertRegex(out.stdout, r"line 9 \(consentimiento\)")
        invite = re.search(r"line 8  Pedro \"el Profe\" Díaz  https://t\.me/aula_prueba_bot\?start=(inv_[0-9a-f]+)",
                           out.stdout)
        self.assertIsNotNone(invite, out.stdout)

        # Good rows started the course: Telegram at once; WhatsApp by the template (never wrote).
        wait_until(lambda: any(t.startswith(welcome_head) for t in self.tg_texts(7101)), what="Ana's welcome")
        tpl = wait_until(lambda: [c for c in self.wa.sent("525512340001") if c["type"] == "template"],
                         what="Luis's template")
        self.assertEqual(len(tpl), 1)
        self.assertEqual(self.tg_texts(7102), [])  # the row without a name was not enrolled
        status, cohort = self.call("GET", "/admin/cohorts/piloto", token=laura)
        self.assertEqual(status, 200, cohort)
        self.assertEqual(sorted(x["learner"] for x in cohort["learners"]),
                         ["telegram:7101", "whatsapp:+525512340001"])
        rec = json.loads(self.redis.cli("GET", "aula:dir:learner:whatsapp:+525512340001"))
        self.assertEqual((rec["name"], rec["tz"], rec["consent"], rec["cohorts"]),
                         ("Luis Pérez", "America/Cancun", "formulario 2026-11-20", ["piloto"]))

        # The invited Telegram learner opens the link: enrolled, in the cohort.
        status, body, _ = self.aula.telegram(tg_text(7103, "/start " + invite.group(1), first_name="Pedro"))
        self.assertEqual(status, 200, body)
        wait_until(lambda: any(t.startswith(welcome_head) for t in self.tg_texts(7103)), what="Pedro's welcome")
        rec = json.loads(self.redis.cli("GET", "aula:dir:learner:telegram:7103"))
        self.assertEqual(rec["name"], 'Pedro "el Profe" Díaz')
        self.assertEqual(rec["tz"], "America/Hermosillo")
        # Someone else cannot use the same link.
        status, body, _ = self.aula.telegram(tg_text(7104, "/start " + invite.group(1), first_name="Otro"))
        self.assertEqual(status, 200, body)
        self.assertIsNone(self.redis.cli("GET", "aula:dir:learner:telegram:7104").strip() or None)

        # Importing again changes nothing for those already in: no second welcome.
        # (Counted once her welcome's messages have all arrived: the welcome is more than one.)
        before = self.settled_count(7101)
        out = self.cli("enroll", "--cohort", "piloto", "--course", COURSE, "--token", laura, path)
        self.assertIn("0 enrolled in piloto, 2 already known", out.stdout)
        time.sleep(0.5)  # a second welcome would be on its way by now
        self.assertEqual(len(self.tg_texts(7101)), before)

        # The audit log names who did what.
        status, audit = self.call("GET", "/admin/audit?max=20")
        self.assertEqual(status, 200, audit)
        seen = [(e["who"], e["action"]) for e in audit["entries"]]
        self.assertIn(("cli:prueba", "token.create"), seen)
        self.assertIn(("Laura Facilitadora", "import"), seen)
        self.assertEqual(self.call("GET", "/admin/audit", token=laura)[0], 403)
        cli_audit = self.cli("admin", "audit", "--max", "5")
        self.assertIn("Laura Facilitadora  import  cohort:piloto", cli_audit.stdout)

        # Revoked: the token no longer opens anything.
        self.assertEqual(self.cli("admin", "token", "revoke", "--name", "Laura Facilitadora").returncode, 0)
        self.assertEqual(self.call("GET", "/admin/cohorts/piloto", token=laura)[0], 401)


if __name__ == "__main__":
    unittest.main()
