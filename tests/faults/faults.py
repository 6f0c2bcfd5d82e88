#!/usr/bin/python3
"""A fault matrix under load (docs/design.md §2.3: bounds, audit, degraded service).

One pricing-engine process (a private copy of the binary) over a real
PostgreSQL and Redis (scripts/services.sh), priced at a bounded rate by client
threads (GET and POST /api/v1/calculate-locate, each with a unique
X-Request-Id) while a prober polls GET /health/live every 20 ms. Faults, one
window each:

  kill-9          SIGKILL of the engine; restarted on the same spool, which
                  must deliver what was answered before the kill
  pg-restart      PostgreSQL stopped and started again at once
  pg-stop         PostgreSQL stopped for --pg-stop seconds
  redis-restart   Redis stopped and started again
  redis-slow      Redis frozen for 2 s at a time (DEBUG SLEEP 2, or SIGSTOP and
                  SIGCONT where the server refuses DEBUG)
  disk-full       the spool's own small filesystem (a loop-mounted ext4 image)
                  filled to the last block, then freed
  slow-clients    slow header senders (408), header, chunk-extension, trailer
                  and body floods (431, 413), connections over the cap (503)

Per fault it prints requests sent, 2xx, 4xx, 5xx, connection errors; the
request ids answered 200 against their rows in audit_log (equal, no
duplicates, after the spool drains); the longest gap between successful
/health/live answers; and the engine's peak RSS. It fails when a 200 has no
audit row or more than one, when a 5xx appears where the contract forbids it,
when the engine exits unasked, when a bound is not answered with its contract
code, when /health/live stalls longer than --max-stall, or when RSS grows
beyond --rss-growth over its baseline.

Exit status: 0 all passed, 1 a fault failed, 77 passed but a fault was
skipped (loop devices unavailable), 2 the set-up failed.

Runs as root for the loop mount; listens and connects on 127.0.0.1 only.
"""
import argparse
import collections
import ctypes
import errno
import http.client
import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
ENGINE_BIN = os.environ.get("PRICING_ENGINE_BIN", os.path.join(REPO, "build", "engine", "pricing-engine"))
DATA = os.path.join(HERE, "reference-data.yaml")
SERVICES = os.path.join(REPO, "scripts", "services.sh")

KEYS = [("faults-internal-key-01", None), ("faults-client-key-007", "big_fund_007")]
TICKERS = ["GME", "AMC", "TSLA"]
CLIENTS = ["big_fund_007", "quant_360"]
MAX_CONNECTIONS = 1000
MIB = 1024 * 1024

PR_SET_PDEATHSIG = 1


def log(msg):
    print("faults: " + msg, file=sys.stderr, flush=True)


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when the thread that started it ends,
    so no engine outlives a driver that was killed."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


# --------------------------------------------------------------------------
# Services, engine, spool filesystem


class Services:
    """PostgreSQL + Redis started by scripts/services.sh in a private directory."""

    def __init__(self, directory):
        self.dir = directory
        self.env = {}
        self.started = False

    def run(self, *args):
        subprocess.run([SERVICES, *args, self.dir], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.load_env()

    def load_env(self):
        with open(os.path.join(self.dir, "services.env")) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.split("=", 1)
                    self.env[k] = v.strip("'\"")

    def up(self):
        self.started = True
        self.run("up")

    def down(self):
        if self.started:
            subprocess.run([SERVICES, "down", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started = False

    def psql(self, script, timeout=30):
        out = subprocess.run(["psql", self.env["PRICING_DATABASE_URL"], "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                             input=script, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError("psql: " + out.stderr.strip())
        return out.stdout.strip()

    def redis_cli(self, *args, timeout=10):
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", self.env["PRICING_REDIS_PORT"], *args],
                              capture_output=True, text=True, timeout=timeout)


class Engine:
    """The pricing-engine process under test; restartable on the same port and spool."""

    def __init__(self, binary, env, workdir):
        self.binary = binary
        self.env = env
        self.port = int(env["PRICING_LISTEN"].rsplit(":", 1)[1])
        self.log_path = os.path.join(workdir, "engine.log")
        self.proc = None
        self.expect_exit = False
        self.killed = set()  # pids stopped on purpose
        self.starts = 0

    def start(self, timeout=30):
        # Only ever called from the main thread (see die_with_parent).
        self.expect_exit = False
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=out, stderr=out,
                                         preexec_fn=die_with_parent)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("engine exited with %s at start; see %s" % (self.proc.returncode, self.log_path))
            try:
                if self.request("GET", "/health/live", timeout=1)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.02)
        raise RuntimeError("engine did not answer /health/live within %d s" % timeout)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.expect_exit = True
            self.killed.add(self.proc.pid)
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def metric(self, name):
        _, data = self.request("GET", "/metrics", timeout=5)
        total = 0.0
        for line in data.decode().splitlines():
            if line.startswith(name) and line.split("{", 1)[0].split(" ", 1)[0] == name:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def rss_kib(self, field="VmRSS"):
        proc = self.proc
        if proc is None:
            return 0
        try:
            with open("/proc/%d/status" % proc.pid) as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0


class SpoolFs:
    """A small ext4 filesystem of the spool's own: an image file on a loop
    device mounted at `mount`. `ready` is False (and `why` says why) where loop
    devices cannot be used."""

    def __init__(self, workdir, size_mib):
        self.image = os.path.join(workdir, "spool.img")
        self.mount = os.path.join(workdir, "spool")
        self.filler = os.path.join(self.mount, "filler")
        self.size_mib = size_mib
        self.device = None
        self.mounted = False
        self.ready = False
        self.why = ""

    def setup(self):
        os.makedirs(self.mount, exist_ok=True)
        try:
            if os.geteuid() != 0:
                raise RuntimeError("not root")
            with open(self.image, "wb") as f:
                f.truncate(self.size_mib * MIB)
            subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image], check=True, capture_output=True)
            self.device = subprocess.run(["losetup", "-f", "--show", self.image], check=True,
                                         capture_output=True, text=True).stdout.strip()
            subprocess.run(["mount", self.device, self.mount], check=True, capture_output=True)
            self.mounted = True
            self.ready = True
        except (OSError, RuntimeError, subprocess.CalledProcessError) as e:
            detail = getattr(e, "stderr", b"") or b""
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            self.why = ("%s %s" % (e, detail)).strip()
            self.teardown()
            os.makedirs(self.mount, exist_ok=True)

    def fill(self):
        """Writes a file until the filesystem is full; returns its size."""
        written = 0
        with open(self.filler, "wb", buffering=0) as f:
            for block in (MIB, 4096, 512):
                data = b"\0" * block
                while True:
                    try:
                        written += f.write(data)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
            try:
                os.fsync(f.fileno())
            except OSError:
                pass
        return written

    def free(self):
        try:
            os.unlink(self.filler)
        except FileNotFoundError:
            pass

    def teardown(self):
        if self.mounted:
            r = subprocess.run(["umount", self.mount], capture_output=True)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.mount], capture_output=True)
            self.mounted = False
        if self.device:
            subprocess.run(["losetup", "-d", self.device], capture_output=True)
            self.device = None
        self.ready = False


