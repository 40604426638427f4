"""The web chat: the page aula serves, its API, and a learner taking the diagnosis in
headless Chromium (Debian's chromium + chromium-driver + python3-selenium)."""

import json
import os
import shutil
import tempfile
import time
import unittest

import yaml

from harness import ROOT, Aula, Redis, http, wait_until

LEARNER = "0123456789abcdef0123456789abcdef"


def diagnosis():
    with open(os.path.join(ROOT, "flows", "diagnostico.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


class WebChatApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups also run when setUpClass fails half-way: nothing outlives the suite.
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.aula = Aula(cls.redis.url)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def post(self, body):
        return http("POST", self.aula.url + "/chat/api/send", body)

    def poll(self, learner, after=""):
        status, body, _ = http("GET", f"{self.aula.url}/chat/api/poll?learner={learner}&after={after}")
        self.assertEqual(status, 200, body)
        return json.loads(body)["messages"]

    def test_page_is_served(self):
        status, body, headers = http("GET", self.aula.url + "/chat")
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers.get("Content-Type", ""))
        self.assertIn('id="messages"', body)

    def test_diagnosis_through_the_api(self):
        doc = diagnosis()
        learner = "a" * 32
        self.assertEqual(self.post({"learner": learner, "start": "diagnostico", "lang": "en"})[0], 200)
        msgs = wait_until(lambda: (lambda m: m if len(m) >= 2 else None)(self.poll(learner)), what="first messages")
        self.assertTrue(msgs[0]["msg"]["text"].startswith("Hi, colleague!"))
        self.assertEqual(msgs[1]["msg"]["text"], doc["nodes"]["rol"]["question"]["en"])
        choices = msgs[1]["msg"]["choices"]
        self.assertEqual([c["label"] for c in choices], [o["label"]["en"] for o in doc["nodes"]["rol"]["options"]])
        after = msgs[-1]["id"]
        self.assertEqual(self.post({"learner": learner, "choice": choices[2]["ref"], "lang": "en"})[0], 200)
        nxt = wait_until(lambda: self.poll(learner, after) or None, what="the next question")
        self.assertEqual(nxt[0]["msg"]["text"], doc["nodes"]["institucion"]["question"]["en"])

    def test_sample_lesson_through_the_api(self):
        with open(os.path.join(ROOT, "flows", "leccion-muestra.yaml"), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        learner = "b" * 32
        self.assertEqual(self.post({"learner": learner, "start": "leccion-muestra", "lang": "es"})[0], 200)
        seen = []

        def next_batch(n):
            msgs = wait_until(lambda: (lambda m: m if len(m) >= n else None)(self.poll(learner, seen[-1]["id"] if seen else "")),
                              what=f"{n} messages")
            seen.extend(msgs)
            return msgs
        msgs = next_batch(4)
        for node in ["edad", "jornada", "peligroso"]:
            question = msgs[-1]["msg"]
            self.assertEqual(question["text"], doc["nodes"][node]["quiz"]["es"])
            right = [i for i, o in enumerate(doc["nodes"][node]["options"]) if o.get("correct")][0]
            self.assertEqual(self.post({"learner": learner, "choice": question["choices"][right]["ref"]})[0], 200)
            msgs = next_batch(2)
            self.assertEqual(msgs[0]["msg"]["text"], doc["nodes"][node]["feedback"]["correct"]["es"])
        self.assertTrue(msgs[-1]["msg"]["text"].startswith(doc["nodes"]["recomendacion"]["question"]["es"]))
        self.assertEqual([c["label"] for c in msgs[-1]["msg"]["choices"]], [str(i) for i in range(11)])
        self.assertEqual(self.post({"learner": learner, "text": "10"})[0], 200)
        end = next_batch(1)[-1]["msg"]["text"]
        points = sum(n.get("points", 1) for n in doc["nodes"].values() if "quiz" in n)
        self.assertIn(f"{points}/{points}", end)
        self.assertTrue(end.startswith("🎉"))

    def test_bad_requests(self):
        self.assertEqual(self.post({"learner": "short", "text": "hola"})[0], 400)
        self.assertEqual(http("POST", self.aula.url + "/chat/api/send", "{no json")[0], 400)
        self.assertEqual(http("GET", self.aula.url + "/chat/api/poll?learner=nope")[0], 400)


class WithoutTestClock(unittest.TestCase):
    def test_clock_route_does_not_exist_without_aula_test_clock(self):
        from harness import ADMIN_TOKEN
        redis = Redis()
        self.addCleanup(redis.close)
        redis.start()
        aula = Aula(redis.url, extra_env={"AULA_TEST_CLOCK": ""})
        self.addCleanup(aula.close)
        aula.start()
        status, _, _ = http("POST", aula.url + "/admin/test/clock", {"advance": "1h"},
                            {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
        self.assertEqual(status, 404)
        self.assertEqual(http("GET", aula.url + "/healthz")[0], 200)


class WebChatInBrowser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.aula = Aula(cls.redis.url)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
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

    def open_fresh(self, path):
        """A new learner: an empty localStorage, then the page."""
        self.driver.get(self.aula.url + "/healthz")
        self.driver.execute_script("window.localStorage.clear();")
        self.driver.get(self.aula.url + path)

    def aula_texts(self):
        return [e.text for e in self.driver.find_elements("css selector", ".msg.aula")]

    def wait_for_text(self, start, count=None):
        def found():
            texts = self.aula_texts()
            hits = [t for t in texts if t.startswith(start)]
            return hits if hits and (count is None or len(hits) >= count) else None
        return wait_until(found, timeout=15, what=f"a message starting {start!r}")

    def type_answer(self, text):
        box = self.driver.find_element("id", "text")
        box.send_keys(text)
        self.driver.find_element("id", "send").click()

    def tap(self, label):
        def button():
            for b in self.driver.find_elements("css selector", ".choices button"):
                if b.is_enabled() and b.text == label:
                    return b
            return None
        wait_until(button, timeout=15, what=f"a button {label!r}").click()

    def test_take_the_diagnosis_in_the_browser(self):
        doc = diagnosis()
        q = {k: v["question"]["es"] for k, v in doc["nodes"].items() if "question" in v}
        self.open_fresh("/chat?flow=diagnostico&lang=es")
        self.wait_for_text("¡Hola, colega! 👋")
        self.wait_for_text(q["rol"])
        self.tap("Comisión local")
        self.wait_for_text(q["institucion"])
        self.type_answer("Comisión de Oaxaca — ¿sí? ¡claro! 🎉")
        self.wait_for_text(q["estado"])
        self.tap("Oaxaca")
        self.wait_for_text(q["anios"])
        self.type_answer("3")
        self.wait_for_text(q["capacitacion"])
        self.tap("No")
        for node in ["con-conceptos", "con-marco-legal", "con-deteccion", "con-inspeccion", "con-canalizacion",
                     "con-peligroso"]:
            self.wait_for_text(q[node])
            self.tap("3")
        self.wait_for_text(q["temas"])
        self.type_answer("1, 2")
        self.wait_for_text(q["horario"])
        self.tap("Tarde (15 a 19)")
        self.wait_for_text(q["necesidades"])
        self.type_answer("Rutas de canalización 🌽")
        self.wait_for_text("¡Gracias, colega! 🙌")
        # The learner's own words are shown as they were typed, as text (never as markup).
        mine = [e.text for e in self.driver.find_elements("css selector", ".msg.learner")]
        self.assertIn("Comisión de Oaxaca — ¿sí? ¡claro! 🎉", mine)
        # Old buttons are disabled once the conversation moves on.
        enabled = [b for b in self.driver.find_elements("css selector", ".choices button") if b.is_enabled()]
        self.assertEqual(enabled, [])
        self.driver.save_screenshot(os.path.join(tempfile.gettempdir(), "aula-web-chat.png"))

    def test_markup_typed_by_a_learner_stays_text(self):
        self.open_fresh("/chat?flow=diagnostico&lang=es")
        self.wait_for_text("¿Cuál es tu función?")
        self.tap("Otra")
        self.wait_for_text("¿En qué institución")
        self.type_answer("<img src=x onerror=alert(1)><b>negrita</b>")
        self.wait_for_text("¿En qué estado trabajas?")
        self.assertEqual(self.driver.find_elements("css selector", ".msg img"), [])
        self.assertEqual(self.driver.find_elements("css selector", ".msg b"), [])


if __name__ == "__main__":
    unittest.main()
