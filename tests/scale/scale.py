"""Processes for the scale-out tests (issue 14): a Redis master with replicas watched by
Sentinels, and a Redis Cluster of three masters, each on free loopback ports in a temporary
folder, started and stopped by the test itself. Builds on tests/chaos/chaos.py (the load of
Telegram learners, the invariant checks) and tests/e2e/harness.py. Standard library only."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chaos"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import chaos  # noqa: E402
from chaos import ChaosRedis, RespClient  # noqa: E402
from harness import _die_with_parent, free_port, wait_until  # noqa: E402


def resp(port, *args, timeout=2.0):
    """One command to 127.0.0.1:port; raises OSError when nothing answers."""
    c = RespClient(port, timeout=timeout)
    try:
        return c(*args)
    finally:
        c.close()


def reader(port):
    """A ChaosRedis that only reads (session ids, results, dead letters, leases) from a node
    someone else started."""
    r = ChaosRedis.__new__(ChaosRedis)
    r.port = port
    r.proc = None
    return r


class Proc:
    """A redis-server (or redis-server --sentinel) child process that dies with the test."""

    def __init__(self, args, log):
        self.log = log
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        chaos._stop(self.proc, grace=5.0)


def redis_server(port, folder, *extra):
    os.makedirs(folder, exist_ok=True)
    log = os.path.join(folder, "redis.log")
    p = Proc(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
              "--dir", folder, "--logfile", log, *extra], log)
    wait_until(lambda: resp(port, "PING") == "PONG", timeout=10, what="redis-server on %d" % port)
    return p


class SentinelSet:
    """A master, `replicas` replicas and `sentinels` sentinels (quorum: a majority) watching
    master name `name`, failing over after `down_ms` without an answer."""

    def __init__(self, replicas=1, sentinels=3, name="aula", down_ms=1000):
        self.dir = tempfile.mkdtemp(prefix="aula-scale-sentinel-")
        self.name = name
        self.master_port = free_port()
        self.replica_ports = [free_port() for _ in range(replicas)]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.procs = {}
        self.down_ms = down_ms

    def start(self):
        self.procs[self.master_port] = redis_server(self.master_port, os.path.join(self.dir, "m"))
        for i, port in enumerate(self.replica_ports):
            self.procs[port] = redis_server(port, os.path.join(self.dir, "r%d" % i),
                                            "--replicaof", "127.0.0.1", str(self.master_port))
        quorum = len(self.sentinel_ports) // 2 + 1
        for i, port in enumerate(self.sentinel_ports):
            folder = os.path.join(self.dir, "s%d" % i)
            os.makedirs(folder)
            conf = os.path.join(folder, "sentinel.conf")  # Sentinel rewrites it: its own copy
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n" % (port, folder, os.path.join(folder, "log")))
                f.write("sentinel monitor %s 127.0.0.1 %d %d\n" % (self.name, self.master_port, quorum))
                f.write("sentinel down-after-milliseconds %s %d\n" % (self.name, self.down_ms))
                f.write("sentinel failover-timeout %s 10000\n" % self.name)
                f.write("sentinel parallel-syncs %s 1\n" % self.name)
            self.procs[port] = Proc(["redis-server", conf, "--sentinel"], os.path.join(folder, "log"))
        # Ready when the replicas are in sync and every sentinel knows them and the others.
        for port in self.replica_ports:
            wait_until(lambda: "master_link_status:up" in resp(port, "INFO", "replication"), timeout=15,
                       what="replica %d in sync" % port)
        for port in self.sentinel_ports:
            wait_until(lambda: len(resp(port, "SENTINEL", "replicas", self.name)) == len(self.replica_ports)
                       and len(resp(port, "SENTINEL", "sentinels", self.name)) == len(self.sentinel_ports) - 1,
                       timeout=20, what="sentinel %d to know the replicas and the other sentinels" % port)
        return self

    @property
    def url(self):
        hosts = ",".join("127.0.0.1:%d" % p for p in self.sentinel_ports)
        return "redis-sentinel://%s/%s/0" % (hosts, self.name)

    def master(self):
        """The master's port as the sentinels see it now (the first that answers)."""
        for port in self.sentinel_ports:
            try:
                addr = resp(port, "SENTINEL", "get-master-addr-by-name", self.name)
                if addr:
                    return int(addr[1])
            except (OSError, RuntimeError):
                pass
        return None

    def watch(self, every=0.05):
        """Starts recording every master switch a sentinel announces: self.switches, a list of
        (wall time, monotonic time, port), the first the master at the start. Sentinel may fail
        over more than once for one fault (a sentinel that loses sight of the new master for
        down_ms on a busy machine starts a failover of its own); a test must know each."""
        import threading
        self.switches = []
        self._watching = threading.Event()
        seen = {}

        def loop():
            while not self._watching.is_set():
                for port in self.sentinel_ports:
                    try:
                        addr = resp(port, "SENTINEL", "get-master-addr-by-name", self.name, timeout=0.5)
                    except (OSError, RuntimeError):
                        continue
                    master = int(addr[1]) if addr else None
                    if master is not None and seen.get(port) != master:
                        seen[port] = master
                        if not self.switches or self.switches[-1][2] != master:
                            self.switches.append((time.time(), time.monotonic(), master))
                self._watching.wait(every)

        self._watcher = threading.Thread(target=loop, daemon=True)
        self._watcher.start()

    def unwatch(self):
        if getattr(self, "_watcher", None):
            self._watching.set()
            self._watcher.join(5)
            self._watcher = None

    def set_down_after(self, ms):
        """SENTINEL SET <name> down-after-milliseconds on every sentinel that answers."""
        for port in self.sentinel_ports:
            try:
                resp(port, "SENTINEL", "SET", self.name, "down-after-milliseconds", str(ms), timeout=1.0)
            except (OSError, RuntimeError):
                pass

    def role(self, port):
        try:
            return resp(port, "ROLE")[0]
        except (OSError, RuntimeError):
            return None

    def kill_master(self):
        port = self.master()
        self.procs[port].kill9()
        return port

    def close(self, keep=None):
        self.unwatch()
        for p in self.procs.values():
            p.stop()
        if keep:
            os.makedirs(keep, exist_ok=True)
            for root, _dirs, files in os.walk(self.dir):
                for f in files:
                    if f in ("redis.log", "log"):
                        shutil.copy(os.path.join(root, f), os.path.join(keep, "sentinel-%s-%s" % (
                            os.path.basename(root), f)))
        shutil.rmtree(self.dir, ignore_errors=True)


