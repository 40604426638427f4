"""aula backup / aula restore end to end: a web-chat learner takes the diagnosis part way, the
operator backs up the running aula, Redis is wiped (FLUSHDB) and the SQLite record store
deleted, the backup is restored, aula starts again, and the learner continues where they were
— the next answer gets the right next question, and the reports still hold the earlier
answers. Also: restore refuses a non-empty target without --force, and a backup made with
another partition count, changing nothing."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

import yaml

from harness import AULA_BIN, ROOT, Aula, Redis, WebLearner, admin, http, wait_until

LEARNER = "b4c0" * 8
FLOW = "diagnostico"


def diagnosis():
    with open(os.path.join(ROOT, "flows", "diagnostico.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def run(env, *args):
    return subprocess.run([AULA_BIN, *args], env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)


def answer_rows(aula):
    status, body = admin(aula, "GET", f"/admin/reports/answers?flow={FLOW}")
    assert status == 200, (status, body)
    return body["rows"]


class BackupRestore(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="aula-e2e-backup-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.close)
        cls.redis.start()
        cls.db = os.path.join(cls.tmp, "state", "records.db")
        os.makedirs(os.path.dirname(cls.db))
        cls.aula = Aula(cls.redis.url, extra_env={"AULA_RECORDS_URL": "sqlite://" + cls.db})
        cls.addClassCleanup(cls.aula.close)
        cls.aula.start()
        cls.doc = diagnosis()

    def q(self, node):
        return self.doc["nodes"][node]["question"]["es"]

    def option(self, node, k):
        return self.doc["nodes"][node]["options"][k]["label"]["es"]

    def test_backup_wipe_restore_and_the_learner_continues(self):
        learner = WebLearner(self.aula, LEARNER)
        learner.send({"start": FLOW})
        learner.tap(self.q("rol"), self.option("rol", 0))
        learner.say(self.q("institucion"), "Secretaría del Trabajo de Jalisco")
        learner.asked(self.q("estado"), choices=False)  # 32 states: a numbered list, answered by number
        # The two answers reached the record store (the report reads it).
        wait_until(lambda: len(answer_rows(self.aula)) == 2, timeout=20, what="2 answers in the record store")

        # The backup, of the running aula.
        out = os.path.join(self.tmp, "backup-1")
        b = run(self.aula.env, "backup", "--output", out)
        self.assertEqual(b.returncode, 0, b.stdout + b.stderr)
        with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        self.assertEqual(manifest["redis"]["partitions"], 64)
        self.assertGreater(manifest["redis"]["keys"], 3)
        self.assertEqual(manifest["records"]["backend"], "sqlite")
        self.assertEqual(manifest["records"]["rows"]["records"] > 0, True)
        self.assertIn("redis: ", b.stdout)
        self.assertIn("backup complete", b.stdout)
        self.assertEqual(oct(os.stat(out).st_mode & 0o777), "0o700")
        # A second backup never overwrites the first.
        again = run(self.aula.env, "backup", "--output", out)
        self.assertEqual(again.returncode, 2, again.stderr)

        # Disaster: aula stops, Redis is wiped, the record store is gone.
        self.aula.kill()
        self.redis.cli("FLUSHDB")
        self.assertEqual(self.redis.cli("DBSIZE").strip(), "0")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.unlink(self.db + suffix)

        r = run(self.aula.env, "restore", out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"redis: restored {manifest['redis']['keys']} keys", r.stdout)
        self.assertIn("records: restored records.db", r.stdout)
        self.assertTrue(os.path.exists(self.db))
        self.assertEqual(int(self.redis.cli("GET", "aula:meta:partitions").strip()), 64)

        # aula starts on the restored state; the learner answers the question they were asked.
        self.aula.start()
        learner.say(self.q("estado"), "14")
        learner.asked(self.q("anios"), choices=False)
        rows = wait_until(lambda: (lambda r: r if len(r) == 3 else None)(answer_rows(self.aula)), timeout=20,
                          what="3 answers in the reports")
        by_node = {row["node"]: row for row in rows}
        self.assertEqual(sorted(by_node), ["estado", "institucion", "rol"])
        self.assertEqual(by_node["institucion"]["text"], "Secretaría del Trabajo de Jalisco")
        self.assertTrue(all(row["conv"] == "web:" + LEARNER for row in rows))

    def test_restore_refuses_a_target_in_use_and_another_partition_count(self):
        learner = WebLearner(self.aula, "cafe" * 8)
        learner.send({"start": FLOW})
        learner.asked(self.q("rol"))
        at_backup = self.aula.session(self.redis, learner.conv)
        out = os.path.join(self.tmp, "backup-2")
        b = run(self.aula.env, "backup", "-o", out)
        self.assertEqual(b.returncode, 0, b.stdout + b.stderr)
        intact = os.path.join(self.tmp, "backup-2-intact")
        shutil.copytree(out, intact)
        # The learner moves on after the backup: a restore would take them back to "rol".
        learner.tap(self.q("rol"), self.option("rol", 1))
        learner.asked(self.q("institucion"), choices=False)
        now = self.aula.session(self.redis, learner.conv)
        self.assertIsNotNone(now)

        def unchanged():
            self.assertEqual(self.aula.session(self.redis, learner.conv), now)
            self.assertEqual(self.redis.cli("GET", "aula:meta:partitions").strip(), "64")

        # Redis holds aula's keys (aula is running): refused without --force, nothing changed.
        r = run(self.aula.env, "restore", out)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not empty", r.stderr)
        self.assertIn("--force", r.stderr)
        self.assertNotIn("restored", r.stdout)
        unchanged()

        # Another partition count: refused even with --force.
        with open(self.aula.env["AULA_CONFIG"], encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        cfg["redis"]["partitions"] = 32
        other = os.path.join(self.tmp, "p32.yaml")
        with open(other, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f, allow_unicode=True)
        r = run({**self.aula.env, "AULA_CONFIG": other}, "restore", out, "--force")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("64 partitions", r.stderr)
        self.assertIn("configured with 32", r.stderr)
        unchanged()

        # A damaged file is refused before anything is touched.
        with open(os.path.join(out, "redis.bin"), "ab") as f:
            f.write(b"x")
        r = run(self.aula.env, "restore", out, "--yes")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("sha256", r.stderr)
        unchanged()

        # Not a backup folder at all.
        r = run(self.aula.env, "restore", self.tmp)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("manifest.json", r.stderr)
        unchanged()
        self.assertEqual(http("GET", self.aula.url + "/healthz")[0], 200)

        # With --force (aula stopped): what was there is replaced by the backup, in Redis and in
        # the record store — the answer given after the backup is gone from both.
        wait_until(lambda: self.stored_answers(learner.conv) == 1, timeout=20, what="the answer in the record store")
        self.aula.kill()
        r = run(self.aula.env, "restore", intact, "--force")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("aula keys that were there (--force)", r.stdout)
        self.assertEqual(self.aula.session(self.redis, learner.conv), at_backup)
        self.assertEqual(self.stored_answers(learner.conv), 0)
        self.aula.start()
        learner.answered = 0
        learner.tap(self.q("rol"), self.option("rol", 2))  # asked "rol" again, and it counts
        learner.asked(self.q("institucion"), choices=False)

    def stored_answers(self, conv):
        import sqlite3
        with sqlite3.connect(self.db, timeout=10) as c:
            return c.execute("SELECT COUNT(*) FROM records WHERE conv = ? AND type = 'answer'", (conv,)).fetchone()[0]


if __name__ == "__main__":
    unittest.main()