# --------------------------------------------------------------------------
# Load and probe


class Stats:
    """Outcomes of the load's price requests during one fault."""

    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()
        self.sent = 0
        self.codes = collections.Counter()
        self.conn_errors = 0       # requests that got no HTTP answer at all
        self.failed_attempts = 0   # attempts that ended in a connection error
        self.retried_ok = 0        # answered 200 on a retry with the same id
        self.ok_ids = []
        self.ok_requests = []      # (id, method, path, body, headers) of the first 200s
        self.all_5xx_allowed = collections.Counter()
        self.allow_503 = False     # set while the contract allows a 503
        self.started = time.monotonic()
        self.first_5xx = None      # (seconds into the fault, body) of the first 5xx
        self.last_5xx = None

    def record(self, rid, status, retried, request=None):
        with self.lock:
            self.codes[status] += 1
            if status == 200:
                self.ok_ids.append(rid)
                if len(self.ok_requests) < 200 and request is not None:
                    self.ok_requests.append((rid,) + request)
                if retried:
                    self.retried_ok += 1
            elif status == 503 and self.allow_503:
                self.all_5xx_allowed[status] += 1

    def count(self, lo, hi):
        with self.lock:
            return sum(n for c, n in self.codes.items() if lo <= c < hi)


class Load:
    """Client threads pricing at a bounded total rate, each over one keep-alive
    connection; a request whose attempt ends without an answer is retried with
    the same X-Request-Id (a retried POST is priced and audited once)."""

    def __init__(self, port, threads, rate, run_id):
        self.port = port
        self.threads = threads
        self.rate = rate
        self.run_id = run_id
        self.stats = None
        self.stop = threading.Event()
        self.workers = []

    def start(self, stats):
        self.stats = stats
        self.stop.clear()
        self.workers = [threading.Thread(target=self.work, args=(i,), daemon=True) for i in range(self.threads)]
        for w in self.workers:
            w.start()

    def finish(self):
        self.stop.set()
        for w in self.workers:
            w.join(timeout=60)

    def build(self, rng):
        key, own_client = rng.choice(KEYS)
        client = own_client or rng.choice(CLIENTS)
        fields = {"ticker": rng.choice(TICKERS), "position_value": rng.choice(["50000", "1250000.50", "777"]),
                  "loan_days": rng.choice(["1", "30", "60", "365"]), "client_id": client}
        if rng.random() < 0.5:
            return "GET", "/api/v1/calculate-locate?" + urllib.parse.urlencode(fields), None, {"X-API-Key": key}
        body = json.dumps({"ticker": fields["ticker"], "position_value": float(fields["position_value"]),
                           "loan_days": int(fields["loan_days"]), "client_id": client})
        return "POST", "/api/v1/calculate-locate", body, {"X-API-Key": key, "Content-Type": "application/json"}

    def work(self, index):
        stats = self.stats
        rng = random.Random(index * 7919 + hash(stats.name))
        interval = self.threads / self.rate
        conn = None
        n = 0
        nxt = time.monotonic() + rng.random() * interval
        while not self.stop.is_set():
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            nxt += interval
            if nxt < time.monotonic() - 1:
                nxt = time.monotonic()  # behind after a stall: no burst to catch up
            n += 1
            method, path, body, headers = self.build(rng)
            rid = "%s-%s-%d-%d-%s" % (self.run_id, stats.name, index, n, method[0].lower())
            headers = dict(headers, **{"X-Request-Id": rid})
            with stats.lock:
                stats.sent += 1
            status = None
            for attempt in range(4):
                if attempt:
                    if self.stop.is_set() and attempt > 1:
                        break
                    time.sleep(0.25 * (2 ** attempt))
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                    conn.request(method, path, body=body, headers=headers)
                    r = conn.getresponse()
                    data = r.read()
                    status = r.status
                    if status >= 500:
                        with stats.lock:
                            at = time.monotonic() - stats.started
                            if stats.first_5xx is None:
                                stats.first_5xx = (at, data[:160].decode(errors="replace"))
                            stats.last_5xx = at
                    if r.will_close:
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException):
                    with stats.lock:
                        stats.failed_attempts += 1
                    if conn is not None:
                        conn.close()
                        conn = None
            if status is None:
                with stats.lock:
                    stats.conn_errors += 1
            else:
                stats.record(rid, status, attempt > 0, (method, path, body, headers))
        if conn is not None:
            conn.close()