def _bindable(port):
    import socket
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def cluster_port():
    """A free port whose cluster bus port (port + 10000) is free and below 65536 too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 <= 65535 and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class Cluster:
    """A Redis Cluster of `masters` masters (no replicas), made with redis-cli --cluster create."""

    def __init__(self, masters=3):
        self.dir = tempfile.mkdtemp(prefix="aula-scale-cluster-")
        self.ports = []
        while len(self.ports) < masters:
            p = cluster_port()
            if p not in self.ports:
                self.ports.append(p)
        self.procs = {}

    def start(self):
        for port in self.ports:
            self.procs[port] = redis_server(port, os.path.join(self.dir, str(port)), "--cluster-enabled", "yes",
                                            "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
        r = subprocess.run(["redis-cli", "--cluster", "create", *["127.0.0.1:%d" % p for p in self.ports],
                            "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("redis-cli --cluster create failed:\n" + r.stdout + r.stderr)
        for port in self.ports:
            wait_until(lambda: "cluster_state:ok" in resp(port, "CLUSTER", "INFO"), timeout=20,
                       what="cluster state ok on %d" % port)
        return self

    @property
    def url(self):
        return "redis-cluster://" + ",".join("127.0.0.1:%d" % p for p in self.ports[:2])

    def node_ids(self):
        """{port: node id}."""
        return {p: resp(p, "CLUSTER", "MYID") for p in self.ports}

    def owner(self, slot):
        """The port of the master serving `slot`."""
        for rng in resp(self.ports[0], "CLUSTER", "SLOTS"):
            if int(rng[0]) <= slot <= int(rng[1]):
                return int(rng[2][1])
        return None

    def slots_of(self, port):
        """How many slots the node on `port` serves."""
        n = 0
        for rng in resp(port, "CLUSTER", "SLOTS"):
            if int(rng[2][1]) == port:
                n += int(rng[1]) - int(rng[0]) + 1
        return n

    def reshard(self, from_port, to_port, slots):
        """Moves `slots` slots (and their keys, with MIGRATE) between masters while traffic runs:
        clients see ASK during the move and MOVED after it."""
        ids = self.node_ids()
        r = subprocess.run(["redis-cli", "--cluster", "reshard", "127.0.0.1:%d" % self.ports[0],
                            "--cluster-from", ids[from_port], "--cluster-to", ids[to_port],
                            "--cluster-slots", str(slots), "--cluster-yes", "--cluster-pipeline", "10"],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("redis-cli --cluster reshard failed:\n" + r.stdout[-2000:] + r.stderr[-2000:])

    def migrate_slots(self, slots, from_port, to_port, pause=0.02):
        """Moves the given slots from one master to another by hand, as redis-cli --cluster
        reshard does, but key by key with a pause between keys: while a slot is migrating, a
        client asking the old owner for a key already moved gets ASK; once it is moved, MOVED."""
        ids = self.node_ids()
        for slot in slots:
            resp(to_port, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from_port])
            resp(from_port, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to_port])
            while True:
                keys = resp(from_port, "CLUSTER", "GETKEYSINSLOT", slot, 1)
                if not keys:
                    break
                resp(from_port, "MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys, timeout=10)
                time.sleep(pause)
            # The new owner first, then the others (as redis-cli does).
            resp(to_port, "CLUSTER", "SETSLOT", slot, "NODE", ids[to_port])
            for port in self.ports:
                if port != to_port:
                    resp(port, "CLUSTER", "SETSLOT", slot, "NODE", ids[to_port])

    def readers(self):
        return [reader(p) for p in self.ports]

    def close(self, keep=None):
        for p in self.procs.values():
            p.stop()
        if keep:
            os.makedirs(keep, exist_ok=True)
            for port in self.ports:
                log = os.path.join(self.dir, str(port), "redis.log")
                if os.path.exists(log):
                    shutil.copy(log, os.path.join(keep, "cluster-%d.log" % port))
        shutil.rmtree(self.dir, ignore_errors=True)


class MergedReader:
    """The readers check() uses (session ids, results, dead letters, leases), over several nodes."""

    def __init__(self, readers):
        self.readers = readers

    def session_ids(self):
        out = {}
        for r in self.readers:
            out.update(r.session_ids())
        return out

    def results(self):
        return [x for r in self.readers for x in r.results()]

    def dead_letters(self):
        return [x for r in self.readers for x in (r.dead_letters() or [])]

    def leases(self):
        out = {}
        for r in self.readers:
            out.update(r.leases())
        return out


def lost_updates(load, calls):
    """The acknowledged updates whose message never reached the Bot API with a 200."""
    by_chat = chaos.delivered_by_chat(calls)
    out = []
    for chat in load.chats:
        ok = {x[1] for x in by_chat.get(chat, []) if x[2] == 200}
        out += [u for u in load.updates[chat] if u.acked and u.effect not in ok]
    return out
