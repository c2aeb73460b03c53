"""Two replicas on one PostgreSQL database, sharing nothing but the database (each its own data
directory; the master key from the environment), hammered by concurrent clients that split
their requests between the two:

1. same emails: one person added by 12 concurrent requests (mixed case), in one organization
   and in two organizations at once: one identity, one membership per organization;
2. last-admin removals: two admins remove each other through different replicas at once: one
   removal succeeds, the organization never has zero admins;
3. default-account deletes: the default account and the others deleted from both replicas at
   once: the default stays, every other account is deleted exactly once;
4. token revocations: a token in use on both replicas is revoked through one; no request
   started after the revocation was acknowledged succeeds, on either replica;
5. SAML: an IdP-initiated assertion posted to both replicas at once signs in exactly once (the
   replay cache is shared); an SP-initiated login started on one finishes on the other;
6. rate limits: both replicas restarted with a limit of RATE per minute; a burst through both
   is answered with exactly RATE successes in total, and the rest 429 with Retry-After.

Usage: python stress/replicas.py [ROUNDS]   (PostgreSQL at ORGPLANE_STRESS_POSTGRES_URL's
server; loopback only; every scenario bounded by ROUNDS and by a deadline of 15 minutes)
"""
import os
import secrets
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import requests

from common import Client, Database, Server, error_code, fail, log

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
RATE = 60
DEADLINE = time.monotonic() + 15 * 60
os.environ["ORGPLANE_MASTER_KEY"] = secrets.token_hex(32)


def check_deadline():
    if time.monotonic() > DEADLINE:
        fail("deadline reached")


