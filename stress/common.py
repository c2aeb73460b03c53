"""Shared pieces of the stress runs: start, kill and restart the built orgplane binary on SQLite
or PostgreSQL, bootstrap an organization, and talk to it over loopback only.

Every run is bounded (a count and a deadline) and sends traffic to 127.0.0.1 only.
"""
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

import requests

BIN = os.environ.get("ORGPLANE_BIN", "/var/tmp/orgplane-target/debug/orgplane")
PG_ADMIN_URL = os.environ.get("ORGPLANE_STRESS_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def fail(message):
    log("!! FAIL:", message)
    sys.exit(1)


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, text=True)
    return out.stdout


def with_database(url, name):
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


class Database:
    """A fresh SQLite data directory or PostgreSQL database for one run, removed afterwards
    (kept when the run failed, for a look)."""

    def __init__(self, backend, name):
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix=f"orgplane-{name}-", dir="/var/tmp")
        self.db_name = None
        self.args = ["--data-dir", self.dir]
        if backend == "postgres":
            self.db_name = f"stress_rel_{name}"
            psql(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
            psql(PG_ADMIN_URL, f"CREATE DATABASE {self.db_name}")
            self.url = with_database(PG_ADMIN_URL, self.db_name)
            self.args += ["--database-url", self.url]
        elif backend != "sqlite":
            raise ValueError(backend)

    def sql(self, query):
        """One read-only query, for checks the API cannot make (PostgreSQL, or SQLite via sqlite3)."""
        if self.backend == "postgres":
            return [line.split("|") for line in psql(self.url, query).splitlines() if line]
        import sqlite3

        con = sqlite3.connect(f"file:{os.path.join(self.dir, 'orgplane.db')}?mode=ro", uri=True, timeout=30)
        try:
            return [[str(c) for c in row] for row in con.execute(query).fetchall()]
        finally:
            con.close()

    def cli(self, *args):
        out = subprocess.run([BIN, *self.args, *args], capture_output=True, text=True, timeout=300)
        return out.returncode, out.stdout + out.stderr

    def create_org(self, name, email):
        code, out = self.cli("admin", "create-org", "--name", name, "--email", email, "--json")
        if code != 0:
            fail(f"create-org: {out}")
        return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])

    def drop(self, keep=False):
        if keep:
            log("kept for inspection:", self.dir, self.db_name or "")
            return
        if self.db_name:
            psql(PG_ADMIN_URL, f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        shutil.rmtree(self.dir, ignore_errors=True)


# Every server process started and not yet stopped: a run that fails (sys.exit) must not leave
# them holding their ports, where the next run's readiness check would find them instead.
RUNNING = set()


@atexit.register
def _kill_running():
    for proc in list(RUNNING):
        if proc.poll() is None:
            proc.kill()


class Server:
    """One `orgplane serve` process on 127.0.0.1:PORT over a Database."""

    def __init__(self, db, port, env=None, tag="server", data_dir=None):
        """`data_dir`: a replica's own directory (its log and nothing else: with PostgreSQL
        the database holds all state and the master key comes from the environment)."""
        self.db = db
        self.port = port
        self.args = list(db.args)
        if data_dir:
            os.makedirs(data_dir, exist_ok=True)
            self.args[self.args.index("--data-dir") + 1] = data_dir
        self.base = f"http://127.0.0.1:{port}"
        self.env = dict(os.environ, ORGPLANE_LOG_LEVEL="warn", **(env or {}))
        self.log_path = os.path.join(data_dir or db.dir, f"{tag}.log")
        self.proc = None
        self.starts = 0

    def start(self, timeout=60):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                fail(f"port {self.port} is already taken (a server left over from another run?)")
        started = time.monotonic()
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [BIN, *self.args, "serve", "--listen", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=self.log, env=self.env,
        )
        RUNNING.add(self.proc)
        self.starts += 1
        while True:
            try:
                if requests.get(self.base + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                fail(f"the server exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() - started > timeout:
                fail(f"the server did not become ready in {timeout}s; see {self.log_path}")
            time.sleep(0.05)

    def kill(self):
        """SIGKILL: no shutdown code runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        RUNNING.discard(self.proc)
        self.log.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("the server did not stop within 30s of SIGTERM")
        RUNNING.discard(self.proc)
        self.log.close()
        return code

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def panicked(self):
        with open(self.log_path, errors="replace") as f:
            return [line for line in f if "panicked" in line]


class Client:
    """A requests session with a bearer token; `call` returns (status, envelope)."""

    def __init__(self, base, token, timeout=30):
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = "Bearer " + token
        self.timeout = timeout

    def call(self, method, path, body=None, base=None):
        res = self.http.request(method, (base or self.base) + path, json=body, timeout=self.timeout)
        try:
            data = res.json()
        except ValueError:
            data = {"raw": res.text}
        return res.status_code, data

    def items(self, path, base=None):
        status, data = self.call("GET", path, base=base)
        if status != 200:
            fail(f"GET {path}: {status} {data}")
        return data["response"]["items"]


def error_code(data):
    try:
        return data["response"]["errors"][0]["code"]
    except (KeyError, IndexError, TypeError):
        return None
