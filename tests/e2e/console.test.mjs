// The web console in a real browser: Debian's headless Chromium driven by playwright-core,
// against the built server (ORGPLANE_BIN) on SQLite and, when ORGPLANE_TEST_POSTGRES_URL is
// set, on PostgreSQL. It goes through the console as a new user would: sign up, add an
// account, add an organization and switch to it, create a user and attach them, create a
// token, enrol MFA and sign in again with a code, configure SSO with a pysaml2 IdP and sign
// in through it, view a bill with its charts and download its PDF, read the audit log. A
// viewer's view and CSRF refusals are checked on the way. A screenshot per step is saved
// under $E2E_SCREENSHOTS (default: target/e2e-screenshots in the checkout, a CI artifact).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, mkdirSync, rmSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.ORGPLANE_BIN || "/var/tmp/orgplane-target/debug/orgplane";
const PYTHON = process.env.ORGPLANE_PYTHON || "/var/tmp/orgplane-venv/bin/python";
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const PG_URL = process.env.ORGPLANE_TEST_POSTGRES_URL || "";
const SHOTS = process.env.E2E_SCREENSHOTS || join(HERE, "..", "..", "target", "e2e-screenshots");
const PASSWORD = "Sup3r$ecret-pass";

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitFor(url, proc, what) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {}
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not start`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) of a base32 secret at `time` (ms). */
function totp(secret, time = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(time / 30_000)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
}

async function startServer(backend) {
  const dir = mkdtempSync(join(tmpdir(), "orgplane-e2e-"));
  const port = await freePort();
  const args = ["--data-dir", dir];
  let database = null;
  if (backend === "postgres") {
    database = "orgplane_e2e_" + randomUUID().replaceAll("-", "");
    execFileSync("psql", [PG_URL, "-qAtc", `CREATE DATABASE ${database}`]);
    const url = new URL(PG_URL);
    url.pathname = "/" + database;
    args.push("--database-url", url.toString());
  }
  const base = `http://127.0.0.1:${port}`;
  const env = { ...process.env, ORGPLANE_LOG_LEVEL: "warn", ORGPLANE_PUBLIC_URL: base };
  const proc = spawn(BIN, [...args, "serve", "--listen", `127.0.0.1:${port}`], { env, stdio: ["ignore", "inherit", "inherit"] });
  await waitFor(`${base}/healthz`, proc, "orgplane");
  return {
    base,
    args,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      if (database) execFileSync("psql", [PG_URL, "-qAtc", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startIdp(email) {
  const port = await freePort();
  const proc = spawn(PYTHON, [join(HERE, "saml_idp_server.py"), String(port), email, "Vera", "Viewer"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    proc.stdout.on("data", (d) => d.toString().includes("ready") && resolve());
    proc.once("exit", (code) => reject(new Error(`the SAML IdP exited (${code})`)));
  });
  return { base: `http://127.0.0.1:${port}`, stop: () => proc.kill("SIGTERM") };
}

async function api(server, method, path, token, body) {
  const res = await fetch(server.base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

const backends = ["sqlite", ...(PG_URL ? ["postgres"] : [])];
// This run's screenshots only.
rmSync(SHOTS, { recursive: true, force: true });
if (process.env.CI && !PG_URL) throw new Error("ORGPLANE_TEST_POSTGRES_URL must be set under CI");

for (const backend of backends) {
  test(`the console, as a new user would use it (${backend})`, { timeout: 240_000 }, async (t) => {
    mkdirSync(SHOTS, { recursive: true });
    const server = await startServer(backend);
    // The console user created below signs in through the IdP later (SSO by email needs a
    // person whose organization has SSO).
    const ssoEmail = `vera.${backend}@example.com`;
    const idp = await startIdp(ssoEmail);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    let step = 0;
    const menu = (name) => page.getByRole("navigation", { name: "Console sections" }).getByRole("link", { name, exact: true });
    const shot = async (name) => {
      step += 1;
      await page.screenshot({ path: join(SHOTS, `${backend}-${String(step).padStart(2, "0")}-${name}.png`), fullPage: true });
    };
    const email = `founder.${backend}@example.com`;
    let token = null;
    let orgId = null;
    let recoveryCodes = [];
    try {
      await t.test("sign up lands on the welcome page offering a cloud connection", async () => {
        await page.goto(`${server.base}/console/signup`);
        // A bad password is explained beside its field, the rest of the form is kept.
        await page.getByLabel("First name").fill("Ada");
        await page.getByLabel("Last name").fill("Founder");
        await page.getByLabel("Company (your organization's name)").fill("Acme Robotics");
        await page.getByLabel("Work email").fill(email);
        await page.getByLabel("Password", { exact: true }).fill("short");
        await page.getByRole("button", { name: "Create organization" }).click();
        await page.locator("#e-password").waitFor();
        assert.equal(await page.getByLabel("Work email").inputValue(), email);
        await shot("signup-error-in-place");
        await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
        await page.getByRole("button", { name: "Create organization" }).click();
        await page.waitForURL("**/console/welcome");
        await page.getByRole("heading", { name: "Welcome to Acme Robotics" }).waitFor();
        await page.getByRole("link", { name: "Connect AWS" }).waitFor();
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === "orgplane_session");
        assert.ok(session.httpOnly, "the session cookie is HttpOnly");
        assert.equal(session.sameSite, "Lax");
        orgId = (await page.locator("dl.facts dd.mono").first().textContent()).trim();
        await shot("welcome");
      });

      await t.test("add an account from the account switcher, then the AWS wizard's first step", async () => {
        await page.locator("#account-switcher summary").click();
        await page.locator("#account-switcher").getByRole("link", { name: "+ Add Account" }).click();
        await page.getByLabel("Account name").fill("Production");
        await page.getByRole("button", { name: "Add Account" }).click();
        await page.waitForURL("**/console/cloud");
        await page.getByRole("heading", { name: "Connect Production to a cloud" }).waitFor();
        await page.getByRole("link", { name: "AWS", exact: true }).click();
        await page.getByRole("button", { name: "Generate external id" }).click();
        await page.locator("#external-id").waitFor();
        assert.match(await page.locator("#external-id").textContent(), /\S{8,}/);
        await shot("add-account-aws-wizard");
      });

      await t.test("add an organization, switch back to the first with the switcher's search", async () => {
        await page.locator("#org-switcher summary").click();
        await page.locator("#org-switcher").getByRole("link", { name: "+ Add Organization" }).click();
        await page.getByLabel("Organization name").fill("Acme Labs");
        await page.getByRole("button", { name: "Add Organization" }).click();
        await page.waitForURL("**/console/welcome");
        await page.getByRole("heading", { name: "Welcome to Acme Labs" }).waitFor();
        await page.locator("#org-switcher summary").click();
        await page.getByLabel("Search organizations").fill("robot");
        assert.equal(await page.locator("#org-switcher button.choice:visible").count(), 1);
        await shot("org-switcher-search");
        await page.locator("#org-switcher button.choice:visible").click();
        await page.getByRole("heading", { name: "Acme Robotics" }).waitFor();
        await shot("switched-back");
      });

      await t.test("create a console user and attach them to the account", async () => {
        await menu("Users").click();
        await page.getByRole("link", { name: "Create user" }).click();
        await page.getByLabel("First name").fill("Vera");
        await page.getByLabel("Last name").fill("Viewer");
        await page.getByLabel("Email", { exact: true }).fill(ssoEmail);
        await page.getByLabel(/^Password/).fill(PASSWORD);
        await page.getByRole("button", { name: "Create console user" }).click();
        await page.getByRole("heading", { name: /Vera/ }).waitFor();
        await page.getByRole("button", { name: /Attach to / }).click();
        await page.getByRole("status").filter({ hasText: "Attached to" }).waitFor();
        await shot("user-attached");
        await menu("Users").click();
        await page.getByLabel("Search users").fill("vera");
        await page.getByRole("link", { name: /Vera/ }).waitFor();
        assert.equal(await page.locator("#user-table tbody tr:visible").count(), 1);
        await shot("users-search");
      });

      await t.test("create an API token: the secret is shown once and works", async () => {
        await menu("API tokens").click();
        await page.getByLabel("Name").fill("ci");
        await page.getByRole("button", { name: "Create token" }).click();
        token = (await page.locator("#created-token").textContent()).trim();
        await shot("token-created");
        const res = await api(server, "GET", "/setup/account", token);
        assert.equal(res.status, 200);
        await page.reload();
        assert.equal(await page.locator("#created-token").count(), 0, "the secret is not shown again");
      });

      await t.test("unsafe requests need the CSRF token, and a session cookie is no API token", async () => {
        const refused = await page.evaluate(async () => {
          const res = await fetch("/console/tokens", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "name=forged" });
          return res.status;
        });
        assert.equal(refused, 403);
        const session = (await context.cookies()).find((c) => c.name === "orgplane_session").value;
        assert.equal((await api(server, "GET", "/setup/account", session)).status, 401);
      });

      await t.test("enrol MFA with the QR code's key, sign out, sign in again with a code", async () => {
        await menu("Security").click();
        await page.getByRole("button", { name: "Set up an authenticator app" }).click();
        await page.locator(".qr svg").waitFor();
        const secret = (await page.locator("#totp-secret").textContent()).trim();
        await shot("mfa-qr");
        await page.getByLabel("Code from the app").fill(totp(secret));
        await page.getByRole("button", { name: "Turn on" }).click();
        await page.locator("#recovery-codes li").first().waitFor();
        recoveryCodes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
        assert.equal(recoveryCodes.length, 10);
        await shot("mfa-recovery-codes");
        await page.locator("#user-menu summary").click();
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.waitForURL("**/console/signin");
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill(PASSWORD);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByLabel("Authentication code").waitFor();
        await shot("mfa-step");
        // The code used to confirm is spent: wait for the next 30-second step.
        const now = Date.now();
        await new Promise((r) => setTimeout(r, 30_000 - (now % 30_000) + 500));
        await page.getByLabel("Authentication code").fill(totp(secret));
        await page.getByRole("button", { name: "Verify" }).click();
        await page.getByRole("heading", { name: "Acme Robotics" }).waitFor();
        await shot("signed-in-with-mfa");
      });

      await t.test("configure SSO with the pysaml2 IdP and sign in through it", async () => {
        const idpMetadata = await (await fetch(`${idp.base}/metadata`)).text();
        await menu("Identity providers").click();
        const acs = (await page.locator("#sp-acs-url").textContent()).trim();
        assert.equal(acs, `${server.base}/saml/${orgId}/acs`);
        await page.getByLabel(/IdP metadata XML/).fill(idpMetadata);
        await page.getByRole("button", { name: "Save" }).click();
        await page.getByRole("status").filter({ hasText: "Single sign-on saved" }).waitFor();
        await page.locator("#idp-entity-id").waitFor();
        await shot("sso-configured");
        const spMetadata = await (await fetch(`${server.base}/saml/${orgId}/metadata`)).text();
        assert.equal((await fetch(`${idp.base}/sp`, { method: "POST", body: spMetadata })).status, 200);
        await page.locator("#user-menu summary").click();
        await page.getByRole("button", { name: "Sign out" }).click();
        await page.waitForURL("**/console/signin");
        await page.getByRole("link", { name: "Sign in with SSO" }).click();
        await page.getByLabel("Work email").fill(`someone.else.${backend}@example.com`);
        await page.getByRole("button", { name: "Continue" }).click();
        await page.locator("p.alert, #e-email").first().waitFor();
        await shot("sso-unknown-domain");
        await page.getByLabel("Work email").fill(ssoEmail);
        await page.getByRole("button", { name: "Continue" }).click();
        await page.waitForURL(`${server.base}/console/`);
        await page.getByRole("heading", { name: "Acme Robotics" }).waitFor();
        assert.equal((await page.locator("#user-menu summary").textContent()).trim(), ssoEmail);
        await shot("signed-in-with-sso");
        // A viewer: no Create buttons, and the API refuses the action anyway.
        await menu("Users").click();
        assert.equal(await page.getByRole("link", { name: "Create user" }).count(), 0);
        await page.goto(`${server.base}/console/users/new`);
        await page.getByLabel("First name").fill("Not");
        await page.getByLabel("Last name").fill("Allowed");
        await page.getByLabel("Email", { exact: true }).fill(`not.allowed.${backend}@example.com`);
        await page.getByRole("button", { name: "Create console user" }).click();
        await page.locator("p.alert").waitFor();
        await shot("viewer-refused");
        await page.locator("#user-menu summary").click();
        await page.getByRole("button", { name: "Sign out" }).click();
        // Let the sign-out's redirect finish: the next step's goto would otherwise interrupt it.
        await page.waitForURL("**/console/signin");
      });

      await t.test("sign in with a recovery code, view a bill with its charts and download its PDF", async () => {
        const accounts = (await api(server, "GET", "/setup/account", token)).json.response.items;
        const month = new Date().toISOString().slice(0, 7);
        const records = [];
        for (const a of accounts) {
          for (const [product, hours] of [["elastigroup", 120.5], ["ocean", 48]]) {
            records.push({ accountId: a.accountId, date: `${month}-01`, product, vcpuHours: hours, onDemandCostCents: 90000, actualCostCents: 30000 });
          }
        }
        const ingest = await api(server, "POST", "/billing/usage", token, { batchKey: `e2e-${backend}`, records });
        assert.equal(ingest.status, 200, JSON.stringify(ingest.json));
        await page.goto(`${server.base}/console/signin`);
        await page.getByLabel("Email").fill(email);
        await page.getByLabel("Password").fill(PASSWORD);
        await page.getByRole("button", { name: "Sign in" }).click();
        await page.getByLabel("Authentication code").fill(recoveryCodes[0]);
        await page.getByRole("button", { name: "Verify" }).click();
        await page.getByRole("heading", { name: "Acme Robotics" }).waitFor();
        await menu("Billing").click();
        await page.locator("#trend-chart").waitFor();
        await page.waitForFunction(() => ["#trend-chart", "#product-chart"].every((s) => document.querySelector(s).complete));
        const widths = await page.evaluate(() => ["#trend-chart", "#product-chart"].map((s) => document.querySelector(s).naturalWidth));
        assert.ok(widths.every((w) => w > 0), `charts rendered: ${widths}`);
        assert.notEqual((await page.locator("#total-fee").textContent()).trim(), "$0.00");
        await shot("bill-with-charts");
        const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-pdf").click()]);
        const pdf = readFileSync(await download.path());
        assert.equal(pdf.subarray(0, 5).toString(), "%PDF-");
      });

      await t.test("read the audit log, filter it and expand an event", async () => {
        await menu("Audit").click();
        await page.locator("#audit-table tbody tr").first().waitFor();
        await page.getByLabel("Action").fill("setup:createAccount");
        await page.getByRole("button", { name: "Filter" }).click();
        // The filtered table replaces the first one in place: wait for the swap.
        await page.waitForFunction(() => {
          const codes = [...document.querySelectorAll("#audit-table summary code")];
          return codes.length > 0 && codes.every((c) => c.textContent === "setup:createAccount");
        });
        const actions = await page.locator("#audit-table summary code").allTextContents();
        assert.ok(actions.length >= 1 && actions.every((a) => a === "setup:createAccount"), `filtered: ${actions}`);
        await page.locator("#audit-table summary").first().click();
        const detail = await page.locator("#audit-table pre").first().textContent();
        assert.match(detail, /"source": "CONSOLE"/);
        assert.match(detail, /Production/);
        await shot("audit-event-expanded");
      });

      await t.test("pages are readable at phone width", async () => {
        await page.setViewportSize({ width: 390, height: 844 });
        for (const name of ["Users", "Billing", "Security"]) {
          await menu(name).click();
          await page.getByRole("heading", { level: 1 }).first().waitFor();
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
          assert.ok(overflow <= 1, `${name} scrolls sideways by ${overflow}px at 390px`);
        }
        await shot("phone-width");
      });
    } finally {
      await browser.close();
      idp.stop();
      await server.stop();
    }
  });
}
