#!/usr/bin/env python3
"""Instructions per message: `aula serve` under callgrind (valgrind), the same Telegram load as
the end-to-end benchmark at a few connections, the counters zeroed after a warm-up and read
after the measured window's replies and records are drained. An instruction count does not
move with the host's noise the way CPU time does (a 2-core VM varies ±5-10 % between runs),
so two builds compare to a percent or two; it counts user-space instructions only (no
kernel TCP, no cache misses), and valgrind runs the threads one at a time.

    scripts/bench instructions [--aula BIN ...] [--duration S] [--connections N] [--reps N] [--keep DIR]

Several --aula binaries are measured alternately (A B A B); the median per binary is printed.
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_bench as eb  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--aula", action="append", required=True, help="an aula binary (repeat to compare)")
    ap.add_argument("--mock", required=True)
    ap.add_argument("--wrk-script", required=True)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--walk", default=eb.DEFAULT_WALK)
    # Under callgrind aula answers a few hundred webhooks a second: with 10,000 learners the window
    # would hold mostly first messages (the notice's question), not the lesson.
    ap.add_argument("--users", type=int, default=300, help="learners walking (each walks the lesson in the window)")
    ap.add_argument("--keep", default="", help="a folder to keep each run's callgrind dump in, for callgrind_annotate "
                    "(cg.<binary>.<run>)")
    args = ap.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("instructions: valgrind is not installed (scripts/install-deps)", file=sys.stderr)
        return 1
    bins = [os.path.abspath(b) for b in args.aula]
    work = tempfile.mkdtemp(prefix="aula-instructions-")
    ns = argparse.Namespace(root=args.root, aula=bins[0], mock=args.mock, wrk_script=args.wrk_script, peer_dir="",
                            users=args.users, walk=args.walk, server_cpus="1", load_cpus="0", server_threads=1,
                            workdir=work)
    plain = eb.pinned

    def pinned(cmd, cpus):  # aula runs under callgrind; the rest as the benchmark runs it
        if cmd and cmd[0] in bins:
            cmd = ["valgrind", "--tool=callgrind", "--dump-instr=no",
                   "--callgrind-out-file=" + os.path.join(work, "cg.%p")] + cmd
        return plain(cmd, cpus)
    eb.pinned = pinned
    redis = eb.Redis(0, False, "0", work)
    mock = eb.Mock(args.mock, "0")
    results = {b: [] for b in bins}
    try:
        redis.start()
        for _ in range(args.reps):
            for b in bins:
                ns.aula = b
                redis.cli("FLUSHALL")
                mock.reset()
                for f in glob.glob(os.path.join(work, "cg.*")):
                    os.remove(f)
                server = eb.Aula(ns, redis, mock, work)
                try:
                    eb.run_wrk(ns, server, "telegram", args.walk, eb.WARMUP_BASE, 2000, args.connections, 1, 5, 11)
                    eb.wait_drained(mock, quiet_s=1.0, limit_s=120)
                    time.sleep(2)
                    pid = str(server.pid)
                    subprocess.run(["callgrind_control", "-z", pid], capture_output=True, timeout=120)
                    w = eb.run_wrk(ns, server, "telegram", args.walk, eb.MEASURED_BASE, args.users, args.connections, 1,
                                   args.duration, 12)
                    eb.wait_drained(mock, quiet_s=1.0, limit_s=180)
                    time.sleep(4)  # the record keeper's last drain
                    subprocess.run(["callgrind_control", "-d", pid], capture_output=True, timeout=120)
                    time.sleep(1)
                    dumps = sorted(glob.glob(os.path.join(work, "cg.*")), key=os.path.getmtime)
                    total = 0
                    with open(dumps[-1], encoding="utf-8", errors="replace") as f:
                        for line in f:
                            if line.startswith(("totals:", "summary:")):
                                total = int(line.split()[1])
                    msgs = w["http200"]
                    if not msgs or not total or w["non200"]:
                        raise RuntimeError(f"{b}: {msgs} webhooks answered 200, {w['non200']} others, {total} instructions")
                    results[b].append(total / msgs)
                    if args.keep:
                        os.makedirs(args.keep, exist_ok=True)
                        shutil.copy(dumps[-1], os.path.join(args.keep, f"cg.{os.path.basename(b)}.{len(results[b])}"))
                    print(f"instructions: {b}: {msgs} messages, {total / msgs / 1000:.0f}k instructions per message",
                          flush=True)
                finally:
                    server.close()
    finally:
        redis.stop()
        mock.close()
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(results[bins[0]])
    for b in bins:
        m = statistics.median(results[b])
        print(f"{m / 1000:8.0f}k instructions per message  {m / base:5.3f} of the first  {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
