"""Operations: /metrics behind a bearer token (AULA_METRICS_TOKEN) or on a listener of its own
(AULA_METRICS_LISTEN), and the log level changed at run time through POST /admin/log-level
(administrators only, audited), which the server's own lines then follow."""

import json
import os
import time
import unittest

from harness import ADMIN_TOKEN, Aula, Redis, admin, free_port, http, wait_until

METRICS_TOKEN = "metrics-t0ken-for-tests"


def thread_names(pid):
    """The names of a process's threads (Linux: /proc/<pid>/task/*/comm)."""
    out = []
    task = f"/proc/{pid}/task"
    for tid in os.listdir(task):
        try:
            with open(os.path.join(task, tid, "comm"), encoding="utf-8") as f:
                out.append(f.read().strip())
        except OSError:
            pass  # the thread ended meanwhile
    return out


class MetricsToken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.aula = Aula(cls.redis.url, extra_env={"AULA_METRICS_TOKEN": METRICS_TOKEN})
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def test_metrics_need_the_token(self):
        status, body, headers = http("GET", self.aula.url + "/metrics")
        self.assertEqual(status, 401, body)
        self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))
        self.assertNotIn("aula_", body)
        status, body, _ = http("GET", self.aula.url + "/metrics", headers={"Authorization": "Bearer wrong-token-x"})
        self.assertEqual(status, 401)
        status, body, _ = http("GET", self.aula.url + "/metrics", headers={"Authorization": "Bearer " + ADMIN_TOKEN})
        self.assertEqual(status, 401)  # an admin token is not the metrics token
        status, body, headers = http("GET", self.aula.url + "/metrics",
                                     headers={"Authorization": "Bearer " + METRICS_TOKEN})
        self.assertEqual(status, 200, body)
        self.assertIn("text/plain", headers.get("Content-Type", ""))
        for family in ("aula_delivery_total", "aula_provider_auth_failures_total", "aula_template_rejected_total",
                       "aula_redis_up", "aula_redis_ping_seconds"):
            self.assertIn("# TYPE " + family, body)
        self.assertIn('aula_provider_auth_failures_total{channel="whatsapp"} 0', body)
        self.assertIn("aula_redis_up 1", body)
        # /healthz stays open (load balancers), and the token never reaches the log.
        self.assertEqual(http("GET", self.aula.url + "/healthz")[0], 200)
        self.assertNotIn(METRICS_TOKEN, self.aula.output())


class MetricsListener(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.metrics_port = free_port()
        cls.aula = Aula(cls.redis.url, extra_env={"AULA_METRICS_LISTEN": f"127.0.0.1:{cls.metrics_port}"})
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.metrics_url = f"http://127.0.0.1:{cls.metrics_port}"

    def test_metrics_only_on_their_own_listener(self):
        self.assertEqual(http("GET", self.aula.url + "/metrics")[0], 404)
        status, body, _ = http("GET", self.metrics_url + "/metrics")
        self.assertEqual(status, 200, body)
        self.assertIn("# TYPE aula_delivery_total", body)
        self.assertIn("aula_http_requests_total", body)  # the main listener's requests are counted
        status, body, _ = http("GET", self.metrics_url + "/healthz")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["status"], "ok")
        # Nothing else is served there: no webhooks, no admin API, no chat.
        self.assertEqual(http("GET", self.metrics_url + "/chat")[0], 404)
        self.assertEqual(admin(type("A", (), {"url": self.metrics_url})(), "GET", "/admin/whoami")[0], 404)
        self.assertIn('"metrics listening"', self.aula.output())

    def test_io_and_record_threads_are_named(self):
        # The server's threads carry names (`top -H`, perf, the benchmark's CPU per thread).
        if not os.path.isdir("/proc/self/task"):
            self.skipTest("no /proc (not Linux)")
        pid = self.aula.proc.pid
        wait_until(lambda: "aula-records" in thread_names(pid), what="the record keeper's thread named")
        names = thread_names(pid)
        self.assertIn("aula-io-0", names, names)
        self.assertEqual(names.count("aula-records"), 1, names)


class LogLevel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.aula = Aula(cls.redis.url, extra_env={"AULA_LOG_LEVEL": "warn"})
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()

    def request_lines(self, path):
        return [l for l in self.aula.output().splitlines()
                if '"msg":"http request"' in l and f'"path":"{path}"' in l]

    def test_level_at_start_and_at_run_time(self):
        # AULA_LOG_LEVEL=warn: requests (info) are not logged.
        self.assertEqual(http("GET", self.aula.url + "/chat")[0], 200)
        self.assertEqual(admin(self.aula, "GET", "/admin/log-level"), (200, {"level": "warn"}))
        time.sleep(0.2)
        self.assertEqual(self.request_lines("/chat"), [])

        # Administrators only; a bad level is a 400 and changes nothing.
        self.assertEqual(http("POST", self.aula.url + "/admin/log-level", {"level": "debug"})[0], 401)
        self.assertEqual(admin(self.aula, "POST", "/admin/log-level", {"level": "loud"})[0], 400)
        self.assertEqual(admin(self.aula, "POST", "/admin/log-level", {"level": 3})[0], 400)
        self.assertEqual(admin(self.aula, "GET", "/admin/log-level")[1]["level"], "warn")

        status, body = admin(self.aula, "POST", "/admin/log-level", {"level": "info"})
        self.assertEqual((status, body), (200, {"level": "info", "previous": "warn"}))
        self.assertEqual(http("GET", self.aula.url + "/chat")[0], 200)
        wait_until(lambda: self.request_lines("/chat"), what="the request logged at info")

        status, body = admin(self.aula, "POST", "/admin/log-level", {"level": "error"})
        self.assertEqual(status, 200, body)
        seen = len(self.request_lines("/chat"))
        self.assertEqual(http("GET", self.aula.url + "/chat")[0], 200)
        time.sleep(0.2)
        self.assertEqual(len(self.request_lines("/chat")), seen)

        # Audited: who changed it, from what to what.
        _, audit = admin(self.aula, "GET", "/admin/audit?max=10")
        changes = [e for e in audit["entries"] if e.get("action") == "log-level"]
        self.assertEqual(len(changes), 2)
        self.assertEqual({(e["details"]["from"], e["details"]["to"]) for e in changes},
                         {("warn", "info"), ("info", "error")})


if __name__ == "__main__":
    unittest.main()
