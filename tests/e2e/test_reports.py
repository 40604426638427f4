"""The reports end to end, on both record stores: web-chat learners in two cohorts and two
states take the sample course's first module (quiz answers right and wrong at the first
attempt, the closing 0-10 question) and the needs diagnosis; one finishes the course. The
admin API's reports (/admin/reports/progress, items, survey, answers; JSON and CSV) and
`aula report` must give the numbers counted by hand from the script below, never from aula's
own reports: question texts, accents and a learner's emoji intact, a UTF-8 BOM on request, a
formula typed by a learner neutralized; a facilitator sees their cohort only.

Run once with aula's default SQLite record store and once with PostgreSQL (AULA_RECORDS_URL =
a fresh database on the server of AULA_TEST_POSTGRES_URL; skipped when that is unset)."""

import csv
import io
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse


from harness import (ADMIN_TOKEN, AULA_BIN, ROOT, Aula, Redis, WebLearner, admin, advance_to_local, http, label,
                     load_yaml, wait_until)

COURSE = "curso-muestra"
LESSON = "leccion-muestra"
SURVEY = "diagnostico"


# -- The script ---------------------------------------------------------------------------------

# name, state, cohort; eva enrols and never answers.
PEOPLE = {
    "ana": ("Ana Núñez", "Jalisco", "norte"),
    "beto": ("Beto Peña", "Oaxaca", "norte"),
    "carla": ("Carla Ruíz", "Oaxaca", "sur"),
    "dani": ("Dani López", "Jalisco", "sur"),
    "eva": ("Eva Díaz", "Oaxaca", "sur"),
}
# Module 1's quiz, attempt by attempt (edad: b right; jornada: seis right, two attempts;
# peligroso: no right), and the closing 0-10 question.
QUIZ = {
    "ana": {"edad": ["b"], "jornada": ["seis"], "peligroso": ["no"]},
    "beto": {"edad": ["a"], "jornada": ["ocho", "seis"], "peligroso": ["no"]},
    "carla": {"edad": ["c"], "jornada": ["diez", "ocho"], "peligroso": ["si"]},
    "dani": {"edad": ["a"], "jornada": ["seis"], "peligroso": ["no"]},
}
NPS = {"ana": "10", "beto": "9", "carla": "3", "dani": "7"}
FORMULA = '=HYPERLINK("http://x.example/a","clic")'
NEEDS_ANA = "¿Cómo documento un caso de niñas en el campo? Más práctica 🙏"
# The diagnosis, as typed (numbers pick options), in the flow's order.
DIAGNOSIS = {
    "ana": {"rol": "1", "institucion": "Secretaría del Trabajo, Jalisco 🦉", "estado": "14", "anios": "12",
            "capacitacion": "1", "con-conceptos": "4", "con-marco-legal": "5", "con-deteccion": "2",
            "con-inspeccion": "3", "con-canalizacion": "1", "con-peligroso": "5", "temas": "1, 4", "horario": "1",
            "necesidades": NEEDS_ANA},
    "beto": {"rol": "2", "institucion": "STPS", "estado": "20", "anios": "3", "capacitacion": "3",
             "con-conceptos": "2", "con-marco-legal": "3", "con-deteccion": "2", "con-inspeccion": "4",
             "con-canalizacion": "2", "con-peligroso": "5", "temas": "4 6", "horario": "1", "necesidades": FORMULA},
    "carla": {"rol": "1", "institucion": "Comisión local de Oaxaca", "estado": "20", "anios": "0",
              "capacitacion": "3", "con-conceptos": "3", "con-marco-legal": "1", "con-deteccion": "2",
              "con-inspeccion": "5", "con-canalizacion": "3", "con-peligroso": "4", "temas": "4",
              "horario": "3", "necesidades": "Rutas de canalización"},
}
SURVEY_QUESTIONS = 14  # question nodes of diagnostico.yaml (checked against the file below)


