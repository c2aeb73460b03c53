"""Crash safety: writers create accounts and users, and exchange a programmatic user's token for
temporary ones (token writes are batched by the server), as fast as they can while the server is killed
with SIGKILL at random moments. After each restart every write that was acknowledged with 200
must be there, and the invariants must hold:

- every acknowledged account and user is present (by id), with its name/email;
- every account and user in the database has its audit event, and every successful
  create event has its row (a change and its record commit together, or neither);
- every acknowledged temporary token still authenticates, and the temporary tokens stored
  number exactly the successful exchanges recorded (a batch commits whole, events included);
- each audit hash chain verifies (`orgplane audit verify`);
- the organization has exactly one default account and at least one admin;
- no email appears twice; the admin's token still works;
- SQLite only: `PRAGMA integrity_check` is ok.

Usage: python stress/crash.py sqlite|postgres [ROUNDS] [WRITERS]   (loopback only; bounded by
ROUNDS and by a deadline of 20 minutes)
"""
import random
import sys
import threading
import time
import uuid

import requests

from common import Client, Database, Server, fail, log

BACKEND = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 20
WRITERS = int(sys.argv[3]) if len(sys.argv) > 3 else 4
PORT = 18620 if BACKEND == "sqlite" else 18621
DEADLINE = time.monotonic() + 20 * 60


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.accounts = {}  # id -> name, acknowledged with 200
        self.users = {}  # id -> email, acknowledged with 200
        self.grants = 0  # token exchanges acknowledged with 200
        self.unchecked = []  # temporary tokens acknowledged since the last restart, tried once each
        self.cut = 0  # requests that got no answer (the server died under them)
        self.refused = []  # non-200 answers (none expected)
        self.requests = 0


EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def writer(n, server, token, bot_token, ledger, up, stop):
    client = Client(server.base, token, timeout=30)
    i = 0
    while not stop.is_set():
        up.wait()
        if stop.is_set():
            return
        i += 1
        tag = f"{n}-{i}-{uuid.uuid4().hex[:8]}"
        if i % 3 == 1:
            kind, path, body = "account", "/setup/account", {"account": {"name": f"crash {tag}"}}
        elif i % 3 == 0:
            kind, path, body = "grant", "/oauth/token", {"grant_type": EXCHANGE, "subject_token": bot_token}
        else:
            kind, path = "user", "/setup/user"
            body = {"firstName": "Crash", "lastName": f"W{n}", "email": f"crash-{tag}@example.com",
                    "role": random.choice(["viewer", "editor", "admin"])}
        try:
            status, data = client.call("POST", path, body)
        except requests.RequestException:
            with ledger.lock:
                ledger.cut += 1
                ledger.requests += 1
            time.sleep(0.05)
            continue
        with ledger.lock:
            ledger.requests += 1
            if status != 200:
                ledger.refused.append((status, data))
                continue
            item = data["response"]["items"][0]
            if kind == "account":
                ledger.accounts[item["accountId"]] = body["account"]["name"]
            elif kind == "grant":
                ledger.grants += 1
                ledger.unchecked.append(item["accessToken"])
            else:
                ledger.users[item["userId"]] = body["email"]


def verify(db, server, org, token, bot, ledger):
    """Checks every invariant; returns the number of committed-but-unacknowledged rows."""
    client = Client(server.base, token)
    accounts = {a["accountId"]: a for a in client.items("/setup/account")}
    users = {u["userId"]: u for u in client.items("/setup/user")}
    with ledger.lock:
        acked_accounts, acked_users = dict(ledger.accounts), dict(ledger.users)
    lost = [a for a in acked_accounts if a not in accounts] + [u for u in acked_users if u not in users]
    if lost:
        fail(f"{len(lost)} acknowledged writes are missing after the restart: {lost[:5]}")
    for a, name in acked_accounts.items():
        if accounts[a]["name"] != name:
            fail(f"account {a} has name {accounts[a]['name']!r}, acknowledged {name!r}")
    for u, email in acked_users.items():
        if users[u]["email"] != email:
            fail(f"user {u} has email {users[u]['email']!r}, acknowledged {email!r}")
    defaults = [a for a in accounts.values() if a["isDefault"]]
    if len(defaults) != 1:
        fail(f"{len(defaults)} default accounts")
    emails = [u["email"] for u in users.values() if u["email"]]
    if len(emails) != len(set(e.lower() for e in emails)):
        fail("an email appears twice")
    org_id = org["organizationId"]
    admins = db.sql(f"SELECT COUNT(*) FROM memberships WHERE organization_id = {org_id} AND role = 'admin'")
    if int(admins[0][0]) < 1:
        fail("no admin left")
    # A change and its audit record commit together: no row without its event, no successful
    # create event without its row.
    for table, action in (("accounts", "setup:createAccount"), ("memberships", "setup:createUser")):
        key = "id" if table == "accounts" else "user_id"
        # Not counted: the admin (created by the CLI) and the programmatic user (its own action).
        extra = "AND t.is_default = 0" if table == "accounts" else f"AND t.user_id NOT IN ('{org['userId']}', '{bot}')"
        orphans = db.sql(
            f"SELECT COUNT(*) FROM {table} t WHERE t.organization_id = {org_id} {extra} AND NOT EXISTS "
            f"(SELECT 1 FROM audit_events e WHERE e.organization_id = t.organization_id "
            f"AND e.action = '{action}' AND e.resource_id = t.{key} AND e.response_status = 200)"
        )
        if int(orphans[0][0]) != 0:
            fail(f"{orphans[0][0]} {table} rows without their audit event")
        ghosts = db.sql(
            f"SELECT COUNT(*) FROM audit_events e WHERE e.organization_id = {org_id} AND e.action = '{action}' "
            f"AND e.response_status = 200 AND NOT EXISTS (SELECT 1 FROM {table} t "
            f"WHERE t.organization_id = e.organization_id AND t.{key} = e.resource_id)"
        )
        if int(ghosts[0][0]) != 0:
            fail(f"{ghosts[0][0]} successful {action} events whose row is missing")
    # Token exchanges: each acknowledged temporary token works, and every stored one came with
    # its sign-in event.
    with ledger.lock:
        grants, unchecked, ledger.unchecked = ledger.grants, ledger.unchecked, []
    for temporary in unchecked:
        status, data = Client(server.base, temporary).call("GET", "/setup/account")
        if status != 200:
            fail(f"an acknowledged temporary token is refused after the restart: {status} {data}")
    stored = int(db.sql(f"SELECT COUNT(*) FROM tokens WHERE organization_id = {org_id} AND kind = 'temporary' "
                        f"AND user_id = '{bot}'")[0][0])
    recorded = int(db.sql(f"SELECT COUNT(*) FROM audit_events WHERE organization_id = {org_id} "
                          f"AND action = 'auth:signIn' AND response_status = 200 AND user_id = '{bot}'")[0][0])
    if stored < grants:
        fail(f"{grants - stored} acknowledged token exchanges are missing after the restart")
    if stored != recorded:
        fail(f"{stored} temporary tokens stored but {recorded} successful exchanges recorded")
    created = len(accounts) - 1 + len([u for u in users if u not in (org["userId"], bot)]) + stored
    return created - len(acked_accounts) - len(acked_users) - grants


