"""The `orgplane` binary itself: migrations, the bootstrap command, and configuration from a TOML
file, environment and flags."""
import json
import os
import socket
import subprocess
import tempfile
import time

import requests

from conftest import BIN, PG_URL, _psql, _with_database, _free_port


def run(*args, env=None, cwd=None):
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=60, cwd=cwd)


def test_migrate_is_idempotent_on_both_backends():
    with tempfile.TemporaryDirectory() as d:
        for _ in range(2):
            out = run("--data-dir", d, "migrate")
            assert out.returncode == 0, out.stderr
            assert "migrations applied (Sqlite)" in out.stdout
        assert os.path.exists(os.path.join(d, "orgplane.db"))
    if PG_URL:
        name = "orgplane_cli_" + os.urandom(6).hex()
        _psql(PG_URL, f"CREATE DATABASE {name}")
        try:
            for _ in range(2):
                out = run("--database-url", _with_database(PG_URL, name), "migrate")
                assert out.returncode == 0, out.stderr
                assert "migrations applied (Postgres)" in out.stdout
        finally:
            _psql(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_create_org_validates_and_prints_the_token_once():
    with tempfile.TemporaryDirectory() as d:
        bad = run("--data-dir", d, "admin", "create-org", "--name", "Acme", "--email", "not-an-email")
        assert bad.returncode != 0 and "email" in bad.stderr
        ok = run("--data-dir", d, "admin", "create-org", "--name", "Acme", "--email", "ops@example.com")
        assert ok.returncode == 0, ok.stderr
        assert "personal token (shown once" in ok.stdout and "opp_" in ok.stdout
        # The same person can found a second organization: one identity, two memberships.
        again = json.loads(run("--data-dir", d, "admin", "create-org", "--name", "Acme Two", "--email", "OPS@example.com", "--json").stdout)
        assert again["token"].startswith("opp_")


def test_configuration_from_file_environment_and_flags():
    with tempfile.TemporaryDirectory() as d:
        port = _free_port()
        config = os.path.join(d, "orgplane.toml")
        with open(config, "w") as f:
            f.write(f'listen = "127.0.0.1:1"\ndata_dir = "{d}/data"\nsignup = "closed"\n')
        # The environment overrides the file; a flag would override both.
        proc = subprocess.Popen([BIN, "--config", config, "serve"], env=dict(os.environ, ORGPLANE_LISTEN=f"127.0.0.1:{port}"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except requests.ConnectionError:
                    assert proc.poll() is None and time.time() < deadline, "server did not start"
                    time.sleep(0.05)
            res = requests.post(f"http://127.0.0.1:{port}/auth/register", json={
                "user": {"firstName": "A", "lastName": "B", "email": "a@example.com", "password": "Sup3r$ecret"},
                "organization": {"name": "Closed"}})
            assert res.status_code == 403 and res.json()["response"]["errors"][0]["code"] == "SIGNUP_CLOSED"
            assert os.path.exists(os.path.join(d, "data", "orgplane.db")), "data_dir came from the file"
        finally:
            proc.terminate()
            assert proc.wait(timeout=15) == 0
        with open(config, "a") as f:
            f.write('no_such_setting = 1\n')
        bad = run("--config", config, "migrate")
        assert bad.returncode != 0 and "no_such_setting" in bad.stderr


def test_outbox_commands():
    with tempfile.TemporaryDirectory() as d:
        listed = run("--data-dir", d, "outbox", "list", "--status", "dead")
        assert listed.returncode == 0 and listed.stdout == "", listed.stderr
        bad = run("--data-dir", d, "outbox", "list", "--status", "lost")
        assert bad.returncode != 0


def test_audit_verify_reports_the_first_broken_link():
    import sqlite3
    with tempfile.TemporaryDirectory() as d:
        for name in ("Audited One", "Audited Two"):
            out = run("--data-dir", d, "admin", "create-org", "--name", name, "--email", "auditor@example.com", "--json")
            assert out.returncode == 0, out.stderr
        ok = run("--data-dir", d, "audit", "verify")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.count("chain intact") == 2, ok.stdout
        db = sqlite3.connect(os.path.join(d, "orgplane.db"))
        source, action = db.execute("SELECT source, action FROM audit_events ORDER BY created_at LIMIT 1").fetchone()
        assert (source, action) == ("cli", "setup:createOrganization")
        db.execute("UPDATE audit_events SET user_email = 'someone-else@example.com' WHERE seq = 1 AND organization_id = "
                   "(SELECT MIN(organization_id) FROM audit_events)")
        db.commit()
        db.close()
        broken = run("--data-dir", d, "audit", "verify")
        assert broken.returncode != 0
        assert "BROKEN" in broken.stdout and "event #1" in broken.stdout and "altered" in broken.stdout, broken.stdout
        assert broken.stdout.count("chain intact") == 1


def test_operator_sets_the_plan():
    with tempfile.TemporaryDirectory() as d:
        org = json.loads(run("--data-dir", d, "admin", "create-org", "--name", "Big Co", "--email", "big@example.com", "--json").stdout)
        bad = run("--data-dir", d, "admin", "set-plan", "--org", org["organizationId"], "--plan", "platinum")
        assert bad.returncode != 0
        unknown = run("--data-dir", d, "admin", "set-plan", "--org", "606000000000", "--plan", "enterprise")
        assert unknown.returncode != 0 and "organization" in unknown.stderr.lower()
        ok = run("--data-dir", d, "admin", "set-plan", "--org", org["organizationId"], "--plan", "enterprise")
        assert ok.returncode == 0, ok.stderr
        import sqlite3
        db = sqlite3.connect(os.path.join(d, "orgplane.db"))
        assert db.execute("SELECT plan FROM organizations WHERE id = ?", (int(org["organizationId"]),)).fetchone() == ("enterprise",)
        assert db.execute("SELECT source FROM audit_events WHERE action = 'billing:setPlan'").fetchone() == ("cli",)
        db.close()


def test_usage_import_streams_batches_once(server):
    account = server.org["accountId"]
    env = {"ORGPLANE_TOKEN": server.token}
    with tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "usage.csv")
        with open(good, "w") as f:
            f.write("accountId,date,product,vcpuHours,onDemandCostCents,actualCostCents\n")
            for i in range(2500):
                f.write(f"{account},2026-10-{1 + i % 28:02d},{'ocean' if i % 2 else 'elastigroup'},{i % 7}.25,{i * 3},{i}\n")
        first = run("usage", "import", good, "--url", server.base_url, "--batch-size", "1000", env=env)
        assert first.returncode == 0, first.stderr
        assert "imported 2500 of 2500 records in 3 batches (0 already imported)" in first.stdout, first.stdout
        again = run("usage", "import", good, "--url", server.base_url, env=env)
        assert "imported 0 of 2500 records" in again.stdout and "(2500 already imported)" in again.stdout, again.stdout

        broken = os.path.join(d, "broken.csv")
        with open(broken, "w") as f:
            f.write("accountId,date,product,vcpuHours,onDemandCostCents,actualCostCents\n")
            f.write(f"{account},2026-10-01,ocean,1,100,50\n")
            f.write(f"{account},2026-10-02,ocean,lots,100,50\n")
            f.write(f"{account},2026-10-03,ocean,1,100\n")
        out = run("usage", "import", broken, "--url", server.base_url, env=env)
        assert out.returncode != 0
        assert "line 3: vcpuHours" in out.stderr and "line 4: expected 6 fields" in out.stderr, out.stderr
        assert "nothing was imported" in out.stderr

        stranger = os.path.join(d, "stranger.csv")
        with open(stranger, "w") as f:
            f.write("accountId,date,product,vcpuHours,onDemandCostCents,actualCostCents\n")
            f.write(f"{account},2026-10-01,ocean,1,100,50\n")
            f.write("act-00000000,2026-10-01,ocean,1,100,50\n")
        out = run("usage", "import", stranger, "--url", server.base_url, env=env)
        assert out.returncode != 0 and "line 3:" in out.stderr and "Account_DOESNT_EXIST" in out.stderr, out.stderr


def test_report_billing_downloads_the_bill(server):
    account, org_id = server.org["accountId"], server.org["organizationId"]
    records = [
        {"accountId": account, "date": f"2026-08-0{day}", "product": product, "vcpuHours": 2.5,
         "onDemandCostCents": 1000, "actualCostCents": 400}
        for day, product in [(1, "ocean"), (2, "ocean"), (3, "elastigroup")]
    ]
    res = server.api("POST", "/billing/usage", json={"batchKey": "report-billing-cli", "records": records})
    assert res.status_code == 200, res.text
    env = {"ORGPLANE_TOKEN": server.token}
    common = ["--month", "2026-08", "--url", server.base_url]
    with tempfile.TemporaryDirectory() as d:
        # PDF, to the default file name in the current directory.
        out = run("report", "billing", *common, "--format", "pdf", env=env, cwd=d)
        assert out.returncode == 0, out.stderr
        pdf = os.path.join(d, "bill-2026-08.pdf")
        with open(pdf, "rb") as f:
            data = f.read()
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
        assert out.stdout.strip() == f"wrote bill-2026-08.pdf ({len(data)} bytes)", out.stdout

        # CSV, to a named file: integer cents, the organization on each line, the total last.
        csv_path = os.path.join(d, "august.csv")
        out = run("report", "billing", *common, "--format", "csv", "--output", csv_path, env=env)
        assert out.returncode == 0, out.stderr
        with open(csv_path, newline="") as f:
            text = f.read()
        # 20 % (the trial's default price) of the savings.
        assert text.split("\r\n") == [
            "month,organizationId,accountId,product,vcpuHours,onDemandCostCents,actualCostCents,savingsCents,feeCents",
            f"2026-08,{org_id},{account},elastigroup,2.500,1000,400,600,120",
            f"2026-08,{org_id},{account},ocean,5.000,2000,800,1200,240",
            "2026-08,,TOTAL,,,,,1800,360",
            "",
        ], text

        # JSON: the API's envelope, as served.
        json_path = os.path.join(d, "bill.json")
        out = run("report", "billing", *common, "--format", "json", "-o", json_path, env=env)
        assert out.returncode == 0, out.stderr
        with open(json_path) as f:
            bill = json.load(f)["response"]["items"][0]
        assert (bill["month"], bill["totalSavingsCents"], bill["totalFeeCents"]) == ("2026-08", 1800, 360)
        assert bill["sections"] == [{"organizationId": int(org_id), "organizationName": "SDK Org",
                                     "totalSavingsCents": 1800, "totalFeeCents": 360}]

        # Refusals: the server's message, a non-zero exit, and no file left behind.
        for month in ["2026-13", "2999-01"]:
            out = run("report", "billing", "--month", month, "--url", server.base_url, env=env, cwd=d)
            assert out.returncode != 0
            assert "must be a month that has begun" in out.stderr and "query.month" in out.stderr, out.stderr
            assert not [n for n in os.listdir(d) if month in n], os.listdir(d)
        out = run("report", "billing", *common, env={"ORGPLANE_TOKEN": "not-a-token"}, cwd=d)
        assert out.returncode != 0 and "token" in out.stderr, out.stderr
        assert run("report", "billing", *common, "--format", "xls", env=env, cwd=d).returncode != 0
        assert sorted(os.listdir(d)) == ["august.csv", "bill-2026-08.pdf", "bill.json"]


def test_operator_sets_prices():
    import sqlite3
    with tempfile.TemporaryDirectory() as d:
        assert run("--data-dir", d, "migrate").returncode == 0
        ok = run("--data-dir", d, "admin", "set-price", "--plan", "payg", "--product", "ocean", "--savings-percent", "12.5")
        assert ok.returncode == 0, ok.stderr
        ok = run("--data-dir", d, "admin", "set-price", "--plan", "payg", "--product", "eco", "--vcpu-hour-cents", "1.5")
        assert ok.returncode == 0, ok.stderr
        assert run("--data-dir", d, "admin", "set-price", "--plan", "payg", "--product", "eco", "--savings-percent", "101").returncode != 0
        assert run("--data-dir", d, "admin", "set-price", "--plan", "payg", "--product", "eco").returncode != 0
        db = sqlite3.connect(os.path.join(d, "orgplane.db"))
        rows = db.execute("SELECT product, model, rate FROM pricing ORDER BY product").fetchall()
        db.close()
        assert rows == [("eco", "vcpu", 1500), ("ocean", "savings", 1250)]


def test_usage_seed_fills_a_month():
    import sqlite3
    with tempfile.TemporaryDirectory() as d:
        org = json.loads(run("--data-dir", d, "admin", "create-org", "--name", "Seeded", "--email", "seed@example.com", "--json").stdout)
        out = run("--data-dir", d, "usage", "seed", "--org", org["organizationId"], "--month", "2026-10", "--records", "1234")
        assert out.returncode == 0, out.stderr
        assert "seeded 1234 usage records in 2026-10" in out.stdout
        assert run("--data-dir", d, "usage", "seed", "--org", org["organizationId"], "--month", "2999-01", "--records", "1").returncode != 0
        db = sqlite3.connect(os.path.join(d, "orgplane.db"))
        count, products, days = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT product), COUNT(DISTINCT day) FROM usage_records").fetchone()
        db.close()
        assert (count, products, days) == (1234, 5, 28)
