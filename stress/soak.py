"""Soak: mixed load for a fixed time against one server; every answer must be a success, and the
server's resident memory must stay flat (every sample after the warm-up within 10 % of the
sample at the end of the warm-up).

Each client works in its own organization and loops over: reads (accounts, users, policies,
the audit trail, an explanation), account create → rename → delete, user with a personal
token create → use the token → delete, policy create → delete. Creates and deletes balance, so the data
stays about the same size while the audit trail grows.

Usage: python stress/soak.py sqlite|postgres [SECONDS] [CLIENTS]   (default 600 s, 4 clients;
loopback only; stops by itself)
"""
import sys
import threading
import time
import uuid

import requests

from common import Client, Database, Server, fail, log

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 600
CLIENTS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
WARMUP = min(60, SECONDS // 5)
SAMPLE_EVERY = 5
PORT = 18640 if BACKEND == "sqlite" else 18641


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.errors = []
        self.by_route = {}

    def record(self, route, status, data):
        with self.lock:
            if status == 200:
                self.ok += 1
                self.by_route[route] = self.by_route.get(route, 0) + 1
            else:
                self.errors.append((route, status, str(data)[:300]))


def client_loop(n, base, org, counters, stop):
    c = Client(base, org["token"])
    me = org["userId"]

    def call(route, method, path, body=None, client=None):
        try:
            status, data = (client or c).call(method, path, body)
        except requests.RequestException as e:
            status, data = 0, repr(e)
        counters.record(route, status, data)
        return data if status == 200 else None

    policy = {"statements": [{"effect": "ALLOW", "actions": ["setup:describeAccount"], "resources": ["*"]}]}
    i = 0
    while not stop.is_set():
        i += 1
        tag = f"{n}-{i}"
        call("GET /setup/account", "GET", "/setup/account")
        call("GET /setup/user", "GET", "/setup/user")
        call("GET /setup/access/policy", "GET", "/setup/access/policy")
        now = int(time.time() * 1000)
        call("GET /audit/events", "GET", f"/audit/events?fromDate={now - 60_000}&toDate={now}&limit=20")
        call("POST /setup/access/explain", "POST", "/setup/access/explain",
             {"userId": me, "action": "setup:updateAccount"})
        d = call("POST /setup/account", "POST", "/setup/account", {"account": {"name": f"soak {tag}"}})
        if d:
            a = d["response"]["items"][0]["accountId"]
            call("PUT /setup/account/{id}", "PUT", f"/setup/account/{a}", {"account": {"name": f"soak {tag} renamed"}})
            call("GET /setup/account/{id}", "GET", f"/setup/account/{a}")
            call("DELETE /setup/account/{id}", "DELETE", f"/setup/account/{a}")
        # A person with a personal token: the token is used, then revoked with the person.
        d = call("POST /setup/user", "POST", "/setup/user?generateToken=true",
                 {"firstName": "Soak", "lastName": f"C{n}", "email": f"soak-{tag}-{uuid.uuid4().hex[:6]}@example.com",
                  "role": "editor"})
        if d:
            item = d["response"]["items"][0]
            call("GET /setup/account (new token)", "GET", "/setup/account",
                 client=Client(base, item["personalAccessToken"]))
            call("DELETE /setup/user/{id}", "DELETE", f"/setup/user/{item['userId']}")
        d = call("POST /setup/access/policy", "POST", "/setup/access/policy",
                 {"policy": {"name": f"soak {tag}", "type": "ORGANIZATION", "policyContent": policy}})
        if d:
            call("DELETE /setup/access/policy/{id}", "DELETE", f"/setup/access/policy/{d['response']['items'][0]['id']}")


def main():
    db = Database(BACKEND, f"soak_{BACKEND}")
    orgs = [db.create_org(f"Soak {n}", f"soak-{n}@example.com") for n in range(CLIENTS)]
    # The API rate limit stays on (its counters are part of what must not grow), high enough
    # not to refuse the clients.
    server = Server(db, PORT, env={"ORGPLANE_RATE_LIMIT_PER_MINUTE": "1000000"})
    server.start()
    counters, stop = Counters(), threading.Event()
    threads = [threading.Thread(target=client_loop, args=(n, server.base, orgs[n], counters, stop)) for n in range(CLIENTS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    samples = []  # (seconds, rss KiB, requests so far)
    try:
        while time.monotonic() - started < SECONDS:
            time.sleep(SAMPLE_EVERY)
            if server.proc.poll() is not None:
                fail(f"the server exited with {server.proc.returncode}")
            elapsed = time.monotonic() - started
            with counters.lock:
                done, errors = counters.ok, len(counters.errors)
            samples.append((elapsed, server.rss_kib(), done))
            if int(elapsed) % 60 < SAMPLE_EVERY:
                log(f"{elapsed:5.0f}s: {done} ok, {errors} errors, RSS {samples[-1][1] / 1024:.1f} MiB")
            if errors:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    elapsed = time.monotonic() - started
    code = server.stop()
    if counters.errors:
        fail(f"{len(counters.errors)} errors, first: {counters.errors[:3]}")
    if code != 0:
        fail(f"exit code {code} after SIGTERM")
    if server.panicked():
        fail("the server log records panics")
    base = next((s for s in samples if s[0] >= WARMUP), samples[-1])
    after = [s for s in samples if s[0] >= WARMUP]
    peak = max(s[1] for s in after)
    last = samples[-1][1]
    growth = (peak - base[1]) / base[1] * 100
    routes = ", ".join(f"{k} {v}" for k, v in sorted(counters.by_route.items()))
    summary = (f"{BACKEND}, {elapsed:.0f}s, {CLIENTS} clients: {counters.ok} requests, 0 errors, "
               f"{counters.ok / elapsed:.0f} requests/s; RSS after {WARMUP}s warm-up {base[1] / 1024:.1f} MiB, "
               f"peak {peak / 1024:.1f} MiB (+{growth:.1f} %), at the end {last / 1024:.1f} MiB; "
               f"{len(samples)} samples every {SAMPLE_EVERY}s")
    log("per route:", routes)
    if growth > 10:
        log("RSS samples (s, KiB):", [(round(s[0]), s[1]) for s in samples])
        fail(f"RSS grew {growth:.1f} % after the warm-up: {summary}")
    print("RESULT soak " + summary, flush=True)
    db.drop()


if __name__ == "__main__":
    main()