def main():
    random.seed()
    db = Database(BACKEND, f"crash_{BACKEND}")
    org = db.create_org("Crash Org", "crash-admin@example.com")
    token = org["token"]
    # No rate limit: the writers go as fast as the server lets them.
    server = Server(db, PORT, env={"ORGPLANE_RATE_LIMIT_PER_MINUTE": "0"})
    server.start()
    # A programmatic user whose token the writers exchange (the hot write: batched by the server).
    admin = Client(server.base, token)
    account = admin.items("/setup/account")[0]["accountId"]
    status, data = admin.call("POST", "/setup/user/programmatic",
                              {"name": "crash-bot", "accounts": [{"id": account, "role": "viewer"}]})
    if status != 200:
        fail(f"programmatic user: {status} {data}")
    bot_token = data["response"]["items"][0]["token"]
    bot = db.sql(f"SELECT user_id FROM tokens WHERE organization_id = {org['organizationId']} "
                 f"AND kind = 'programmatic'")[0][0]
    ledger = Ledger()
    up, stop = threading.Event(), threading.Event()
    up.set()
    threads = [threading.Thread(target=writer, args=(n, server, token, bot_token, ledger, up, stop), daemon=True)
               for n in range(WRITERS)]
    for t in threads:
        t.start()
    restarts, in_flight_committed, run_started = [], 0, time.monotonic()
    rounds_done = 0
    try:
        for r in range(1, ROUNDS + 1):
            if time.monotonic() > DEADLINE:
                fail(f"deadline reached after {rounds_done} rounds")
            time.sleep(random.uniform(0.3, 2.5))
            server.kill()
            up.clear()
            time.sleep(0.3)  # the writers' in-flight requests fail now
            if BACKEND == "sqlite":
                check = db.sql("PRAGMA integrity_check")
                if check != [["ok"]]:
                    fail(f"integrity_check: {check}")
            code, out = db.cli("audit", "verify")
            if code != 0:
                fail(f"audit verify after the kill: {out}")
            restarts.append(server.start())
            extra = verify(db, server, org, token, bot, ledger)
            in_flight_committed = extra
            rounds_done = r
            with ledger.lock:
                log(f"round {r}/{ROUNDS}: acknowledged {len(ledger.accounts)} accounts + {len(ledger.users)} users "
                    f"+ {ledger.grants} token exchanges, "
                    f"{ledger.cut} cut requests, {extra} committed without an answer; restart {restarts[-1]:.2f}s")
                if ledger.refused:
                    fail(f"{len(ledger.refused)} writes refused: {ledger.refused[:3]}")
            up.set()
    finally:
        stop.set()
        up.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - run_started
    server.stop()
    verify_code, out = db.cli("audit", "verify")
    if verify_code != 0:
        fail(f"audit verify at the end: {out}")
    panics = server.panicked()
    if panics:
        fail(f"the server log records panics: {panics[:3]}")
    acked = len(ledger.accounts) + len(ledger.users) + ledger.grants
    print(
        f"RESULT crash {BACKEND}: {rounds_done} SIGKILLs, {acked} acknowledged writes "
        f"({len(ledger.accounts)} accounts, {len(ledger.users)} users, {ledger.grants} token exchanges), 0 lost, "
        f"{ledger.cut} requests cut by a kill ({in_flight_committed} of them committed before the kill), "
        f"{ledger.requests / elapsed:.0f} requests/s overall, restart to ready "
        f"mean {sum(restarts) / len(restarts):.2f}s max {max(restarts):.2f}s; every invariant held",
        flush=True,
    )
    db.drop()


if __name__ == "__main__":
    main()