def at_once(calls):
    """Runs the calls concurrently, released together by a barrier; returns their results."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def no_server_errors(results, what):
    bad = [(s, d) for s, d in results if s >= 500]
    if bad:
        fail(f"{what}: {len(bad)} server errors: {bad[:2]}")


class Replicas:
    def __init__(self, db, rate):
        self.db = db
        env = {"ORGPLANE_RATE_LIMIT_PER_MINUTE": str(rate)}
        self.servers = [
            Server(db, 18630, env=env, tag="replica-a", data_dir=os.path.join(db.dir, "a")),
            Server(db, 18631, env=env, tag="replica-b", data_dir=os.path.join(db.dir, "b")),
        ]
        for s in self.servers:
            s.start()

    @property
    def bases(self):
        return [s.base for s in self.servers]

    def stop(self):
        for s in self.servers:
            code = s.stop()
            if code != 0:
                fail(f"{s.log_path}: exit code {code} after SIGTERM")
            if s.panicked():
                fail(f"{s.log_path} records panics")


def same_emails(db, reps):
    x, y = db.create_org("Emails X", "emails-x@example.com"), db.create_org("Emails Y", "emails-y@example.com")
    cx, cy = Client(reps.bases[0], x["token"]), Client(reps.bases[0], y["token"])
    statuses = {}
    for r in range(ROUNDS):
        check_deadline()
        email = f"same-{r}-{secrets.token_hex(3)}@example.com"
        spellings = [email, email.upper(), email.capitalize()]
        calls = []
        for i in range(12):
            client, base = (cx, reps.bases[i % 2]) if r % 2 == 0 or i < 6 else (cy, reps.bases[i % 2])
            body = {"firstName": "Same", "lastName": "Email", "email": spellings[i % 3]}
            calls.append(lambda c=client, b=base, body=body: c.call("POST", "/setup/user", body, base=b))
        results = at_once(calls)
        no_server_errors(results, "same emails")
        for s, d in results:
            key = f"{s} {error_code(d) or ''}".strip()
            statuses[key] = statuses.get(key, 0) + 1
        rows = db.sql(f"SELECT id FROM users WHERE email_key = '{email.lower()}'")
        if len(rows) != 1:
            fail(f"{email}: {len(rows)} identities")
        # A membership in each organization that answered 200 at least once, and none elsewhere
        # (a loser of the race for the new identity is refused: EMAIL_ALREADY_EXISTS).
        targets = [str(x["organizationId"])] * 6 + [str((x if r % 2 == 0 else y)["organizationId"])] * 6
        orgs = sorted({targets[i] for i, (s, _) in enumerate(results) if s == 200})
        members = db.sql(f"SELECT organization_id FROM memberships WHERE user_id = '{rows[0][0]}'")
        if sorted(m[0] for m in members) != orgs:
            fail(f"{email}: memberships {members}, but 200 answered for {orgs}")
        if not any(s == 200 for s, _ in results):
            fail(f"{email}: no request succeeded: {results[:2]}")
    dupes = db.sql("SELECT email_key FROM users WHERE email_key IS NOT NULL GROUP BY email_key HAVING COUNT(*) > 1")
    if dupes:
        fail(f"duplicate identities: {dupes[:5]}")
    log(f"same emails: {ROUNDS} rounds x 12 concurrent adds; answers {statuses}; one identity and one membership "
        "per organization every time")


def last_admins(db, reps):
    outcomes = {}
    for r in range(ROUNDS):
        check_deadline()
        org = db.create_org(f"Admins {r}", f"admins-{r}-{secrets.token_hex(3)}@example.com")
        a = Client(reps.bases[0], org["token"])
        s, d = a.call("POST", "/setup/user?generateToken=true",
                      {"firstName": "Second", "lastName": "Admin", "email": f"second-{r}-{secrets.token_hex(3)}@example.com",
                       "role": "admin"})
        if s != 200:
            fail(f"creating the second admin: {s} {d}")
        b_id, b_token = d["response"]["items"][0]["userId"], d["response"]["items"][0]["personalAccessToken"]
        b = Client(reps.bases[1], b_token)
        results = at_once([
            lambda: a.call("DELETE", f"/setup/user/{b_id}", base=reps.bases[r % 2]),
            lambda: b.call("DELETE", f"/setup/user/{org['userId']}", base=reps.bases[(r + 1) % 2]),
        ])
        no_server_errors(results, "last admins")
        ok = sum(1 for s, _ in results if s == 200)
        key = " / ".join(sorted(f"{s} {error_code(d) or ''}".strip() for s, d in results))
        outcomes[key] = outcomes.get(key, 0) + 1
        admins = int(db.sql(f"SELECT COUNT(*) FROM memberships WHERE organization_id = {org['organizationId']} "
                            "AND role = 'admin'")[0][0])
        if admins < 1:
            fail(f"round {r}: zero admins left ({results})")
        if ok != 1:
            fail(f"round {r}: {ok} removals succeeded, expected exactly one: {results}")
    log(f"last admins: {ROUNDS} rounds of two admins removing each other through both replicas; outcomes {outcomes}; "
        "never zero admins")


def default_accounts(db, reps):
    org = db.create_org("Defaults", "defaults@example.com")
    c = Client(reps.bases[0], org["token"])
    default = [a for a in c.items("/setup/account") if a["isDefault"]][0]["accountId"]
    totals = {}
    for r in range(ROUNDS):
        check_deadline()
        others = []
        for i in range(4):
            s, d = c.call("POST", "/setup/account", {"account": {"name": f"round {r} account {i}"}})
            if s != 200:
                fail(f"creating an account: {s} {d}")
            others.append(d["response"]["items"][0]["accountId"])
        calls = [lambda b=b: c.call("DELETE", f"/setup/account/{default}", base=b) for b in reps.bases * 3]
        calls += [lambda a=a, b=b: c.call("DELETE", f"/setup/account/{a}", base=b) for a in others for b in reps.bases]
        results = at_once(calls)
        no_server_errors(results, "default accounts")
        for s, d in results:
            key = f"{s} {error_code(d) or ''}".strip()
            totals[key] = totals.get(key, 0) + 1
        if any(s == 200 for s, _ in results[:6]):
            fail("the default account was deleted")
        if sum(1 for s, _ in results[6:] if s == 200) != len(others):
            fail(f"each other account must be deleted exactly once: {results[6:]}")
        left = c.items("/setup/account", base=reps.bases[r % 2])
        if [a["accountId"] for a in left] != [default] or not left[0]["isDefault"]:
            fail(f"after round {r}: {left}")
    log(f"default accounts: {ROUNDS} rounds of 6 deletes of the default and 2 of each of 4 others, at once; "
        f"answers {totals}; the default stayed, each other account went exactly once")


def revocations(db, reps):
    org = db.create_org("Revocations", "revocations@example.com")
    admin = Client(reps.bases[0], org["token"])
    late_successes, served_before, probes_after = 0, 0, 0
    for r in range(ROUNDS):
        check_deadline()
        # A member with a personal token (the admin has no password, so it cannot mint one for
        # itself: PASSWORD_REQUIRED); the admin revokes it through the organization's token list.
        s, d = admin.call("POST", "/setup/user?generateToken=true",
                          {"firstName": "Revoked", "lastName": f"R{r}", "email": f"revoked-{r}@example.com",
                           "role": "viewer"})
        if s != 200:
            fail(f"creating a member with a token: {s} {d}")
        user_id, secret = d["response"]["items"][0]["userId"], d["response"]["items"][0]["personalAccessToken"]
        token_id = [t["tokenId"] for t in admin.items("/setup/organization/token") if t["userId"] == user_id][0]
        stop = threading.Event()
        revoked_at = [None]
        records = []
        lock = threading.Lock()

        def hammer(base):
            client = Client(base, secret)
            while not stop.is_set():
                started = time.monotonic()
                status, _ = client.call("GET", "/setup/account")
                with lock:
                    records.append((base, started, status))

        threads = [threading.Thread(target=hammer, args=(b,)) for b in reps.bases * 2]
        for t in threads:
            t.start()
        time.sleep(0.4)
        s, d = admin.call("DELETE", f"/setup/organization/token/{token_id}", base=reps.bases[r % 2])
        revoked_at[0] = time.monotonic()
        if s != 200:
            fail(f"revoking: {s} {d}")
        time.sleep(0.4)
        stop.set()
        for t in threads:
            t.join()
        before = [x for x in records if x[1] < revoked_at[0]]
        after = [x for x in records if x[1] >= revoked_at[0]]
        for base in reps.bases:
            if not any(b == base and st == 200 for b, _, st in before):
                fail(f"round {r}: the token never worked on {base} before the revocation")
        late = [x for x in after if x[2] == 200]
        bad = [x for x in records if x[2] not in (200, 401)]
        if bad:
            fail(f"round {r}: unexpected answers {bad[:3]}")
        late_successes += len(late)
        served_before += len(before)
        probes_after += len(after)
        if late:
            other = reps.bases[(r + 1) % 2]
            fail(f"round {r}: {len(late)} requests started after the revocation was acknowledged still succeeded "
                 f"({sum(1 for b, _, _ in late if b == other)} on the other replica)")
    log(f"revocations: {ROUNDS} tokens revoked while in use on both replicas; {served_before} requests served before, "
        f"{probes_after} started after the acknowledgement, {late_successes} of those succeeded")


def saml(db, reps):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "sdk"))
    from saml2 import BINDING_HTTP_REDIRECT
    from saml2.metadata import create_metadata_string
    from test_saml_idp import _idp, _response

    org = db.create_org("Saml", "saml-admin@example.com")
    org_id = str(org["organizationId"])
    admin = Client(reps.bases[0], org["token"])
    sp_metadata = requests.get(f"{reps.bases[0]}/saml/{org_id}/metadata", timeout=10).text
    outcomes = {}
    with tempfile.TemporaryDirectory() as directory:
        idp = _idp(sp_metadata, directory)
        metadata = create_metadata_string(None, config=idp.config).decode()
        s, d = admin.call("PUT", f"/setup/organization/{org_id}/sso",
                          {"metadata": metadata, "enforce": False, "allowIdpInitiated": True})
        if s != 200:
            fail(f"configuring SSO: {s} {d}")
        sso = admin.items(f"/setup/organization/{org_id}/sso")[0]
        sp_entity, acs = sso["spEntityId"], sso["acsUrl"]

        def post(base, response):
            res = requests.post(f"{base}/saml/{org_id}/acs", data={"SAMLResponse": response, "RelayState": org_id},
                                timeout=30)
            return res.status_code, res.json()

        rounds = max(3, ROUNDS // 4)
        for r in range(rounds):
            check_deadline()
            response = _response(idp, sp_entity, acs, None)
            results = at_once([lambda b=b: post(b, response) for b in reps.bases * 4])
            no_server_errors(results, "saml replay")
            for s, d in results:
                key = f"{s} {error_code(d) or ''}".strip()
                outcomes[key] = outcomes.get(key, 0) + 1
            if sum(1 for s, _ in results if s == 200) != 1:
                fail(f"round {r}: one assertion signed in {sum(1 for s, _ in results if s == 200)} times: {results}")
        # SP-initiated across replicas: the AuthnRequest id is stored in the database.
        for start, finish in ((0, 1), (1, 0)):
            res = requests.get(f"{reps.bases[start]}/saml/{org_id}/login", allow_redirects=False, timeout=10)
            if res.status_code != 302:
                fail(f"SP-initiated login: {res.status_code} {res.text}")
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(res.headers["Location"]).query))
            request = idp.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
            s, d = post(reps.bases[finish], _response(idp, sp_entity, acs, request.message.id))
            if s != 200:
                fail(f"SP-initiated login started on one replica, finished on the other: {s} {d}")
    log(f"saml: {rounds} assertions each posted 8 times at once through both replicas: answers {outcomes}; "
        "SP-initiated logins cross replicas both ways")


def rate_limits(db, reps):
    org = db.create_org("Rate", "rate@example.com")
    # Keep the burst inside one minute window (the limit rolls over the previous one).
    while time.time() % 60 > 45:
        time.sleep(0.5)
    results = []
    lock = threading.Lock()

    def burst(base):
        client = Client(base, org["token"])
        for _ in range(RATE * 2 // 4):
            res = client.http.get(base + "/setup/account", timeout=30)
            with lock:
                results.append((base, res.status_code, res.headers.get("Retry-After"), res.json()))

    threads = [threading.Thread(target=burst, args=(b,)) for b in reps.bases * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r[1] == 200]
    limited = [r for r in results if r[1] == 429]
    if len(ok) + len(limited) != len(results):
        fail(f"unexpected answers: {[r[:2] for r in results if r[1] not in (200, 429)][:5]}")
    per_replica = {b: sum(1 for r in ok if r[0] == b) for b in reps.bases}
    if len(ok) != RATE:
        fail(f"{len(ok)} requests succeeded through two replicas with a limit of {RATE} ({per_replica})")
    if not all(r[2] and error_code(r[3]) == "RATE_LIMIT_EXCEEDED" for r in limited):
        fail("a 429 without Retry-After or RATE_LIMIT_EXCEEDED")
    log(f"rate limits: limit {RATE}/min, {len(results)} requests through both replicas: {len(ok)} served "
        f"({per_replica}), {len(limited)} refused with 429")


def main():
    db = Database("postgres", "replicas")
    started = time.monotonic()
    reps = Replicas(db, rate=100_000)
    same_emails(db, reps)
    last_admins(db, reps)
    default_accounts(db, reps)
    revocations(db, reps)
    saml(db, reps)
    reps.stop()
    reps = Replicas(db, rate=RATE)
    rate_limits(db, reps)
    reps.stop()
    print(f"RESULT replicas: every scenario held on two replicas over one PostgreSQL database "
          f"({ROUNDS} rounds, {time.monotonic() - started:.0f}s)", flush=True)
    db.drop()


if __name__ == "__main__":
    main()
