"""A real orgplane server per test module, on SQLite and (when configured) on PostgreSQL.

The server is the built binary (ORGPLANE_BIN), started on a free loopback port with a fresh data
directory or a fresh PostgreSQL database, and bootstrapped with `orgplane admin create-org`.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

from identity import IdentityProviders

BIN = os.environ.get("ORGPLANE_BIN", "/var/tmp/orgplane-target/debug/orgplane")
MOTO = os.environ.get("ORGPLANE_MOTO_SERVER", os.path.join(os.path.dirname(os.path.realpath(__import__("sys").executable)), "moto_server"))
PG_URL = os.environ.get("ORGPLANE_TEST_POSTGRES_URL", "")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _psql(admin_url, sql):
    subprocess.run(["psql", admin_url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True)


def _with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
if os.environ.get("CI") and not PG_URL:
    raise RuntimeError("ORGPLANE_TEST_POSTGRES_URL must be set under CI")


def _wait_for_port(port, proc, what):
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.05)


@pytest.fixture(scope="session")
def moto():
    """The moto STS emulator, standing in for AWS STS."""
    port = _free_port()
    proc = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_port(port, proc, "moto_server")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def idp():
    providers = IdentityProviders()
    yield providers
    providers.stop()


class Server:
    def __init__(self, backend, sts_endpoint, idp):
        self.proc = None
        self.log = None
        self.dir = None
        self.db_name = None
        try:
            self._start(backend, sts_endpoint, idp)
        except BaseException:
            # A failed start must not leave its directory or database behind.
            if self.proc is not None:
                self.proc.kill()
            self._cleanup()
            raise

    def _cleanup(self):
        if self.log is not None and not self.log.closed:
            self.log.close()
        if self.db_name:
            _psql(PG_URL, f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)")
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _start(self, backend, sts_endpoint, idp):
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix="orgplane-sdk-")
        self.db_name = None
        self.args = [BIN, "--data-dir", self.dir]
        if backend == "postgres":
            self.db_name = "orgplane_sdk_" + uuid.uuid4().hex
            _psql(PG_URL, f"CREATE DATABASE {self.db_name}")
            self.args += ["--database-url", _with_database(PG_URL, self.db_name)]
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        out = subprocess.run(
            self.args + ["admin", "create-org", "--name", "SDK Org", "--email", "sdk-admin@example.com", "--json"],
            check=True, capture_output=True, text=True,
        )
        self.org = json.loads(out.stdout.strip().splitlines()[-1])
        self.token = self.org["token"]
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        env = dict(
            os.environ,
            ORGPLANE_LOG_LEVEL="warn",
            ORGPLANE_AWS_STS_ENDPOINT=sts_endpoint,
            ORGPLANE_AWS_ACCESS_KEY_ID="AKIAORGPLANESDKTEST1",
            ORGPLANE_AWS_SECRET_ACCESS_KEY="orgplane-sdk-test-secret",
            ORGPLANE_AZURE_AUTHORITY=idp.url,
            ORGPLANE_AZURE_MANAGEMENT_ENDPOINT=idp.url,
            ORGPLANE_GCP_TOKEN_HOSTS=idp.host,
        )
        self.proc = subprocess.Popen(self.args + ["serve", "--listen", f"127.0.0.1:{self.port}"], stdout=self.log, stderr=self.log, env=env)
        deadline = time.time() + 30
        while True:
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not up yet, or too busy to answer within the second
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("orgplane did not start: " + open(os.path.join(self.dir, "server.log")).read())
            time.sleep(0.05)

    def api(self, method, path, token=None, **kwargs):
        """A plain HTTP call, to check what the server stored."""
        headers = {"Authorization": "Bearer " + (token or self.token)}
        return requests.request(method, self.base_url + path, headers=headers, timeout=10, **kwargs)

    def items(self, path, token=None):
        res = self.api("GET", path, token)
        assert res.status_code == 200, res.text
        return res.json()["response"]["items"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        finally:
            self._cleanup()
        assert self.proc.returncode == 0, f"graceful shutdown exit code {self.proc.returncode}"


@pytest.fixture(params=BACKENDS, scope="module")
def server(request, moto, idp):
    s = Server(request.param, moto, idp)
    yield s
    s.stop()
