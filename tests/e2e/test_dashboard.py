"""The dashboard aula serves at `/`, in headless Chromium (Debian's chromium + chromium-driver +
python3-selenium): log in with a person's admin token, see the pilot cohort's progress and the
quiz item chart with numbers counted by hand from the conversations scripted here, send a
reminder, preview a draft. The data is made through the real API only: web-chat learners put in
the cohort and the course by a roster import (/admin/learners/import), answering in
/chat/api/send, their records drained by aula into a SQLite record store of the test's own.
Expected numbers come from this script and the flow files, never from aula's reports."""

import os
import re
import shutil
import tempfile
import unittest


from harness import (ADMIN_TOKEN, ROOT, Aula, Redis, WebLearner, admin, advance_to_local, http, label, load_yaml,
                     wait_until)

COURSE = "curso-muestra"
COHORT = "piloto"
DRAFT = "borrador-panel"


class Dashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups also run when setUpClass fails half-way: nothing outlives the suite.
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-dashboard-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.flows = os.path.join(cls.tmp, "flows")
        shutil.copytree(os.path.join(ROOT, "flows"), cls.flows, ignore=shutil.ignore_patterns("tests"))
        os.makedirs(os.path.join(cls.flows, "drafts"))
        with open(os.path.join(cls.flows, "drafts", DRAFT + ".yaml"), "w", encoding="utf-8") as f:
            f.write(f'spec: 1\nid: {DRAFT}\nname: "Borrador del panel"\nstart: hola\nnodes:\n'
                    '  hola:\n    question: "¿Qué te pareció el borrador?"\n    type: text\n'
                    '    save_as: opinion\n    next: fin\n  fin:\n    end: completed\n    message: "Gracias"\n')
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        records = "sqlite://" + os.path.join(cls.tmp, "records.db")
        cls.aula = Aula(cls.redis.url, extra_env={"AULA_RECORDS_URL": records, "AULA_FLOWS": cls.flows})
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.make_data()
        cls.start_browser()

    # -- The scripted conversations and what they must count --------------------------------

    @classmethod
    def make_data(cls):
        m1 = load_yaml(os.path.join(ROOT, "flows", "leccion-muestra.yaml"))
        m2 = load_yaml(os.path.join(ROOT, "flows", "leccion-muestra-2.yaml"))
        cls.m1 = m1

        def quiz(doc, node):
            return label(doc["nodes"][node]["quiz"])

        def option(doc, node, oid):
            return label(next(o for o in doc["nodes"][node]["options"] if str(o["id"]) == oid)["label"])

        def right(doc, node):
            return next(str(o["id"]) for o in doc["nodes"][node]["options"] if o.get("correct"))

        # What each learner answers at module 1's quiz questions, attempt by attempt.
        # Right answers from the flow file: edad b, jornada seis (2 attempts), peligroso no.
        script = {
            "ana":   {"edad": ["b"], "jornada": ["seis"], "peligroso": ["no"]},
            "luis":  {"edad": ["a"], "jornada": ["ocho", "seis"], "peligroso": ["no"]},
            "marta": {"edad": ["a"], "jornada": ["seis"], "peligroso": ["si"]},
        }
        people = {  # name, state; pedro enrols and never answers
            "ana": ("Ana Núñez", "Jalisco"), "luis": ("Luis Pérez", "Oaxaca"),
            "marta": ("Marta Ruiz", "Jalisco"), "pedro": ("Pedro Díaz", "Oaxaca"),
        }
        # Enrolled into the cohort and the course by the roster import (as a spreadsheet would):
        # POST /admin/enroll enrols in a course but does not make the learner a cohort member.
        # The lesson's closing NPS question: 10 and 9 promote, 3 detracts: (2 - 1) / 3 = 33.
        cls.nps_answers = {"ana": "10", "luis": "9", "marta": "3"}
        cls.nps = round(100 * (sum(int(v) >= 9 for v in cls.nps_answers.values()) -
                               sum(int(v) <= 6 for v in cls.nps_answers.values())) / len(cls.nps_answers))
        assert cls.nps == 33
        cls.learners = {}
        lines = ["nombre,canal,direccion,estado"]
        for i, (key, (name, state)) in enumerate(people.items()):
            learner = WebLearner(cls.aula, f"{i + 1:02x}" * 16)
            cls.learners[key] = learner
            lines.append(f"{name},web,{learner.id},{state}")
        status, body = admin(cls.aula, "POST", "/admin/learners/import",
                             {"cohort": COHORT, "course": COURSE, "default_channel": "web",
                              "csv": "\n".join(lines) + "\n"})
        assert status == 200 and body["imported"] == len(people) and not body["problems"], (status, body)
        for key, answers in script.items():
            learner = cls.learners[key]
            for node in ["edad", "jornada", "peligroso"]:
                for oid in answers[node]:
                    learner.tap(quiz(m1, node), option(m1, node, oid))
            learner.tap(label(m1["nodes"]["recomendacion"]["question"]), cls.nps_answers[key])
            learner.wait_text(label(m1["nodes"]["fin"]["message"]).split("{{")[0])

        # First-attempt shares, counted by hand from the script above.
        cls.first_correct = {}
        for node in ["edad", "jornada", "peligroso"]:
            firsts = [a[node][0] for a in script.values()]
            good = sum(1 for v in firsts if v == right(m1, node))
            cls.first_correct[node] = (good, len(firsts), round(100 * good / len(firsts)))
        assert cls.first_correct["edad"] == (1, 3, 33), cls.first_correct
        assert cls.first_correct["jornada"] == (2, 3, 67), cls.first_correct
        # edad's wrong answers: "a" twice, "c" never: "a" is the confusing one.
        cls.confusing = ("edad", "a")

        # The next day at 09:00 local module 2 opens (drip); Ana finishes the course with it.
        cfg = load_yaml(cls.aula.env["AULA_CONFIG"])
        ana = cls.learners["ana"]
        ana.answered = len(ana.poll())  # before the clock moves: module 2 may arrive at once
        # Under 48 h: no nudges yet.
        advance_to_local(cls.aula, cfg.get("default_time_zone") or "America/Mexico_City", 9, days=1)
        ana.tap(quiz(m2, "cual-convenio"), option(m2, "cual-convenio", right(m2, "cual-convenio")))
        ana.tap(quiz(m2, "anio"), option(m2, "anio", right(m2, "anio")))
        course = next(c for c in load_yaml(os.path.join(ROOT, "flows", "course.yaml"))["courses"] if c["id"] == COURSE)
        ana.wait_text(label(course["completion"]["message"]).split("{{")[0])
        # Four enrolled in the pilot cohort, one finished the course: 1 of 4 (25 %). Two modules.
        cls.progress = (1, 4, 25)
        cls.modules_total = len(course["modules"])

        # The records reach the record store asynchronously: wait until the reports count them.
        def drained():
            status, items = admin(cls.aula, "GET", f"/admin/reports/items?flow=leccion-muestra&cohort={COHORT}")
            if status != 200:
                return None
            nodes = {n["node"]: n for n in items["nodes"]}
            if any(nodes.get(k, {}).get("learners") != 3 for k in ("edad", "jornada", "peligroso")):
                return None
            status, prog = admin(cls.aula, "GET", f"/admin/reports/progress?cohort={COHORT}")
            rows = [r for r in prog.get("by_cohort", []) if r.get("cohort") == COHORT and r.get("course") == COURSE]
            return status == 200 and rows and rows[0].get("completed") == 1
        try:
            wait_until(drained, timeout=30, interval=0.3, what="the records in the record store")
        except AssertionError:
            for path in (f"/admin/reports/items?flow=leccion-muestra&cohort={COHORT}",
                         f"/admin/reports/progress?cohort={COHORT}"):
                print(path, admin(cls.aula, "GET", path))
            raise

    # -- The browser --------------------------------------------------------------------------

    @classmethod
    def start_browser(cls):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        cls.profile = tempfile.mkdtemp(prefix="aula-chromium-")
        cls.addClassCleanup(shutil.rmtree, cls.profile, ignore_errors=True)
        opts = Options()
        opts.binary_location = "/usr/bin/chromium"
        for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={cls.profile}", "--window-size=412,915"]:
            opts.add_argument(flag)
        cls.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        cls.addClassCleanup(cls.driver.quit)
        cls.driver.set_page_load_timeout(20)

    def setUp(self):
        self.driver.set_window_size(412, 915)

    def find(self, css):
        return self.driver.find_element("css selector", css)

    def finds(self, css):
        return self.driver.find_elements("css selector", css)

    def wait_css(self, css, what=None, timeout=15):
        return wait_until(lambda: (lambda e: e[0] if e and e[0].is_displayed() else None)(self.finds(css)),
                          timeout=timeout, what=what or css)

    def wait_text(self, css, predicate, what):
        def check():
            els = self.finds(css)
            return els[0] if els and predicate(els[0].text) else None
        try:
            return wait_until(check, timeout=15, what=what)
        except AssertionError:
            self.driver.save_screenshot(os.path.join(tempfile.gettempdir(), "aula-dashboard-failure.png"))
            raise

    def open_fresh(self, lang="es"):
        """The page with an empty sessionStorage (no token) and the language chosen."""
        self.driver.get(self.aula.url + "/healthz")
        self.driver.execute_script("window.sessionStorage.clear(); window.localStorage.clear();"
                                   "window.localStorage.setItem('aula.dashboard.lang', arguments[0]);", lang)
        self.driver.get(self.aula.url + "/")
        self.wait_css("#token", "the login form")

    def login(self, token=ADMIN_TOKEN):
        from selenium.webdriver.common.keys import Keys
        self.open_fresh()
        box = self.find("#token")
        self.assertEqual(box.get_attribute("type"), "password")
        box.send_keys(token, Keys.ENTER)  # keyboard only: Enter submits the form

    def select(self, css, value):
        from selenium.webdriver.support.ui import Select
        sel = wait_until(lambda: (lambda s: s if value in [o.get_attribute("value") for o in s.options] else None)(
            Select(self.find(css))), what=f"{value!r} in {css}")
        sel.select_by_value(value)

    # -- Tests --------------------------------------------------------------------------------

    def test_page_has_no_external_resources(self):
        status, body, headers = http("GET", self.aula.url + "/")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers.get("Content-Type", ""))
        self.assertIn('id="login-form"', body)
        # No script, style, font, image or link is fetched from anywhere else.
        self.assertEqual(re.findall(r"""(?:src|href|action|srcset|poster)\s*=\s*["']?\s*(?:https?:)?//""", body,
                                    re.I), [])
        self.assertEqual(re.findall(r"""url\(\s*["']?\s*(?:https?:)?//|@import""", body, re.I), [])
        self.assertNotRegex(body, r"<link\b(?![^>]*href=\"data:)|<script\s+[^>]*src|<iframe\b|<img\b|<object\b"
                                  r"|<embed\b")
        # Every http(s) address in the page is the SVG namespace name, which is never fetched.
        for url in re.findall(r"https?://[^\s\"'<>)]*", body):
            self.assertEqual(url, "http://www.w3.org/2000/svg", url)

    def test_wrong_token_shows_the_login_again(self):
        self.login("not-a-token")
        msg = self.wait_text("#login-msg", lambda t: "token" in t.lower(), "the error under the login")
        self.assertTrue(msg.is_displayed())
        self.assertFalse(self.find("#app").is_displayed())
        self.assertTrue(self.find("#token").is_displayed())
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('aula.dashboard.token');"))
        # With the right token it goes in.
        from selenium.webdriver.common.keys import Keys
        self.find("#token").send_keys(ADMIN_TOKEN, Keys.ENTER)
        self.wait_css("#app", "the dashboard")
        self.assertFalse(self.find("#login").is_displayed())
        # Log out: the login again, the token forgotten.
        self.find("#logout").click()
        self.wait_css("#token", "the login after logging out")
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('aula.dashboard.token');"))

    def test_cohort_progress_and_item_chart(self):
        self.login()
        self.wait_css("#app", "the dashboard")
        self.select("#cohort", COHORT)
        done, total, pct = self.progress
        self.wait_text(f'#progress-out [data-course="{COURSE}"] .progress-count',
                       lambda t: t == f"{done} de {total} ({pct} %)", "the cohort's progress bar")
        bar = self.find(f'#progress-out [data-course="{COURSE}"] svg')
        self.assertIn(f"{done} de {total} ({pct} %)", bar.get_attribute("aria-label"))
        # The learners' table: Ana finished both modules, Pedro none.
        rows = {}
        for tr in self.finds('#progress-out [data-table="learners"] tbody tr'):
            cells = {td.get_attribute("data-col"): td.text for td in tr.find_elements("css selector", "td")}
            rows[cells["name"]] = cells
        self.assertEqual(sorted(rows), ["Ana Núñez", "Luis Pérez", "Marta Ruiz", "Pedro Díaz"])
        self.assertEqual(rows["Ana Núñez"]["state"], "Jalisco")
        self.assertEqual(rows["Ana Núñez"]["modules"], f"{self.modules_total}/{self.modules_total}")
        self.assertEqual(rows["Ana Núñez"]["status"], "terminado")
        self.assertEqual(rows["Luis Pérez"]["modules"], f"1/{self.modules_total}")
        self.assertEqual(rows["Pedro Díaz"]["modules"], f"0/{self.modules_total}")

        # The item chart: the share right at the first attempt, as counted from the script.
        self.select("#quiz-flow", "leccion-muestra")
        for node, (good, asked, share) in self.first_correct.items():
            el = self.wait_text(f'#items-out [data-node="{node}"] .first-correct', lambda t: t.strip() != "",
                                f"the first-correct share of {node}")
            self.assertEqual(el.get_attribute("textContent").strip(), f"{share} %", node)
            self.assertIn(f"{good} de {asked}", self.find(f'#items-out [data-node="{node}"] .row .val').text)
        question = self.find('#items-out [data-node="edad"] h3').text
        self.assertEqual(question, label(self.m1["nodes"]["edad"]["quiz"]))
        node, wrong = self.confusing
        confusing = self.finds(f'#items-out [data-node="{node}"] .row.confusing')
        self.assertEqual([e.get_attribute("data-value") for e in confusing], [wrong])
        right = self.finds(f'#items-out [data-node="{node}"] .row.correct')
        self.assertEqual([e.get_attribute("data-value") for e in right], ["b"])
        # Options nobody chose still show, at 0.
        self.assertIn("0 (0 %)", self.find(f'#items-out [data-node="{node}"] .row[data-value="c"] .val').text)

        # The lesson's NPS in the survey results.
        self.select("#survey-flow", "leccion-muestra")
        self.wait_text('#survey-out [data-node="recomendacion"] .nps', lambda t: t == str(self.nps), "the lesson's NPS")

        # Every call the page made went to aula itself.
        urls = self.driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
        self.assertTrue(urls)
        for url in urls:
            self.assertTrue(url.startswith(self.aula.url + "/"), url)
        # One column on a phone: the sections are stacked, none wider than the screen.
        width = self.driver.execute_script("return document.documentElement.clientWidth;")
        lefts = self.driver.execute_script(
            "return Array.from(document.querySelectorAll('#app > section')).map(s => s.getBoundingClientRect().left);")
        self.assertEqual(len(set(round(x) for x in lefts)), 1, lefts)
        self.assertLessEqual(self.driver.execute_script("return document.documentElement.scrollWidth;"), width)
        self.driver.save_screenshot(os.path.join(tempfile.gettempdir(), "aula-dashboard.png"))

    def test_send_a_reminder(self):
        self.login()
        self.select("#cohort", COHORT)
        remind = self.wait_css("#remind")
        wait_until(lambda: remind.is_enabled(), what="the reminder button")
        remind.click()
        # A confirm step first: nothing is sent until it is confirmed.
        yes = self.wait_css("#remind-yes", "the confirmation")
        self.assertIn(COHORT, self.find("#remind-question").text)
        status, jobs = admin(self.aula, "GET", "/admin/broadcasts")
        before = {j["id"] for j in jobs["jobs"]}
        yes.click()
        live = self.wait_text("#actions-live", lambda t: t.startswith("Recordatorio programado ("), "the reminder's id")
        self.assertEqual(live.get_attribute("aria-live"), "polite")
        job_id = re.search(r"\(([^)]+)\)", live.text).group(1)
        status, jobs = admin(self.aula, "GET", "/admin/broadcasts")
        self.assertEqual(status, 200, jobs)
        mine = [j for j in jobs["jobs"] if j["id"] == job_id]
        self.assertEqual(len(mine), 1, jobs)
        self.assertNotIn(job_id, before)
        self.assertEqual(mine[0]["spec"]["kind"], "remind")
        self.assertEqual(mine[0]["spec"]["cohort"], COHORT)

    def test_preview_a_draft(self):
        self.login()
        self.select("#draft", DRAFT)
        self.wait_css("#preview").click()
        link = self.wait_css("#preview-link", "the preview link")
        href = link.get_dom_attribute("href")
        self.assertTrue(href.startswith("/chat#preview-"), href)
        self.assertRegex(href, r"^/chat#preview-[0-9a-f]{32}$")
        # The link opens the draft in the web chat.
        self.driver.get(self.aula.url + href)
        wait_until(lambda: any("¿Qué te pareció el borrador?" in e.text for e in self.finds(".msg.aula")),
                   timeout=15, what="the draft's question in the web chat")

    def test_facilitator_sees_their_cohort_and_not_the_drafts(self):
        status, made = admin(self.aula, "POST", "/admin/tokens",
                             {"name": "Laura Facilitadora", "role": "facilitator", "cohorts": [COHORT]})
        self.assertEqual(status, 201, made)
        self.login(made["token"])
        done, total, pct = self.progress
        self.wait_text(f'#progress-out [data-course="{COURSE}"] .progress-count',
                       lambda t: t == f"{done} de {total} ({pct} %)", "the facilitator's cohort progress")
        self.assertIn("Laura Facilitadora", self.find("#who").text)
        # Previewing drafts is for administrators: a 403 is said in the section, not as an alert.
        self.select("#draft", DRAFT)
        self.find("#preview").click()
        err = self.wait_text("#sec-actions .error", lambda t: t.startswith("No tienes acceso a esto"),
                             "the 403 message")
        self.assertEqual(err.get_attribute("role"), "alert")
        self.assertEqual(self.finds("#preview-link"), [])

    def test_learner_timeline_and_english(self):
        self.login()
        ana = self.learners["ana"]
        self.wait_css("#conv").send_keys(ana.conv)
        self.find("#learner-btn").click()
        self.wait_text("#learner-out h3", lambda t: t == ana.conv, "the learner's view")
        self.assertTrue(self.finds("#learner-out ol.timeline li") or self.finds("#learner-out .empty"))
        self.assertIn("Ana Núñez", self.find("#learner-out dl").text)
        # English: the toggle says it is pressed, the headings change, the numbers stay.
        self.find("#lang-en").click()
        self.assertEqual(self.find("#lang-en").get_attribute("aria-pressed"), "true")
        self.assertEqual(self.find("#lang-es").get_attribute("aria-pressed"), "false")
        self.assertEqual(self.find("#h-progress").text, "Cohort progress")
        self.assertEqual(self.driver.execute_script("return document.documentElement.lang;"), "en")
        self.select("#cohort", COHORT)
        done, total, pct = self.progress
        self.wait_text(f'#progress-out [data-course="{COURSE}"] .progress-count',
                       lambda t: t == f"{done} of {total} ({pct} %)", "the progress in English")
        # Every input and select has a label.
        unlabeled = self.driver.execute_script(
            "return Array.from(document.querySelectorAll('input, select')).filter(e => !e.labels || !e.labels.length)"
            ".map(e => e.id);")
        self.assertEqual(unlabeled, [])

    def test_markup_in_a_learner_name_stays_text(self):
        # A learner whose name is markup, in a cohort of their own (the pilot's numbers stay).
        hostile = '<img src=x onerror="window.__xss=1"><b>Negrita</b>'
        learner = WebLearner(self.aula, "ab" * 16)
        csv_text = 'nombre,canal,direccion,estado\n"' + hostile.replace('"', '""') + f'",web,{learner.id},Jalisco\n'
        status, body = admin(self.aula, "POST", "/admin/learners/import",
                             {"cohort": "hostil", "default_channel": "web", "csv": csv_text})
        self.assertEqual(status, 200, body)
        self.login()
        self.wait_css("#conv").send_keys(learner.conv)
        self.find("#learner-btn").click()
        self.wait_text("#learner-out h3", lambda t: t == learner.conv, "the learner's view")
        self.assertIn(hostile, self.find("#learner-out").text)  # shown as the characters it is
        self.assertEqual(self.finds("#learner-out img"), [])
        self.assertEqual(self.finds("#learner-out b"), [])
        self.assertIsNone(self.driver.execute_script("return window.__xss;"))


if __name__ == "__main__":
    unittest.main()