class ReportsEndToEnd:
    """The body both record stores run. Subclasses set records_url() and may clean up."""

    @classmethod
    def records_url(cls):
        return None  # the harness's default: a SQLite file of this instance's own

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-reports-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        env = {}
        url = cls.records_url()
        if url:
            env["AULA_RECORDS_URL"] = url
        cls.aula = Aula(cls.redis.url, extra_env=env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.m1 = load_yaml(os.path.join(ROOT, "flows", LESSON + ".yaml"))
        cls.m2 = load_yaml(os.path.join(ROOT, "flows", "leccion-muestra-2.yaml"))
        cls.diag = load_yaml(os.path.join(ROOT, "flows", SURVEY + ".yaml"))
        questions = [k for k, n in cls.diag["nodes"].items() if "question" in n]
        assert questions == list(DIAGNOSIS["ana"]), questions
        assert len(questions) == SURVEY_QUESTIONS
        cls.make_data()

    # -- Texts from the flow files -----------------------------------------------------------

    @classmethod
    def question(cls, doc, node):
        n = doc["nodes"][node]
        return label(n.get("quiz") or n.get("question"))

    @classmethod
    def option(cls, doc, node, oid):
        return label(next(o for o in doc["nodes"][node]["options"] if str(o["id"]) == oid)["label"])

    @classmethod
    def right(cls, doc, node):
        return next(str(o["id"]) for o in doc["nodes"][node]["options"] if o.get("correct"))

    # -- The conversations ---------------------------------------------------------------------

    @classmethod
    def make_data(cls):
        m1, m2 = cls.m1, cls.m2
        cls.learners = {}
        for cohort in ("norte", "sur"):
            lines = ["nombre,canal,direccion,estado"]
            for i, (key, (name, state, c)) in enumerate(PEOPLE.items()):
                if c != cohort:
                    continue
                learner = WebLearner(cls.aula, f"{i + 0xa1:02x}" * 16)
                cls.learners[key] = learner
                lines.append(f"{name},web,{learner.id},{state}")
            status, body = admin(cls.aula, "POST", "/admin/learners/import",
                                 {"cohort": cohort, "course": COURSE, "default_channel": "web",
                                  "csv": "\n".join(lines) + "\n"})
            assert status == 200 and body["imported"] == len(lines) - 1 and not body["problems"], (status, body)

        # Module 1 (the course starts it at once).
        for key, answers in QUIZ.items():
            learner = cls.learners[key]
            for node in ["edad", "jornada", "peligroso"]:
                for oid in answers[node]:
                    learner.tap(cls.question(m1, node), cls.option(m1, node, oid))
            learner.tap(cls.question(m1, "recomendacion"), NPS[key])
            learner.wait_text(label(m1["nodes"]["fin"]["message"]).split("{{")[0])

        # The diagnosis, typed, while they wait for module 2.
        diag = cls.diag
        for key, answers in DIAGNOSIS.items():
            learner = cls.learners[key]
            learner.send({"start": SURVEY})
            for node, text in answers.items():
                learner.say(cls.question(diag, node), text)
            learner.wait_text(label(diag["nodes"]["fin"]["message"]).split("{{")[0])

        # The next day at 09:00 local module 2 opens (drip); Ana finishes the course with it.
        cfg = load_yaml(cls.aula.env["AULA_CONFIG"])
        ana = cls.learners["ana"]
        ana.answered = len(ana.poll())  # before the clock moves: module 2 may arrive at once
        # Under 48 h: no nudges yet.
        advance_to_local(cls.aula, cfg.get("default_time_zone") or "America/Mexico_City", 9, days=1)
        for node in ["cual-convenio", "anio"]:
            ana.tap(cls.question(m2, node), cls.option(m2, node, cls.right(m2, node)))
        course = next(c for c in load_yaml(os.path.join(ROOT, "flows", "course.yaml"))["courses"] if c["id"] == COURSE)
        ana.wait_text(label(course["completion"]["message"]).split("{{")[0])

        # Answers counted from the script: module 1's quiz attempts and closing question, and
        # every diagnosis question of each of the three who took it.
        cls.lesson_answers = sum(len(v) for a in QUIZ.values() for v in a.values()) + len(NPS)
        assert cls.lesson_answers == 18
        cls.survey_answers = len(DIAGNOSIS) * SURVEY_QUESTIONS
        assert cls.survey_answers == 42

        # The records reach the record store asynchronously: wait until the reports count them.
        def drained():
            _, lesson = admin(cls.aula, "GET", f"/admin/reports/answers?flow={LESSON}")
            _, survey = admin(cls.aula, "GET", f"/admin/reports/answers?flow={SURVEY}")
            _, prog = admin(cls.aula, "GET", "/admin/reports/progress")
            done = [r for r in prog.get("by_cohort", []) if r["cohort"] == "norte" and r["completed"] == 1]
            return (len(lesson.get("rows", [])) == cls.lesson_answers and
                    len(survey.get("rows", [])) == cls.survey_answers and done)
        try:
            wait_until(drained, timeout=30, interval=0.3, what="the records in the record store")
        except AssertionError:
            for path in (f"/admin/reports/answers?flow={LESSON}", "/admin/reports/progress"):
                print(path, admin(cls.aula, "GET", path))
            raise

    # -- Helpers ----------------------------------------------------------------------------

    def get(self, path, token=ADMIN_TOKEN):
        status, body = admin(self.aula, "GET", path, token=token)
        self.assertEqual(status, 200, body)
        return body

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AULA_")}
        env.update({k: v for k, v in self.aula.env.items() if k.startswith("AULA_")})
        return subprocess.run([AULA_BIN, *args], env=env, capture_output=True, timeout=120, cwd=self.tmp)

    def facilitator(self, cohort):
        status, made = admin(self.aula, "POST", "/admin/tokens",
                             {"name": f"Facilitadora {cohort} {random.randrange(1 << 30)}", "role": "facilitator",
                              "cohorts": [cohort]})
        self.assertEqual(status, 201, made)
        return made["token"]

    def conv(self, key):
        return self.learners[key].conv

    # -- Tests ---------------------------------------------------------------------------------

    def test_progress_per_cohort_and_state(self):
        rep = self.get("/admin/reports/progress")
        rows = {(r["cohort"], r["course"]): r for r in rep["by_cohort"]}
        # norte: Ana (finished the course) and Beto; sur: Carla, Dani and Eva, nobody finished.
        self.assertEqual((rows["norte", COURSE]["learners"], rows["norte", COURSE]["completed"]), (2, 1))
        self.assertAlmostEqual(rows["norte", COURSE]["share"], 0.5)
        self.assertEqual((rows["sur", COURSE]["learners"], rows["sur", COURSE]["completed"]), (3, 0))
        self.assertAlmostEqual(rows["sur", COURSE]["share"], 0.0)
        states = {(r["state"], r["course"]): r for r in rep["by_state"]}
        self.assertEqual((states["Jalisco", COURSE]["learners"], states["Jalisco", COURSE]["completed"]), (2, 1))
        self.assertEqual((states["Oaxaca", COURSE]["learners"], states["Oaxaca", COURSE]["completed"]), (3, 0))
        names = sorted(learner["name"] for learner in rep["learners"])
        self.assertEqual(names, sorted(p[0] for p in PEOPLE.values()))
        # A cohort filter lists that cohort only.
        sur = self.get("/admin/reports/progress?cohort=sur")
        self.assertEqual([r["cohort"] for r in sur["by_cohort"]], ["sur"])
        self.assertEqual(sorted(learner["name"] for learner in sur["learners"]), ["Carla Ruíz", "Dani López", "Eva Díaz"])
        # CSV: one row per learner and course.
        status, text, _ = http("GET", self.aula.url + "/admin/reports/progress?cohort=norte&format=csv",
                               headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertEqual(status, 200)
        got = {r["name"]: r for r in csv.DictReader(io.StringIO(text))}
        self.assertEqual(sorted(got), ["Ana Núñez", "Beto Peña"])
        self.assertEqual(got["Ana Núñez"]["status"], "completed")

    def test_items_first_attempt_and_most_chosen_wrong(self):
        def first_share(node, learners):
            firsts = [QUIZ[k][node][0] for k in learners]
            return sum(v == self.right(self.m1, node) for v in firsts) / len(firsts)

        rep = self.get(f"/admin/reports/items?flow={LESSON}")
        nodes = {n["node"]: n for n in rep["nodes"]}
        self.assertEqual(list(nodes), ["edad", "jornada", "peligroso"])  # in the order the flow asks
        # edad: first attempts b, a, c, a: 1 of 4 right; "a" is the wrong answer chosen most (2).
        self.assertEqual(first_share("edad", QUIZ), 0.25)
        self.assertEqual((nodes["edad"]["learners"], nodes["edad"]["first_correct"]), (4, 1))
        self.assertAlmostEqual(nodes["edad"]["first_correct_share"], 0.25)
        self.assertEqual(nodes["edad"]["question"], self.question(self.m1, "edad"))
        self.assertEqual(nodes["edad"]["most_chosen_wrong"],
                         {"value": "a", "count": 2, "label": self.option(self.m1, "edad", "a")})
        # jornada: firsts seis, ocho, diez, seis (2 of 4); wrong attempts ocho 2 (Beto's first,
        # Carla's second), diez 1.
        self.assertAlmostEqual(nodes["jornada"]["first_correct_share"], 0.5)
        self.assertEqual(nodes["jornada"]["correct_any"], 3)
        self.assertEqual(nodes["jornada"]["most_chosen_wrong"]["value"], "ocho")
        self.assertEqual(nodes["jornada"]["most_chosen_wrong"]["count"], 2)
        # peligroso: no, no, si, no.
        self.assertAlmostEqual(nodes["peligroso"]["first_correct_share"], 0.75)
        self.assertEqual(nodes["peligroso"]["most_chosen_wrong"]["value"], "si")

        # Cohort sur (Carla, Dani): edad c and a, none right; a and c wrong once each: "a" (by id).
        sur = {n["node"]: n for n in self.get(f"/admin/reports/items?flow={LESSON}&cohort=sur")["nodes"]}
        self.assertEqual(sur["edad"]["learners"], 2)
        self.assertAlmostEqual(sur["edad"]["first_correct_share"], first_share("edad", ["carla", "dani"]))
        self.assertEqual(sur["edad"]["most_chosen_wrong"]["value"], "a")
        self.assertEqual(sur["jornada"]["most_chosen_wrong"]["value"], "diez")  # diez 1, ocho 1: by id
        # Cohort norte (Ana, Beto): peligroso right for both: nothing wrong to show.
        norte = {n["node"]: n for n in self.get(f"/admin/reports/items?flow={LESSON}&cohort=norte")["nodes"]}
        self.assertAlmostEqual(norte["peligroso"]["first_correct_share"], 1.0)
        self.assertIsNone(norte["peligroso"]["most_chosen_wrong"])

    def test_survey_tallies_means_and_nps(self):
        # The lesson's closing question: 10 and 9 promote, 7 is passive, 3 detracts: (2 - 1) / 4.
        lesson = self.get(f"/admin/reports/survey?flow={LESSON}")
        self.assertEqual(lesson["nps"][0]["node"], "recomendacion")
        self.assertEqual({k: lesson["nps"][0][k] for k in ("responses", "promoters", "passives", "detractors")},
                         {"responses": 4, "promoters": 2, "passives": 1, "detractors": 1})
        self.assertAlmostEqual(lesson["nps"][0]["nps"], 25.0)
        rec = next(n for n in lesson["nodes"] if n["node"] == "recomendacion")
        self.assertAlmostEqual(rec["numeric"]["mean"], (10 + 9 + 3 + 7) / 4)
        self.assertEqual((rec["numeric"]["min"], rec["numeric"]["max"]), (3, 10))
        sur = self.get(f"/admin/reports/survey?flow={LESSON}&cohort=sur")
        self.assertAlmostEqual(sur["nps"][0]["nps"], -50.0)  # Carla 3 (detractor), Dani 7 (passive)

        rep = self.get(f"/admin/reports/survey?flow={SURVEY}")
        nodes = {n["node"]: n for n in rep["nodes"]}
        self.assertEqual(len(nodes), SURVEY_QUESTIONS)
        # rol: 1, 2, 1.
        self.assertEqual([(v["value"], v["count"], v["label"]) for v in nodes["rol"]["values"]],
                         [("inspector-federal", 2, self.option(self.diag, "rol", "inspector-federal")),
                          ("inspector-local", 1, self.option(self.diag, "rol", "inspector-local"))])
        self.assertAlmostEqual(nodes["anios"]["numeric"]["mean"], (12 + 3 + 0) / 3)
        self.assertAlmostEqual(nodes["con-peligroso"]["numeric"]["mean"], (5 + 5 + 4) / 3)
        self.assertAlmostEqual(nodes["con-deteccion"]["numeric"]["mean"], 2.0)
        # temas: detección 3 (all), conceptos 1, canalización 1.
        self.assertEqual(nodes["temas"]["values"][0]["value"], "deteccion")
        self.assertEqual(nodes["temas"]["values"][0]["count"], 3)
        self.assertEqual(sorted((v["value"], v["count"]) for v in nodes["temas"]["values"][1:]),
                         [("canalizacion", 1), ("conceptos", 1)])
        self.assertIn(NEEDS_ANA, [t["text"] for t in nodes["necesidades"]["texts"]])
        # Means per state: Jalisco is Ana alone (4 on conceptos), Oaxaca Beto and Carla (2, 3).
        by_state = {(r["state"], r["node"]): r for r in rep["by_state"]}
        self.assertAlmostEqual(by_state["Jalisco", "con-conceptos"]["mean"], 4.0)
        self.assertAlmostEqual(by_state["Oaxaca", "con-conceptos"]["mean"], 2.5)
        # The diagnosis ranking: the least known topics first (detección 2, canalización 2).
        diag = self.get(f"/admin/reports/diagnosis?flow={SURVEY}")
        self.assertEqual([t["node"] for t in diag["topics"][:2]], ["con-deteccion", "con-canalizacion"])

    def test_answers_long_with_question_texts_and_utf8(self):
        rep = self.get(f"/admin/reports/answers?flow={SURVEY}")
        self.assertEqual(rep["layout"], "long")
        rows = rep["rows"]
        self.assertEqual(len(rows), self.survey_answers)
        self.assertEqual([r["at"] for r in rows], sorted(r["at"] for r in rows))  # oldest first
        mine = {(r["conv"], r["node"]): r for r in rows}
        ana, beto = self.conv("ana"), self.conv("beto")
        # Every row carries its question, in the flow's words (¿ and accents as written).
        for r in rows:
            self.assertEqual(r["question"], self.question(self.diag, r["node"]), r)
        temas = mine[ana, "temas"]
        self.assertEqual(temas["question"], "¿Qué 3 temas necesitas más?")
        self.assertEqual(temas["value"], ["conceptos", "deteccion"])
        self.assertEqual(temas["answer"], "; ".join([self.option(self.diag, "temas", "conceptos"),
                                                     self.option(self.diag, "temas", "deteccion")]))
        self.assertEqual(temas["type"], "multi")
        self.assertEqual((temas["name"], temas["state"], temas["cohorts"]), ("Ana Núñez", "Jalisco", ["norte"]))
        rol = mine[beto, "rol"]
        self.assertEqual((rol["value"], rol["answer"]), ("inspector-local", "Inspección local"))
        # Free text as typed: á ñ ¿ and the emoji intact.
        needs = mine[ana, "necesidades"]
        self.assertEqual(needs["value"], NEEDS_ANA)
        self.assertEqual(needs["answer"], NEEDS_ANA)
        self.assertEqual(needs["type"], "text")
        self.assertEqual(mine[ana, "institucion"]["answer"], "Secretaría del Trabajo, Jalisco 🦉")
        self.assertEqual(mine[beto, "anios"]["value"], 3)
        self.assertEqual(mine[beto, "anios"]["answer"], "3")

        # The lesson: every quiz attempt, right or wrong, with its option label.
        lesson = self.get(f"/admin/reports/answers?flow={LESSON}")["rows"]
        self.assertEqual(len(lesson), self.lesson_answers)
        beto_jornada = [r for r in lesson if r["conv"] == beto and r["node"] == "jornada"]
        self.assertEqual([(r["value"], r["answer"], r["correct"], r["attempt"]) for r in beto_jornada],
                         [("ocho", self.option(self.m1, "jornada", "ocho"), False, 1),
                          ("seis", self.option(self.m1, "jornada", "seis"), True, 2)])
        self.assertEqual(beto_jornada[0]["question"], self.question(self.m1, "jornada"))
        english = self.get(f"/admin/reports/answers?flow={LESSON}&lang=en")["rows"]
        edad_en = next(r for r in english if r["node"] == "edad" and r["value"] == "a")
        self.assertEqual((edad_en["question"], edad_en["answer"]),
                         (label(self.m1["nodes"]["edad"]["quiz"], "en"),
                          label(self.m1["nodes"]["edad"]["options"][0]["label"], "en")))
        nps_rows = [r for r in lesson if r["node"] == "recomendacion"]
        self.assertEqual(sorted(r["value"] for r in nps_rows), [3, 7, 9, 10])
        self.assertTrue(all(r["correct"] is None for r in nps_rows))

        # free_text=0: the two text questions are left out (3 learners x 2).
        private = self.get(f"/admin/reports/answers?flow={SURVEY}&free_text=0")["rows"]
        self.assertEqual(len(private), self.survey_answers - 6)
        self.assertFalse({"institucion", "necesidades"} & {r["node"] for r in private})
        # Scoped by cohort: sur took the survey through Carla only.
        self.assertEqual({r["conv"] for r in self.get(f"/admin/reports/answers?flow={SURVEY}&cohort=sur")["rows"]},
                         {self.conv("carla")})
        # Parameters are percent-decoded (the dashboard sends encodeURIComponent): "Jal%69sco".
        jalisco = self.get(f"/admin/reports/answers?flow={SURVEY}&state=Jal%69sco")["rows"]
        self.assertEqual({r["conv"] for r in jalisco}, {ana})
        self.assertEqual(len(jalisco), SURVEY_QUESTIONS)
        # Unknown flow, bad layout.
        self.assertEqual(admin(self.aula, "GET", "/admin/reports/answers?flow=no-such-flow")[0], 404)
        self.assertEqual(admin(self.aula, "GET", f"/admin/reports/answers?flow={SURVEY}&layout=tall")[0], 400)

    def test_answers_csv_bom_neutralized_and_wide(self):
        status, text, headers = http("GET", self.aula.url + f"/admin/reports/answers?flow={SURVEY}&format=csv&bom=1",
                                     headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertEqual(status, 200, text)
        self.assertIn("text/csv", headers.get("Content-Type", ""))
        self.assertTrue(text.startswith("\ufeff"), repr(text[:10]))  # EF BB BF, decoded
        rows = list(csv.DictReader(io.StringIO(text[1:])))
        self.assertEqual(len(rows), self.survey_answers)
        beto_needs = next(r for r in rows if r["conv"] == self.conv("beto") and r["node"] == "necesidades")
        # The formula a learner typed is shown as text: a leading apostrophe.
        self.assertEqual(beto_needs["answer"], "'" + FORMULA)
        self.assertEqual(beto_needs["text"], "'" + FORMULA)
        ana_needs = next(r for r in rows if r["conv"] == self.conv("ana") and r["node"] == "necesidades")
        self.assertEqual(ana_needs["answer"], NEEDS_ANA)
        self.assertEqual(ana_needs["question"], self.question(self.diag, "necesidades"))
        self.assertEqual(ana_needs["cohorts"], "norte")
        self.assertRegex(ana_needs["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # Without bom=1 there is none.
        status, plain, _ = http("GET", self.aula.url + f"/admin/reports/answers?flow={SURVEY}&format=csv",
                                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertTrue(plain.startswith("conv,"), plain[:20])

        # Wide: one row per learner, one column per question in the flow's order.
        wide = self.get(f"/admin/reports/answers?flow={SURVEY}&layout=wide")
        self.assertEqual([c["node"] for c in wide["columns"]], list(DIAGNOSIS["ana"]))
        self.assertEqual(wide["columns"][0]["header"], self.question(self.diag, "rol"))
        self.assertEqual([r["name"] for r in wide["rows"]], ["Ana Núñez", "Beto Peña", "Carla Ruíz"])
        ana = wide["rows"][0]["answers"]
        self.assertEqual(ana["rol"], self.option(self.diag, "rol", "inspector-federal"))
        self.assertEqual(ana["anios"], 12)
        self.assertEqual(ana["con-conceptos"], 4)
        self.assertEqual(ana["necesidades"], NEEDS_ANA)
        # The same as CSV; free_text=0 drops the text columns.
        status, text, _ = http("GET", self.aula.url + f"/admin/reports/answers?flow={SURVEY}&layout=wide&format=csv"
                                                      "&free_text=0", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertEqual(status, 200, text)
        table = list(csv.reader(io.StringIO(text)))
        questions = [self.question(self.diag, n) for n in DIAGNOSIS["ana"] if n not in ("institucion", "necesidades")]
        self.assertEqual(table[0], ["conv", "name", "state", "cohorts"] + questions)
        self.assertEqual(len(table), 1 + 3)
        carla = next(r for r in table if r[1] == "Carla Ruíz")
        self.assertEqual(carla[3], "sur")
        self.assertEqual(carla[4 + questions.index(self.question(self.diag, "anios"))], "0")  # a number, whole
        self.assertEqual(carla[4 + questions.index(self.question(self.diag, "temas"))],
                         self.option(self.diag, "temas", "deteccion"))

    def test_aula_report_command(self):
        # items for cohort norte (Ana, Beto): edad b, a (1 of 2 right), peligroso 2 of 2.
        out = self.cli("report", "items", "--flow", LESSON, "--cohort", "norte")
        stdout = out.stdout.decode("utf-8")
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn(self.question(self.m1, "edad"), stdout)
        self.assertIn("right at the first attempt 1/2 (50 %)", stdout)
        self.assertIn("right at the first attempt 2/2 (100 %)", stdout)
        self.assertIn(f'most chosen wrong: a "{self.option(self.m1, "edad", "a")}" (1×)', stdout)
        # survey: the lesson's NPS.
        out = self.cli("report", "survey", "--flow", LESSON)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn("NPS 25 (promoters 2, passives 1, detractors 1)", out.stdout.decode())
        # progress as a table, per cohort.
        out = self.cli("report", "progress")
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        line = next(ln for ln in out.stdout.decode().splitlines() if ln.split()[:2] == ["norte", COURSE])
        self.assertEqual(line.split()[2:], ["2", "1", "50", "%"])
        # json: the API's JSON.
        out = self.cli("report", "answers", "--flow", LESSON, "--format", "json", "--cohort", "sur")
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        rows = json.loads(out.stdout)["rows"]
        self.assertEqual(len(rows), 5 + 4)  # Carla: 1 + 2 + 1 quiz attempts and her 0-10; Dani: 3 + 1
        # csv to a file, with the BOM: the bytes the API gives.
        path = os.path.join(self.tmp, "respuestas.csv")
        out = self.cli("report", "answers", "--flow", SURVEY, "--format", "csv", "--bom", "--output", path)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        with open(path, "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(b"\xef\xbb\xbf"))
        _, api, _ = http("GET", self.aula.url + f"/admin/reports/answers?flow={SURVEY}&format=csv&bom=1",
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        self.assertEqual(data.decode("utf-8"), api)
        self.assertIn(NEEDS_ANA.encode("utf-8"), data)
        # The table of answers, and the other reports print without errors.
        out = self.cli("report", "answers", "--flow", SURVEY, "--cohort", "norte")
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn("Beto Peña", out.stdout.decode())
        for args in (["funnel", "--course", COURSE], ["delivery"], ["diagnosis"],
                     ["answers", "--flow", SURVEY, "--layout", "wide"]):
            out = self.cli("report", *args)
            self.assertEqual(out.returncode, 0, (args, out.stderr.decode()))
            self.assertTrue(out.stdout.strip(), args)
        # Usage errors: exit 2.
        out = self.cli("report", "items")
        self.assertEqual(out.returncode, 2)
        self.assertIn("--flow", out.stderr.decode())
        self.assertEqual(self.cli("report", "items", "--flow", LESSON, "--token", "nope").returncode, 2)
        self.assertNotEqual(self.cli("report", "nothing").returncode, 0)  # not a report: CLI11 says so
        # A flow that does not exist: exit 1, said.
        out = self.cli("report", "items", "--flow", "no-such-flow")
        self.assertEqual(out.returncode, 1)
        self.assertIn("no-such-flow", out.stderr.decode())

    def test_facilitator_sees_their_cohort_only(self):
        token = self.facilitator("norte")
        # No cohort named: their cohort's learners only.
        rows = self.get(f"/admin/reports/answers?flow={LESSON}", token=token)["rows"]
        self.assertEqual({r["conv"] for r in rows}, {self.conv("ana"), self.conv("beto")})
        self.assertEqual(len(rows), 4 + 5)  # Ana: 3 quiz + 0-10; Beto: 4 quiz attempts + 0-10
        prog = self.get("/admin/reports/progress", token=token)
        self.assertEqual([r["cohort"] for r in prog["by_cohort"]], ["norte"])
        self.assertEqual(sorted(learner["name"] for learner in prog["learners"]), ["Ana Núñez", "Beto Peña"])
        items = {n["node"]: n for n in self.get(f"/admin/reports/items?flow={LESSON}", token=token)["nodes"]}
        self.assertEqual(items["edad"]["learners"], 2)
        # The other cohort: 403, in the API and in `aula report` (exit 2).
        for path in (f"/admin/reports/answers?flow={LESSON}&cohort=sur", "/admin/reports/progress?cohort=sur",
                     f"/admin/reports/items?flow={LESSON}&cohort=sur"):
            self.assertEqual(admin(self.aula, "GET", path, token=token)[0], 403, path)
        out = self.cli("report", "progress", "--cohort", "sur", "--token", token)
        self.assertEqual(out.returncode, 2)
        self.assertIn("not yours", out.stderr.decode())
        out = self.cli("report", "items", "--flow", LESSON, "--token", token)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        self.assertIn("right at the first attempt 1/2 (50 %)", out.stdout.decode())


class ReportsOnSQLite(ReportsEndToEnd, unittest.TestCase):
    pass


PG_SERVER = os.environ.get("AULA_TEST_POSTGRES_URL", "")


@unittest.skipUnless(PG_SERVER, "AULA_TEST_POSTGRES_URL is not set (scripts/test starts a throwaway PostgreSQL)")
class ReportsOnPostgreSQL(ReportsEndToEnd, unittest.TestCase):
    @classmethod
    def records_url(cls):
        # A database of this class's own on the test server, dropped afterwards (after aula
        # stops: class cleanups run last registered first).
        name = f"aula_e2e_reports_{os.getpid()}_{random.randrange(1 << 32):08x}"
        subprocess.run(["psql", PG_SERVER, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                        f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'"], check=True,
                       capture_output=True, timeout=60)
        cls.addClassCleanup(subprocess.run, ["psql", PG_SERVER, "-q", "-c",
                                             f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                            capture_output=True, timeout=60)
        parts = urllib.parse.urlsplit(PG_SERVER)
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))

    def test_reports_read_postgresql(self):
        self.assertIn("postgres", self.aula.env["AULA_RECORDS_URL"])
        out = subprocess.run(["psql", self.aula.env["AULA_RECORDS_URL"], "-At", "-c",
                              f"SELECT COUNT(*) FROM records WHERE flow = '{SURVEY}' AND type = 'answer'"
                              " AND status = 'answered'"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(int(out.stdout.strip()), self.survey_answers)


if __name__ == "__main__":
    unittest.main()