class Prober(threading.Thread):
    """Polls GET /health/live every `interval` over a keep-alive connection and
    keeps the longest gap between two successful answers; samples the engine's
    RSS; notices an engine that exits unasked."""

    def __init__(self, engine, interval=0.02):
        super().__init__(daemon=True)
        self.engine = engine
        self.interval = interval
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.paused = False
        self.last_ok = time.monotonic()
        self.max_gap = 0.0
        self.peak_rss = 0
        self.crashes = []

    def reset(self):
        with self.lock:
            self.last_ok = time.monotonic()
            self.max_gap = 0.0
            self.peak_rss = self.engine.rss_kib()

    def pause(self):
        """The engine is down on purpose: gaps are not counted until resume()."""
        with self.lock:
            self.paused = True

    def resume(self):
        with self.lock:
            self.paused = False
            self.last_ok = time.monotonic()

    def result(self):
        with self.lock:
            gap = self.max_gap
            if not self.paused:
                gap = max(gap, time.monotonic() - self.last_ok)
            return gap, self.peak_rss

    def run(self):
        conn = None
        port = self.engine.port
        i = 0
        while not self.halt.is_set():
            t0 = time.monotonic()
            ok = False
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/health/live")
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
                if r.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                    conn = None
            now = time.monotonic()
            i += 1
            rss = self.engine.rss_kib() if i % 5 == 0 else 0
            proc = self.engine.proc
            with self.lock:
                if ok and not self.paused:
                    self.max_gap = max(self.max_gap, now - self.last_ok)
                    self.last_ok = now
                self.peak_rss = max(self.peak_rss, rss)
                if proc is not None and proc.poll() is not None and proc.pid not in self.engine.killed:
                    if not self.crashes or self.crashes[-1][0] is not proc:
                        self.crashes.append((proc, proc.returncode, time.time()))
            time.sleep(max(0.0, self.interval - (time.monotonic() - t0)))
        if conn is not None:
            conn.close()


class ReadyPoller(threading.Thread):
    """Polls GET /health/ready once a second, as a kubelet would (the engine's
    degraded state counts from the last ready answer it gave), and counts the
    answers: (status, body status)."""

    def __init__(self, engine):
        super().__init__(daemon=True)
        self.engine = engine
        self.halt = threading.Event()
        self.lock = threading.Lock()
        self.answers = collections.Counter()

    def take(self):
        with self.lock:
            answers, self.answers = self.answers, collections.Counter()
        return answers

    def run(self):
        while not self.halt.wait(1.0):
            try:
                status, data = self.engine.request("GET", "/health/ready", timeout=5)
                try:
                    answer = (status, json.loads(data).get("status"))
                except ValueError:
                    answer = (status, "not json")
            except (OSError, http.client.HTTPException):
                answer = ("no answer", None)
            with self.lock:
                self.answers[answer] += 1


# --------------------------------------------------------------------------
# Raw-socket clients for the bounds


HEAD = (b"POST /api/v1/calculate-locate HTTP/1.1\r\nHost: x\r\nX-API-Key: faults-internal-key-01\r\n"
        b"Content-Type: application/json\r\n")


