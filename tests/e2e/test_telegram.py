"""A learner on Telegram, end to end: aula serve with a real redis-server, the mock Bot API
over real HTTP. Expected texts come from the flow files, never from aula's output."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import unittest

from harness import (ROOT, Aula, MockTelegram, Redis, _stored_results, http, load_flow, partition_of, results, tg_tap,
                     tg_text, wait_until, write_test_config)


def flow_texts(name, lang="es"):
    return load_flow(os.path.join(ROOT, "flows"), name, lang)


def fill_name(text, name):
    return text.replace("{{contact.name|colega}}", name).replace("{{contact.name|colleague}}", name)


class TelegramLearners:
    """A server with its own Redis and mock Bot API per class, and what its tests ask of them.
    Record stores are read across classes (harness.results): each class its own chat ids."""
    extra_env = None
    chats = 5000

    @classmethod
    def setUpClass(cls):
        # Each process is stopped by a class cleanup, which also runs when setUpClass fails
        # half-way (after tearDownClass otherwise), so none outlives the suite.
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.mock = MockTelegram()
        cls.addClassCleanup(cls.mock.close)
        cls.aula = Aula(cls.redis.url, cls.mock.url, extra_env=cls.extra_env)
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def setUp(self):
        self.mock.reset()

    def send(self, update):
        status, body, _ = self.aula.telegram(update)
        self.assertEqual(status, 200, body)
        return body

    def wait_messages(self, chat_id, count):
        def enough():
            mine = [c for c in self.mock.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat_id)]
            return mine if len(mine) >= count else None
        return wait_until(enough, timeout=15, what=f"{count} messages to {chat_id}")

    def results(self, conv):
        """Result records of one conversation (the record store's, then Redis's)."""
        return results(self.redis, conv)


class TelegramEndToEnd(TelegramLearners, unittest.TestCase):
    def test_diagnosis_end_to_end(self):
        chat = self.chats + 1
        doc, es = flow_texts("diagnostico")
        self.send(tg_text(chat, "/start diagnostico", first_name="José"))
        msgs = self.wait_messages(chat, 2)
        self.assertEqual(msgs[0]["body"]["text"], fill_name(es["bienvenida"], "José"))
        self.assertTrue(msgs[1]["body"]["text"].startswith(es["rol"]))
        keyboard = msgs[1]["body"]["reply_markup"]["inline_keyboard"]
        labels = [row[0]["text"] for row in keyboard]
        self.assertEqual(labels, [o["label"]["es"] for o in doc["nodes"]["rol"]["options"]])
        self.send(tg_tap(chat, keyboard[0][0]["callback_data"]))
        # The tapped keyboard is removed so it cannot be tapped twice.
        wait_until(lambda: [c for c in self.mock.calls("editMessageReplyMarkup")
                            if str(c["body"].get("chat_id")) == str(chat)
                            and c["body"].get("reply_markup") == {"inline_keyboard": []}], what="keyboard removal")
        answers = [("institucion", "STPS Jalisco — ¿sí? ¡claro! 🎉"), ("estado", "Jalisco"), ("anios", "7"),
                   ("capacitacion", "3")]
        expected_next = ["institucion", "estado", "anios", "capacitacion"]
        count = 2
        # rol answered by the tap: next comes institucion.
        for (node, reply), expect in zip(answers, expected_next):
            count += 1
            msgs = self.wait_messages(chat, count)
            self.assertTrue(msgs[-1]["body"]["text"].startswith(es[expect]), msgs[-1]["body"]["text"])
            self.send(tg_text(chat, reply))
        # After capacitacion: the intro message and the first scale.
        count += 2
        msgs = self.wait_messages(chat, count)
        self.assertEqual(msgs[-2]["body"]["text"], es["intro-conocimiento"])
        for node in ["con-conceptos", "con-marco-legal", "con-deteccion", "con-inspeccion", "con-canalizacion",
                     "con-peligroso"]:
            msgs = self.wait_messages(chat, count)
            self.assertTrue(msgs[-1]["body"]["text"].startswith(es[node]), msgs[-1]["body"]["text"])
            self.send(tg_text(chat, "4"))
            count += 1
        msgs = self.wait_messages(chat, count)
        self.assertTrue(msgs[-1]["body"]["text"].startswith(es["temas"]))
        self.send(tg_text(chat, "1, 4 y 7"))
        count += 1
        msgs = self.wait_messages(chat, count)
        self.assertTrue(msgs[-1]["body"]["text"].startswith(es["horario"]))
        self.send(tg_text(chat, "mañana"))
        count += 1
        msgs = self.wait_messages(chat, count)
        self.assertTrue(msgs[-1]["body"]["text"].startswith(es["necesidades"]))
        self.send(tg_text(chat, "Canalizar casos en el campo 🌽"))
        count += 1
        msgs = self.wait_messages(chat, count)
        self.assertEqual(msgs[-1]["body"]["text"], fill_name(doc["nodes"]["fin"]["message"]["es"], "José"))
        # Every answer is a result record, the learner's text intact.
        records = wait_until(lambda: [r for r in self.results(f"telegram:{chat}") if r["type"] == "answer"] or None,
                             what="answer records")
        questions = [n for n in doc["nodes"].values() if "question" in n]
        self.assertEqual(len(records), len(questions))
        self.assertIn("STPS Jalisco — ¿sí? ¡claro! 🎉", [r.get("text") for r in records])
        ends = [r for r in self.results(f"telegram:{chat}") if r["type"] == "end"]
        self.assertEqual([e["status"] for e in ends], ["completed"])

    def test_sample_lesson_end_to_end_with_taps(self):
        chat = self.chats + 6
        doc, es = flow_texts("leccion-muestra")
        self.send(tg_text(chat, "/start leccion-muestra", first_name="Ana"))
        count = 4
        for node in ["edad", "jornada", "peligroso"]:
            msgs = self.wait_messages(chat, count)
            self.assertEqual(msgs[-1]["body"]["text"], es[node])
            keyboard = msgs[-1]["body"]["reply_markup"]["inline_keyboard"]
            options = doc["nodes"][node]["options"]
            self.assertEqual([row[0]["text"] for row in keyboard], [o["label"]["es"] for o in options])
            right = [i for i, o in enumerate(options) if o.get("correct")][0]
            self.send(tg_tap(chat, keyboard[right][0]["callback_data"]))
            count += 2  # feedback + the next question
            msgs = self.wait_messages(chat, count - 1)
            self.assertEqual(msgs[count - 2]["body"]["text"], doc["nodes"][node]["feedback"]["correct"]["es"])
        msgs = self.wait_messages(chat, count)
        self.assertTrue(msgs[-1]["body"]["text"].startswith(es["recomendacion"]))
        self.send(tg_text(chat, "9"))
        msgs = self.wait_messages(chat, count + 1)
        points = sum(n.get("points", 1) for n in doc["nodes"].values() if "quiz" in n)
        end = doc["nodes"]["fin"]["message"]["es"].replace("{{score.total}}", str(points)) \
            .replace("{{score.max}}", str(points)).replace("{{contact.name|colega}}", "Ana")
        self.assertEqual(msgs[-1]["body"]["text"], end)
        ends = [r for r in self.results(f"telegram:{chat}") if r["type"] == "end"]
        self.assertEqual([(e["status"], e["points"]) for e in ends], [("completed", points)])

    def test_same_update_twice_gives_one_reply(self):
        chat = self.chats + 2
        self.send(tg_text(chat, "/start leccion-muestra"))
        self.wait_messages(chat, 4)
        update = tg_text(chat, "2")
        self.send(update)
        self.send(update)
        msgs = self.wait_messages(chat, 6)  # feedback + next quiz
        import time
        time.sleep(1.0)
        mine = [c for c in self.mock.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]
        self.assertEqual(len(mine), 6, [m["body"]["text"] for m in mine])
        self.assertEqual(len([r for r in self.results(f"telegram:{chat}") if r["type"] == "quiz"]), 1)

    def test_a_refused_record_holds_back_only_its_partition(self):
        # The record keeper stores the records of all partitions in one transaction. A record
        # the record store refuses (its conv is not "<channel>:<address>"), put in one
        # partition's results stream, must not hold back the others: they are stored alone,
        # the refused one stays in Redis and the refusal is logged.
        blocked = "telegram:5301"
        p_blocked = partition_of(blocked)
        free_chat = next(c for c in range(5302, 5400) if partition_of(f"telegram:{c}") != p_blocked)
        free = f"telegram:{free_chat}"
        key = f"aula:{{p{p_blocked}}}:results"
        bad = {"conv": "sin-canal-ñ", "id": "malo.1", "type": "answer", "at": 1}
        entry = self.redis.cli("XADD", key, "*", "d", json.dumps(bad, ensure_ascii=False)).strip()
        self.assertTrue(entry, "XADD gave no id")
        self.addCleanup(self.redis.cli, "XDEL", key, entry)  # the other tests' records pass again
        self.send(tg_text(free_chat, "/start leccion-muestra"))
        self.wait_messages(free_chat, 4)
        stored = wait_until(lambda: [r for r in _stored_results(free) if r["type"] == "sent"] or None, timeout=15,
                            what="the free learner's send records in the record store")
        self.assertTrue(all(r["conv"] == free for r in stored))
        self.assertIn("sin-canal", self.redis.cli("XRANGE", key, "-", "+"))
        wait_until(lambda: "record store: record" in self.aula.output() or None, timeout=10,
                   what="the refusal in the log")

    def test_two_updates_at_once_are_both_processed(self):
        chat = self.chats + 3
        self.send(tg_text(chat, "/start diagnostico"))
        self.wait_messages(chat, 2)
        self.send(tg_text(chat, "1"))        # rol
        self.wait_messages(chat, 3)          # institucion (free text)
        a, b = tg_text(chat, "primera"), tg_text(chat, "Jalisco")
        statuses = []
        threads = [threading.Thread(target=lambda u=u: statuses.append(self.aula.telegram(u)[0])) for u in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(statuses, [200, 200])
        wait_until(lambda: len([r for r in self.results(f"telegram:{chat}") if r["type"] in ("answer", "invalid")]) >= 3,
                   what="both answers recorded")
        texts = [r.get("text") for r in self.results(f"telegram:{chat}") if r["type"] in ("answer", "invalid")]
        self.assertIn("primera", texts)
        self.assertIn("Jalisco", texts)

    def test_set_webhook_and_info_commands(self):
        from harness import AULA_BIN, TG_SECRET, TG_TOKEN
        out = subprocess.run([AULA_BIN, "telegram", "set-webhook", "--drop-pending"], env=self.aula.env,
                             capture_output=True, text=True, cwd=ROOT, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        calls = self.mock.calls("setWebhook")
        self.assertEqual(len(calls), 1)
        body = calls[0]["body"]
        self.assertEqual(body["url"], self.aula.url + "/webhooks/telegram")
        self.assertEqual(body["secret_token"], TG_SECRET)
        self.assertTrue(body["drop_pending_updates"])
        self.assertIn("callback_query", body["allowed_updates"])
        self.assertIn("getWebhookInfo", out.stdout)
        self.assertNotIn(TG_TOKEN, out.stdout + out.stderr)
        self.assertNotIn(TG_SECRET, out.stdout + out.stderr)
        info = subprocess.run([AULA_BIN, "telegram", "info"], env=self.aula.env, capture_output=True, text=True,
                              cwd=ROOT, timeout=30)
        self.assertEqual(info.returncode, 0, info.stdout + info.stderr)
        self.assertIn(self.aula.url + "/webhooks/telegram", info.stdout)
        self.assertEqual(len(self.mock.calls("setWebhook")), 1)

    def test_metrics_count_messages_by_channel(self):
        chat = 5005
        self.send(tg_text(chat, "/start leccion-muestra"))
        self.wait_messages(chat, 4)
        status, body, _ = http("GET", self.aula.url + "/metrics")
        self.assertEqual(status, 200)
        lines = [l for l in body.splitlines() if l.startswith("aula_messages_total{")]
        self.assertTrue(any('channel="telegram"' in l and 'direction="in"' in l for l in lines), lines)
        out = [l for l in lines if 'channel="telegram"' in l and 'direction="out"' in l]
        self.assertTrue(out and float(out[0].split()[-1]) >= 4, lines)
        self.assertIn("aula_http_requests_total", body)

    def test_dead_letter_pauses_the_learner_and_shows_in_learner_show(self):
        chat = 5011
        # Telegram refuses every message to this chat (400: not retried).
        self.mock.fail(chat_id=chat, status=400, times=-1)
        self.send(tg_text(chat, "/start leccion-muestra"))

        def shown():
            out = subprocess.run([self.aula_bin(), "learner", "show", f"telegram:{chat}", "--json"],
                                 env=self.aula.env, capture_output=True, text=True, timeout=30)
            if out.returncode != 0:
                return None
            j = json.loads(out.stdout)
            return j if j["status"] == "unreachable" and j["dead_letters"] else None
        j = wait_until(shown, timeout=15, what="a dead letter and a paused course")
        self.assertIn("chat not found", j["paused"]["reason"])
        self.assertEqual(j["dead_letters"][0]["kind"], "rejected")
        self.assertIn("chat not found", j["dead_letters"][0]["reason"])
        _, es = flow_texts("leccion-muestra")
        texts = [d["entry"]["msg"]["text"] for d in j["dead_letters"]]
        self.assertTrue(any(fill_name(es[n], "Ana")[:20] in t for t in texts for n in es), texts)
        status, body, _ = http("GET", self.aula.url + "/metrics")
        dead = [l for l in body.splitlines() if l.startswith('aula_delivery_total{outcome="dead_letter"}')]
        self.assertTrue(dead and float(dead[0].split()[-1]) >= 1, dead)
        human = subprocess.run([self.aula_bin(), "learner", "show", f"telegram:{chat}"], env=self.aula.env,
                               capture_output=True, text=True, timeout=30).stdout
        from harness import TG_TOKEN
        raw = subprocess.run([self.aula_bin(), "learner", "show", f"telegram:{chat}", "--json"], env=self.aula.env,
                             capture_output=True, text=True, timeout=30).stdout
        self.assertNotIn(TG_TOKEN.split(":")[1], raw + human)  # the bot token never shows
        self.assertIn("unreachable", human)
        self.assertIn("chat not found", human)

        # The chat works again and the learner writes: the course resumes where it was.
        self.mock.reset()
        self.send(tg_text(chat, "hola"))
        msgs = self.wait_messages(chat, 2)
        self.assertEqual(msgs[0]["body"]["text"], "Seguimos donde nos quedamos.")
        j = json.loads(subprocess.run([self.aula_bin(), "learner", "show", f"telegram:{chat}", "--json"],
                                      env=self.aula.env, capture_output=True, text=True, timeout=30).stdout)
        self.assertEqual(j["status"], "active")

    def aula_bin(self):
        from harness import AULA_BIN
        return AULA_BIN

    def test_bad_requests(self):
        self.assertEqual(self.aula.telegram(tg_text(1, "hola"), secret="wrong")[0], 401)
        self.assertEqual(self.aula.telegram(tg_text(1, "hola"), secret=None)[0], 401)
        status, _, _ = http("POST", self.aula.url + "/webhooks/telegram", "{not json",
                            {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token_for-tests",
                             "Content-Type": "application/json"})
        self.assertEqual(status, 400)
        big = "x" * (300 * 1024)
        status, _, _ = http("POST", self.aula.url + "/webhooks/telegram", big,
                            {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token_for-tests"})
        self.assertEqual(status, 413)

    def test_kill_and_restart_continues_the_course(self):
        chat = 5004
        self.send(tg_text(chat, "/start leccion-muestra"))
        self.wait_messages(chat, 4)
        self.send(tg_text(chat, "2"))
        self.wait_messages(chat, 6)
        self.aula.kill()
        self.aula.start()
        self.send(tg_text(chat, "1"))  # jornada: 6 horas
        _, es = flow_texts("leccion-muestra")
        # Delivery is at-least-once: a message in flight at the kill may come twice, so look
        # for the next question rather than count.
        wait_until(lambda: any(c["body"]["text"].startswith(es["peligroso"]) for c in self.mock.calls("sendMessage")
                               if str(c["body"].get("chat_id")) == str(chat)), timeout=15, what="the next question")
        quiz = [r for r in self.results("telegram:5004") if r["type"] == "quiz"]
        self.assertEqual([(r["node"], r["correct"]) for r in quiz], [("edad", True), ("jornada", True)])


class TelegramOneIoThread(TelegramLearners, unittest.TestCase):
    """Learners on a server that one thread runs (server.threads: 1, as benchmarked): its
    clients, sender and listener then run their handlers on the io_context itself, not on
    strands (bot/io/net.hpp). The same walks as above must give the same replies and records."""

    @classmethod
    def setUpClass(cls):
        folder = tempfile.mkdtemp(prefix="aula-e2e-one-thread-")
        cls.addClassCleanup(shutil.rmtree, folder, True)
        cls.extra_env = {"AULA_CONFIG": write_test_config(folder, fast=False, threads=1)}
        cls.chats = 7000
        super().setUpClass()

    def test_one_io_thread_runs(self):
        if not os.path.isdir("/proc/self/task"):
            self.skipTest("no /proc (not Linux)")
        names = []
        for tid in os.listdir(f"/proc/{self.aula.proc.pid}/task"):
            try:
                with open(f"/proc/{self.aula.proc.pid}/task/{tid}/comm", encoding="utf-8") as f:
                    names.append(f.read().strip())
            except OSError:
                pass  # the thread ended meanwhile
        # (Asio's resolver thread, started from the I/O thread, carries its name too.)
        self.assertIn("aula-io-0", names)
        self.assertNotIn("aula-io-1", names)

    test_sample_lesson_end_to_end_with_taps = TelegramEndToEnd.test_sample_lesson_end_to_end_with_taps
    test_same_update_twice_gives_one_reply = TelegramEndToEnd.test_same_update_twice_gives_one_reply
    test_two_updates_at_once_are_both_processed = TelegramEndToEnd.test_two_updates_at_once_are_both_processed
    test_diagnosis_end_to_end = TelegramEndToEnd.test_diagnosis_end_to_end


class TimersAndOutage(unittest.TestCase):
    """A reminder fired by moving aula's clock; Redis stopped and started under a running aula."""

    def setUp(self):
        # Cleanups, unlike tearDown, also run when setUp fails half-way.
        self.redis = Redis(aof=True)  # survives the restart in the outage test
        self.addCleanup(self.redis.close)
        self.redis.start()
        self.mock = MockTelegram()
        self.addCleanup(self.mock.close)
        self.aula = Aula(self.redis.url, self.mock.url, {"AULA_FLOWS": os.path.join(ROOT, "tests", "flows")})
        self.addCleanup(self.aula.close)
        self.aula.start()

    def texts(self, chat):
        return [c["body"]["text"] for c in self.mock.calls("sendMessage") if str(c["body"].get("chat_id")) == str(chat)]

    def test_reminder_after_clock_advance(self):
        self.assertEqual(self.aula.telegram(tg_text(77, "/start recordatorios"))[0], 200)
        wait_until(lambda: len(self.texts(77)) == 1, what="the question")
        status, body, _ = self.aula.advance_clock("25h")
        self.assertEqual(status, 200, body)
        reminder = wait_until(lambda: [t for t in self.texts(77) if t.startswith("⏰ ¿Seguimos?")], what="reminder")
        self.assertIn("¿Terminaste la lectura?", reminder[0])

    def test_clock_route_needs_the_admin_token(self):
        status, _, _ = http("POST", self.aula.url + "/admin/test/clock", {"advance": "1h"},
                            {"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)

    def test_redis_down_answers_503_and_recovers(self):
        self.assertEqual(self.aula.telegram(tg_text(78, "/start riesgo"))[0], 200)
        wait_until(lambda: len(self.texts(78)) == 1, what="the first question")
        self.redis.stop()
        status, _, _ = self.aula.telegram(tg_text(78, "Alto"))
        self.assertEqual(status, 503)
        self.assertEqual(http("GET", self.aula.url + "/healthz")[0], 503)
        self.redis.start()
        # The provider retries; aula reconnects by itself.
        wait_until(lambda: self.aula.telegram(tg_text(78, "Alto"))[0] == 200, timeout=20, what="recovery")
        wait_until(lambda: any(t.startswith("¿Prioridad del seguimiento?") for t in self.texts(78)),
                   what="the next question")


if __name__ == "__main__":
    unittest.main()