def read_status(sock, timeout=10):
    """Returns the status of the response on `sock`, or a word for what happened instead."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return "closed"
            data += chunk
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "no answer"
    except OSError as e:
        return "error %s" % e.errno
    try:
        return int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return "garbage"


def flood(port, prefix, filler, total):
    """Sends prefix then `total` bytes of filler, ignoring the peer giving up,
    then reads the answer's status."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError as e:
        return "connect %s" % e.errno
    with s:
        try:
            s.sendall(prefix)
            chunk = filler * (65536 // len(filler))
            sent = 0
            while sent < total:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        return read_status(s)


FLOODS = {
    # name: (expected status, prefix, filler, bytes)
    "header-count": (431, b"GET /api/v1/rates/GME HTTP/1.1\r\nHost: x\r\n", b"X-Flood: 0123456789abcdef\r\n", 4 * MIB),
    "header-size": (431, b"GET /api/v1/rates/GME HTTP/1.1\r\nHost: x\r\nX-Big: ", b"a", 4 * MIB),
    "chunk-extension": (431, HEAD + b"Transfer-Encoding: chunked\r\n\r\n5;ext=", b"e", 16 * MIB),
    "trailer": (431, HEAD + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: ", b"t", 4 * MIB),
    "body-length": (413, HEAD + b"Content-Length: 8388608\r\n\r\n", b"x", 8 * MIB),
    "body-chunked": (413, HEAD + b"Transfer-Encoding: chunked\r\n\r\n", b"8000\r\n" + b"x" * 0x8000 + b"\r\n", 8 * MIB),
}


def readable(socks, timeout):
    """The sockets of `socks` with something to read (or closed) within
    `timeout` seconds; poll(), as there are more than FD_SETSIZE of them."""
    poller = select.poll()
    by_fd = {}
    for s in socks:
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
        by_fd[s.fileno()] = s
    return {by_fd[fd] for fd, _ in poller.poll(timeout * 1000)}


def slow_senders(port, count, results, deadline_s=25):
    """`count` connections that send a request head one byte every 0.5 s and
    never finish it; records each one's status and seconds from first byte."""
    socks = []
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append([s, time.monotonic()])
        except OSError as e:
            results.append(("connect %s" % e.errno, 0.0))
    end = time.monotonic() + deadline_s
    while socks and time.monotonic() < end:
        ready = readable([s for s, _ in socks], 0.5)
        for entry in list(socks):
            s, t0 = entry
            if s in ready:
                results.append((read_status(s, timeout=2), time.monotonic() - t0))
                s.close()
                socks.remove(entry)
                continue
            try:
                s.send(b"a")
            except OSError:
                results.append((read_status(s, timeout=2), time.monotonic() - t0))
                s.close()
                socks.remove(entry)
    for s, t0 in socks:
        results.append(("no answer", time.monotonic() - t0))
        s.close()


def over_the_cap(port, extra, hold, stats, on_hold=None):
    """Opens connections until MAX_CONNECTIONS + `extra` are open, holds them
    `hold` seconds, closes them. Returns (status counter of the connections the
    engine answered, load 2xx while held)."""
    socks = []
    codes = collections.Counter()
    with stats.lock:
        stats.allow_503 = True
    try:
        for _ in range(MAX_CONNECTIONS + extra):
            try:
                s = socket.socket()
                s.settimeout(5)
                s.connect(("127.0.0.1", port))
                socks.append(s)
            except OSError as e:
                codes["connect errno %s" % e.errno] += 1
                s.close()
        ok_before = stats.count(200, 300)
        if on_hold:
            on_hold()
        time.sleep(hold)
        ok_during = stats.count(200, 300) - ok_before
        for s in readable(socks, 0):
            codes[read_status(s, timeout=2)] += 1
    finally:
        for s in socks:
            s.close()
        time.sleep(0.5)
        with stats.lock:
            stats.allow_503 = False
    return codes, ok_during


# --------------------------------------------------------------------------
# The matrix


class Matrix:
    def __init__(self, args):
        self.args = args
        self.workdir = None
        self.services = None
        self.engine = None
        self.spool = None
        self.prober = None
        self.ready_poller = None
        self.load = None
        self.rows = []
        self.baseline_rss = 0
        self.run_id = "f%x" % int(time.time())

    # ---- set-up and teardown

    def setup(self):
        a = self.args
        self.workdir = tempfile.mkdtemp(prefix="pricing-faults-", dir=a.workdir)
        log("work directory " + self.workdir)
        binary = os.path.join(self.workdir, "pricing-engine")
        shutil.copy2(ENGINE_BIN, binary)
        self.spool = SpoolFs(self.workdir, a.spool_mib)
        self.spool.setup()
        if not self.spool.ready:
            log("LOOP DEVICE UNAVAILABLE (%s): the disk-full fault will be SKIPPED" % self.spool.why)
        self.services = Services(os.path.join(self.workdir, "services"))
        t0 = time.monotonic()
        self.services.up()
        log("services up in %.1f s" % (time.monotonic() - t0))
        subprocess.run([binary, "seed", DATA], check=True, stdout=subprocess.DEVNULL,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                            "PRICING_DATABASE_URL": self.services.env["PRICING_DATABASE_URL"]})
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PRICING_LISTEN": "127.0.0.1:%d" % free_port(),
            "PRICING_DATABASE_URL": self.services.env["PRICING_DATABASE_URL"],
            "PRICING_REDIS_URL": self.services.env["PRICING_REDIS_URL"],
            "PRICING_AUDIT_DIR": os.path.join(self.spool.mount, "audit"),
            "PRICING_THREADS": str(a.engine_threads),
            "PRICING_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        }
        self.engine = Engine(binary, env, self.workdir)
        self.engine.start()
        self.warm_up()
        self.baseline_rss = self.engine.rss_kib()
        self.prober = Prober(self.engine)
        self.prober.start()
        self.ready_poller = ReadyPoller(self.engine)
        self.ready_poller.start()
        self.load = Load(self.engine.port, a.threads, a.rate, self.run_id)

    def warm_up(self):
        """Prices every key, ticker and client once, so that each is a value
        'already seen' when PostgreSQL goes away (docs/design.md §2.3)."""
        for key, own in KEYS:
            for ticker in TICKERS:
                for client in ([own] if own else CLIENTS):
                    body = json.dumps({"ticker": ticker, "position_value": 1000, "loan_days": 10, "client_id": client})
                    status, data = self.engine.request(
                        "POST", "/api/v1/calculate-locate", body,
                        {"X-API-Key": key, "Content-Type": "application/json",
                         "X-Request-Id": "%s-warmup-%s-%s-%s" % (self.run_id, key[-3:], ticker, client)})
                    if status != 200:
                        raise RuntimeError("warm-up price %s/%s/%s: %d %s" % (key, ticker, client, status, data[:200]))

    def teardown(self):
        if self.load:
            self.load.finish()
        for t in (self.prober, self.ready_poller):
            if t:
                t.halt.set()
                t.join(timeout=10)
        if self.engine:
            self.engine.kill(signal.SIGKILL)
        if self.spool:
            self.spool.free()
            self.spool.teardown()
        if self.services:
            self.services.down()
        if self.workdir and not self.args.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            log("kept " + self.workdir)

    # ---- audit

    def audit_counts(self, stats):
        ids = sorted(set(stats.ok_ids))
        script = ("CREATE TEMP TABLE ok_ids (id text PRIMARY KEY);\nCOPY ok_ids FROM STDIN;\n" +
                  "".join(i + "\n" for i in ids) + "\\.\n" +
                  "SELECT count(a.*), count(DISTINCT a.request_id) FROM audit_log a JOIN ok_ids o ON a.request_id = o.id;\n" +
                  "SELECT count(*) FROM audit_log WHERE request_id LIKE '%s-%s-%%';\n" % (self.run_id, stats.name))
        lines = self.services.psql(script).splitlines()
        rows, distinct = (int(x) for x in lines[0].split("|"))
        return len(ids), rows, distinct, int(lines[1])

    def audit_details(self, stats):
        """Up to five ids answered 200 with no audit row or with several, and
        when each row was priced / recorded."""
        ids = sorted(set(stats.ok_ids))
        script = ("CREATE TEMP TABLE ok_ids (id text PRIMARY KEY);\nCOPY ok_ids FROM STDIN;\n" +
                  "".join(i + "\n" for i in ids) + "\\.\n" +
                  "SELECT o.id || ' x' || count(a.*) || ' ' || coalesce(string_agg("
                  "to_char(a.created_at, 'HH24:MI:SS.MS') || '/' || to_char(a.recorded_at, 'HH24:MI:SS.MS'), ' '), '') "
                  "FROM ok_ids o LEFT JOIN audit_log a ON a.request_id = o.id "
                  "GROUP BY o.id HAVING count(a.*) <> 1 ORDER BY o.id LIMIT 5;\n")
        try:
            return self.services.psql(script).splitlines()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            return [str(e)]

    def drain(self, stats, timeout):
        """Waits until every id answered 200 has its audit row and the spool is
        empty; returns (answered, rows, distinct, all rows of the fault, pending,
        seconds waited)."""
        t0 = time.monotonic()
        counts = (len(set(stats.ok_ids)), 0, 0, 0)
        pending = -1
        while True:
            try:
                counts = self.audit_counts(stats)
                pending = self.engine.metric("audit_records_pending") if self.engine.alive() else -1
            except (RuntimeError, OSError, http.client.HTTPException, subprocess.TimeoutExpired):
                pass
            if counts[2] == counts[0] and pending == 0:
                break
            if time.monotonic() - t0 > timeout:
                break
            time.sleep(0.5)
        return counts + (pending, time.monotonic() - t0)

    # ---- one fault

    def run_fault(self, name, window, inject, allowed_5xx=(), skipped=None):
        if skipped:
            log("SKIPPED %s: %s" % (name, skipped))
            self.rows.append({"fault": name, "verdict": "SKIP", "notes": ["SKIPPED: " + skipped]})
            return
        log("%s: %.0f s window" % (name, window))
        stats = Stats(name)
        self.prober.reset()
        crashes_before = len(self.prober.crashes)
        self.ready_poller.take()
        self.load.start(stats)
        notes, problems = [], []
        t0 = time.monotonic()
        try:
            inject(window, stats, notes, problems)
        except Exception as e:  # the fault's own machinery failed: report, continue
            problems.append("fault injection failed: %r" % e)
        remaining = window - (time.monotonic() - t0)
        if remaining > 0:
            time.sleep(remaining)
        self.load.finish()
        stall, peak_rss = self.prober.result()
        ready = self.ready_poller.take()
        peak_rss = max(peak_rss, self.engine.rss_kib())
        elapsed = time.monotonic() - t0

        crashes = self.prober.crashes[crashes_before:]
        if not self.engine.alive() and self.engine.proc.pid not in self.engine.killed and not crashes:
            crashes.append((self.engine.proc, self.engine.proc.returncode, time.time()))
        for _, rc, _ in crashes:
            problems.append("engine exited unasked (status %s); see engine.log" % rc)
        if not self.engine.alive():
            self.engine.start()
            self.prober.resume()
            notes.append("engine restarted after it exited")

        # Service comes back after the fault heals.
        recovered = wait_until(lambda: self.price_once() == 200, timeout=30, step=0.5)
        if not recovered:
            problems.append("no 200 within 30 s after the fault healed (last: %s)" % self.price_once())

        answered, rows, distinct, fault_rows, pending, waited = self.drain(stats, self.args.drain_timeout)
        missing = answered - distinct
        dups = rows - distinct
        if missing:
            problems.append("%d prices answered 200 have no audit row after %.0f s (pending %s)" %
                            (missing, waited, pending))
        if dups:
            problems.append("%d duplicate audit rows for ids answered 200" % dups)
        if missing or dups:
            problems.append("ids with rows != 1 (id xrows created/recorded UTC): " +
                            "; ".join(self.audit_details(stats)))
        if name.startswith("pg-") and any(k[0] != 200 for k in ready):
            problems.append("/health/ready not 200 (ready or degraded) while PostgreSQL was away")
        notes.append("/health/ready answers: %s" % ", ".join("%s %s: %d" % (k[0], k[1], n) for k, n in sorted(ready.items(), key=str)))
        n5xx = stats.count(500, 600)
        if stats.first_5xx:
            notes.append("5xx from %.1f s to %.1f s into the fault; first: %s"
                         % (stats.first_5xx[0], stats.last_5xx, stats.first_5xx[1]))
        allowed = sum(n for c, n in stats.codes.items() if c in allowed_5xx) + sum(stats.all_5xx_allowed.values())
        if n5xx > allowed:
            problems.append("forbidden 5xx: %s" % {c: n for c, n in stats.codes.items() if c >= 500})
        if stall > self.args.max_stall:
            problems.append("/health/live stalled %.0f ms (limit %.0f ms)" % (stall * 1000, self.args.max_stall * 1000))
        if peak_rss - self.baseline_rss > self.args.rss_growth * 1024:
            problems.append("peak RSS %.0f MiB, %.0f MiB over the baseline (limit %d MiB)" %
                            (peak_rss / 1024, (peak_rss - self.baseline_rss) / 1024, self.args.rss_growth))
        notes.append("codes %s; %d attempts failed to connect, %d ids answered 200 on a retry; "
                     "drained in %.1f s; %d audit rows for ids not answered 200; %.0f s" %
                     (dict(sorted(stats.codes.items())), stats.failed_attempts, stats.retried_ok, waited,
                      fault_rows - rows, elapsed))
        self.rows.append({
            "fault": name, "sent": stats.sent, "2xx": stats.count(200, 300), "4xx": stats.count(400, 500),
            "5xx": n5xx, "conn": stats.conn_errors, "ok": answered, "rows": rows, "dups": dups,
            "stall": stall * 1000, "rss": peak_rss / 1024, "verdict": "FAIL" if problems else "PASS",
            "notes": problems + notes})

    def price_once(self):
        try:
            return self.engine.request("POST", "/api/v1/calculate-locate",
                                       json.dumps({"ticker": "GME", "position_value": 1000, "loan_days": 10,
                                                   "client_id": "big_fund_007"}),
                                       {"X-API-Key": KEYS[1][0], "Content-Type": "application/json",
                                        "X-Request-Id": "%s-recovery-%d" % (self.run_id, random.getrandbits(48))},
                                       timeout=5)[0]
        except (OSError, http.client.HTTPException) as e:
            return repr(e)

    # ---- the faults

    def kill9(self, window, stats, notes, problems):
        time.sleep(min(2.0, window / 3))
        self.prober.pause()
        pid = self.engine.proc.pid
        self.engine.kill(signal.SIGKILL)
        t0 = time.monotonic()
        self.engine.start()
        self.prober.resume()
        notes.append("killed pid %d with SIGKILL; the restarted engine answered /health/live after %.0f ms"
                     % (pid, (time.monotonic() - t0) * 1000))
        # Clients retry what they sent before the kill, with the same ids: each
        # is priced and audited once (docs/design.md §2.3), across the restart too.
        with stats.lock:
            again = list(stats.ok_requests[:10])
        codes = collections.Counter()
        for rid, method, path, body, headers in again:
            try:
                status = self.engine.request(method, path, body, headers)[0]
            except (OSError, http.client.HTTPException):
                status = "no answer"
            codes[status] += 1
            if isinstance(status, int):
                stats.record(rid, status, True)
        notes.append("re-sent %d ids answered 200 before the kill: %s" % (len(again), dict(codes)))

    def pg_restart(self, window, stats, notes, problems):
        time.sleep(min(1.0, window / 4))
        t0 = time.monotonic()
        self.services.run("stop-pg")
        self.services.run("start-pg")
        notes.append("PostgreSQL down for %.1f s" % (time.monotonic() - t0))

    def pg_stop(self, window, stats, notes, problems):
        time.sleep(1.0)
        self.services.run("stop-pg")
        t0 = time.monotonic()
        try:
            time.sleep(max(0.0, self.args.pg_stop - 1.0))
            ready = self.ready()
            notes.append("/health/ready while PostgreSQL was down: %s" % (ready,))
            time.sleep(1.0)
            try:
                pending = self.engine.metric("audit_records_pending")
                notes.append("audit_records_pending before the restart: %.0f" % pending)
            except (OSError, http.client.HTTPException):
                pass
        finally:
            self.services.run("start-pg")
        notes.append("PostgreSQL stopped for %.1f s" % (time.monotonic() - t0))

    def redis_restart(self, window, stats, notes, problems):
        time.sleep(min(1.0, window / 4))
        t0 = time.monotonic()
        self.services.run("stop-redis")
        try:
            time.sleep(1.0)
        finally:
            self.services.run("start-redis")
        notes.append("Redis down for %.1f s" % (time.monotonic() - t0))

    def redis_slow(self, window, stats, notes, problems):
        end = time.monotonic() + window - 1.0
        time.sleep(0.5)
        probe = self.services.redis_cli("DEBUG", "SLEEP", "0")
        use_debug = probe.returncode == 0 and "ERR" not in probe.stdout
        pid = int(self.services.env["PRICING_REDIS_PID"])
        sleeps = 0
        while time.monotonic() + 2.0 <= end:
            if use_debug:
                self.services.redis_cli("DEBUG", "SLEEP", "2", timeout=10)
            else:
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(2.0)
                finally:
                    os.kill(pid, signal.SIGCONT)
            sleeps += 1
            time.sleep(0.2)
        if use_debug:
            notes.append("Redis slowed by %d × DEBUG SLEEP 2" % sleeps)
        else:
            notes.append("Redis refuses DEBUG (%s); frozen instead by %d × SIGSTOP for 2 s"
                         % ((probe.stdout + probe.stderr).strip()[:60], sleeps))

    def disk_full(self, window, stats, notes, problems):
        """Fills the spool's file system. The engine must take itself out of
        service (503 not_ready naming audit_spool) within a few probes rather
        than answer prices it cannot make durable, and come back once space
        is freed. Prices it did answer 200 must all reach audit_log."""
        time.sleep(min(1.0, window / 4))
        written = self.spool.fill()
        st = os.statvfs(self.spool.mount)
        notes.append("spool filesystem %d MiB filled (%.1f MiB written, %d KiB left)"
                     % (self.args.spool_mib, written / MIB, st.f_bavail * st.f_frsize // 1024))
        full_at = time.monotonic()
        try:
            seen = {}

            def spool_unready():
                seen["answer"] = self.ready_checks()
                status, checks = seen["answer"]
                return status == 503 and checks.get("audit_spool") == "unavailable"

            if wait_until(spool_unready, timeout=5, step=0.2):
                notes.append("/health/ready 503 naming audit_spool %.1f s after the disk filled"
                             % (time.monotonic() - full_at))
            else:
                problems.append("/health/ready did not name audit_spool within 5 s of a full disk: %s"
                                % (seen.get("answer"),))
            time.sleep(max(0.0, window - 3.0 - (time.monotonic() - full_at)))
            with stats.lock:
                during = dict(stats.codes)
            notes.append("answers while full: %s" % (during,))
        finally:
            self.spool.free()
        freed_at = time.monotonic()
        notes.append("filler removed")
        if wait_until(lambda: self.ready_checks()[0] == 200, timeout=5, step=0.2):
            notes.append("/health/ready 200 again %.1f s after the filler was removed"
                         % (time.monotonic() - freed_at))
        else:
            problems.append("/health/ready not 200 within 5 s of freeing the disk: %s" % (self.ready_checks(),))

    def slow_clients(self, window, stats, notes, problems):
        slow = []
        floods = collections.defaultdict(collections.Counter)
        stop = threading.Event()

        gate = threading.Lock()  # held by a round of floods, or by the cap phase

        def flood_loop():
            while not stop.is_set():
                with gate:
                    flood_round()
                stop.wait(0.2)

        def flood_round():
            threads = []
            for fname, (want, prefix, filler, total) in FLOODS.items():
                def one(fname=fname, prefix=prefix, filler=filler, total=total):
                    floods[fname][flood(self.engine.port, prefix, filler, total)] += 1
                threads.append(threading.Thread(target=one, daemon=True))
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)

        slow_thread = threading.Thread(target=slow_senders, args=(self.engine.port, 50, slow), daemon=True)
        flood_thread = threading.Thread(target=flood_loop, daemon=True)
        slow_thread.start()
        flood_thread.start()
        time.sleep(2.0)
        with gate:  # floods over the cap would get its 503, not their own code
            cap_codes, ok_during = over_the_cap(self.engine.port, 50, 2.0, stats)
        time.sleep(max(0.0, window - 5.0))
        stop.set()
        flood_thread.join(timeout=120)
        slow_thread.join(timeout=60)

        # Slow senders: 408 from the read deadline (10 s from the first byte).
        slow_codes = collections.Counter(s for s, _ in slow)
        waits = [w for s, w in slow if s == 408]
        notes.append("slow senders: %s%s" % (dict(slow_codes), (", 408 after %.1f-%.1f s" % (min(waits), max(waits)))
                                             if waits else ""))
        if slow_codes.get(408, 0) != len(slow) or not slow:
            problems.append("slow senders not all answered 408: %s" % dict(slow_codes))
        elif not all(8.5 < w < 16 for w in waits):
            problems.append("408 not at the 10 s read deadline: %.1f-%.1f s" % (min(waits), max(waits)))
        for fname, (want, _, _, total) in FLOODS.items():
            got = floods[fname]
            notes.append("%s flood (%d MiB each): %s" % (fname, total // MIB, dict(got)))
            if not got or set(got) != {want}:
                problems.append("%s flood not all answered %d: %s" % (fname, want, dict(got)))
        notes.append("connections over the cap (%d): %s; load answered %d 2xx while the cap was held"
                     % (MAX_CONNECTIONS, dict(cap_codes), ok_during))
        others = {k: v for k, v in cap_codes.items() if k != 503}
        if cap_codes.get(503, 0) < 1 or others:
            problems.append("connections over the cap not answered 503 only: %s" % dict(cap_codes))
        if ok_during == 0:
            problems.append("no price answered 2xx while the connection cap was held")
        status = self.engine.request("GET", "/health/live", timeout=5)[0]
        if status != 200:
            problems.append("/health/live after the cap was released: %d" % status)

    def ready_checks(self):
        """(status, {check: state}) of /health/ready; (error text, {}) on failure."""
        try:
            status, data = self.engine.request("GET", "/health/ready", timeout=5)
            return status, json.loads(data).get("checks", {})
        except (OSError, http.client.HTTPException, ValueError) as e:
            return repr(e), {}

    def ready(self):
        status, data = self.engine.request("GET", "/health/ready", timeout=5)
        try:
            body = json.loads(data)
            return status, body.get("status"), body.get("degraded")
        except ValueError:
            return status, data[:80]

    # ---- all of it

    def run(self):
        a = self.args
        w = a.window
        plan = [
            ("kill-9", w, self.kill9, (), None),
            ("pg-restart", w, self.pg_restart, (), None),
            ("pg-stop", a.pg_stop + 4.0, self.pg_stop, (), None),
            ("redis-restart", w, self.redis_restart, (), None),
            ("redis-slow", max(w, 5.0), self.redis_slow, (), None),
            ("disk-full", max(w, 4.0), self.disk_full, (503,),
             None if self.spool.ready else "loop device unavailable: " + self.spool.why),
            ("slow-clients", max(w, 13.0), self.slow_clients, (), None),
        ]
        only = set(a.only.split(",")) if a.only else None
        for name, window, inject, allowed, skipped in plan:
            if only and name not in only:
                continue
            self.run_fault(name, window, inject, allowed, skipped)

    def print_table(self):
        cols = [("fault", "fault", "%s"), ("sent", "sent", "%d"), ("2xx", "2xx", "%d"), ("4xx", "4xx", "%d"),
                ("5xx", "5xx", "%d"), ("conn errors", "conn", "%d"), ("200 prices", "ok", "%d"),
                ("audit rows", "rows", "%d"), ("dup rows", "dups", "%d"), ("live stall ms", "stall", "%.0f"),
                ("peak RSS MiB", "rss", "%.1f"), ("verdict", "verdict", "%s")]
        cells = [[h for h, _, _ in cols]]
        for r in self.rows:
            cells.append([(f % r[k]) if k in r else "-" for _, k, f in cols])
        widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
        lines = []
        for n, row in enumerate(cells):
            lines.append(" | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
            if n == 0:
                lines.append("-+-".join("-" * wd for wd in widths))
        print("\n".join(lines))
        print()
        print("baseline RSS %.1f MiB; engine started %d times; load %d threads at %d req/s; cap %d connections"
              % (self.baseline_rss / 1024, self.engine.starts, self.args.threads, self.args.rate, MAX_CONNECTIONS))
        for r in self.rows:
            print("%s [%s]" % (r["fault"], r["verdict"]))
            for note in r["notes"]:
                print("    " + note)
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--window", type=float, default=20.0, help="seconds of load per fault (default 20)")
    p.add_argument("--pg-stop", type=float, default=60.0, help="seconds PostgreSQL stays stopped (default 60)")
    p.add_argument("--rate", type=int, default=100, help="price requests per second, all threads (default 100)")
    p.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--engine-threads", type=int, default=2, help="PRICING_THREADS of the engine (default 2)")
    p.add_argument("--max-stall", type=float, default=2.0, help="longest /health/live gap allowed, s (default 2)")
    p.add_argument("--rss-growth", type=int, default=256, help="peak RSS growth allowed over the baseline, MiB")
    p.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for the audit spool to drain")
    p.add_argument("--spool-mib", type=int, default=64, help="size of the spool's filesystem, MiB (default 64)")
    p.add_argument("--only", help="comma-separated fault names to run")
    p.add_argument("--workdir", help="parent of the work directory (default: the system's temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (engine.log, service logs)")
    args = p.parse_args()

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096 <= hard or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    m = Matrix(args)
    started = time.monotonic()
    try:
        try:
            m.setup()
        except Exception as e:
            log("set-up failed: %r" % e)
            return 2
        m.run()
    finally:
        m.teardown()
    m.print_table()
    failed = [r["fault"] for r in m.rows if r["verdict"] == "FAIL"]
    skipped = [r["fault"] for r in m.rows if r["verdict"] == "SKIP"]
    print("wall time %.0f s; %s" % (time.monotonic() - started,
                                     "FAILED: " + ", ".join(failed) if failed else
                                     "passed, SKIPPED: " + ", ".join(skipped) if skipped else "all passed"))
    if failed:
        return 1
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
