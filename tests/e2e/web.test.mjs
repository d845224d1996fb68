// End-to-end tests of the pages in a real browser: Debian's Chromium,
// driven by playwright-core (which downloads no browser of its own),
// against a server this file starts on 127.0.0.1 with a fresh data folder.
//
// Run from the repository root: node --test tests/e2e/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, mkdirSync, copyFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const bin = path.join(root, "target", "debug", "healing-space");
const shots = path.join(here, "screenshots");
const docs = path.join(root, "docs");
const browserPath = process.env.CHROMIUM || "/usr/bin/chromium";

const PASSWORD = "Tr1cky!pass";
const PIN = "4821";
const CLINICIAN = "drlane";
const PATIENT = "e2e.patient";

let server;
let dataDir;
let base;
const profiles = [];
const contexts = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url) {
  // Bounded: 150 tries, 100 ms apart.
  for (let i = 0; i < 150; i++) {
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not become healthy within 15 s");
}

function cli(args, env = {}) {
  return execFileSync(bin, args, {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: "utf8",
  }).trim();
}

async function browserContext() {
  const profile = mkdtempSync(path.join(tmpdir(), "hs-e2e-profile-"));
  profiles.push(profile);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: browserPath,
    headless: true,
    chromiumSandbox: false,
    viewport: { width: 1024, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  contexts.push(context);
  context.setDefaultTimeout(10000);
  return context.pages()[0] ?? (await context.newPage());
}

async function shot(page, name, alsoDocs = false) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (alsoDocs) copyFileSync(file, path.join(docs, `${name}.png`));
}

before(async () => {
  if (!existsSync(bin)) {
    execFileSync("cargo", ["build"], { cwd: root, stdio: "inherit" });
  }
  mkdirSync(shots, { recursive: true });
  mkdirSync(docs, { recursive: true });
  dataDir = mkdtempSync(path.join(tmpdir(), "hs-e2e-data-"));
  cli(
    [
      "user", "create", "--data-dir", dataDir, "--role", "clinician",
      "--username", CLINICIAN, "--email", "lane@example.org", "--display-name", "Dr Lane",
    ],
    { HS_NEW_PASSWORD: PASSWORD, HS_NEW_PIN: PIN },
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(bin, ["serve", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`], {
    cwd: root,
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitForHealth(base);
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  if (server && server.exitCode === null) {
    process.kill(server.pid, "SIGTERM");
    await new Promise((r) => {
      const t = setTimeout(r, 5000);
      server.once("exit", () => {
        clearTimeout(t);
        r();
      });
    });
  }
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("a patient and a clinician use the clinic end to end", async (t) => {
  const patient = await browserContext();
  const doctor = await browserContext();

  await t.test("the patient registers, logs out and logs in again", async () => {
    await patient.goto(`${base}/register`);
    await assert.doesNotReject(patient.getByText("not an emergency service").first().waitFor());
    await shot(patient, "register");
    await patient.getByLabel(/^Username/).fill(PATIENT);
    await patient.getByLabel("Your name").fill("Robin Example");
    await patient.getByLabel("Email").fill("robin@example.org");
    await patient.getByLabel("Password", { exact: false }).first().fill(PASSWORD);
    await patient.getByLabel("PIN").fill(PIN);
    await patient.getByLabel("Your clinician's username").fill(CLINICIAN);
    await patient.getByRole("button", { name: "Create my account" }).click();
    await patient.waitForURL(`${base}/home`);

    await patient.getByRole("button", { name: /Log out/ }).click();
    await patient.waitForURL(`${base}/login`);
    await shot(patient, "login");
    await patient.getByLabel("Username").fill(PATIENT);
    await patient.getByLabel("Password").fill(PASSWORD);
    await patient.getByLabel("PIN").fill(PIN);
    await patient.getByRole("button", { name: "Log in" }).click();
    await patient.waitForURL(`${base}/home`);
  });

  await t.test("the patient logs a mood and sees it on the chart", async () => {
    await patient.getByLabel(/^Mood/).fill("6");
    await patient.getByLabel("Hours of sleep").fill("7.5");
    await patient.getByLabel(/Sleep quality/).fill("5");
    await patient.getByLabel(/A note about today/).fill("Walked by the river.");
    await patient.getByRole("button", { name: "Save today's entry" }).click();
    await patient.waitForURL(/\/home\?notice=saved/);
    await patient.getByRole("heading", { name: "Edit today's entry" }).waitFor();
    await shot(patient, "patient-home", true);

    await patient.goto(`${base}/mood?days=7`);
    const point = patient.locator("svg.chart .s0 .point title", { hasText: ": 6" });
    assert.equal(await point.count(), 1, "one mood point of 6 on the chart");
    assert.match(await patient.locator("svg.chart desc").first().textContent(), /latest 6/);
    await shot(patient, "mood-history");
  });

  await t.test("a PHQ-9 with item 9 answered shows the crisis panel", async () => {
    await patient.goto(`${base}/assessments/phq9`);
    for (let i = 0; i < 9; i++) {
      await patient.locator(`input[name="q${i}"][value="1"]`).check();
    }
    await patient.getByRole("button", { name: "Submit my answers" }).click();
    const panel = patient.locator("section.crisis");
    await panel.waitFor();
    assert.match(await panel.textContent(), /116 123/);
    assert.match(await patient.locator(".result").textContent(), /Your score: 9/);
    await shot(patient, "phq9-result");
    await patient.goto(`${base}/assessments`);
    await shot(patient, "questionnaires");
  });

  await t.test("the clinician enrols TOTP, approves the patient and sees the alert first", async () => {
    await doctor.goto(`${base}/login`);
    await doctor.getByLabel("Username").fill(CLINICIAN);
    await doctor.getByLabel("Password").fill(PASSWORD);
    await doctor.getByLabel("PIN").fill(PIN);
    await doctor.getByRole("button", { name: "Log in" }).click();
    await doctor.waitForURL(`${base}/totp`);
    const secret = (await doctor.locator("#totp-secret").textContent()).trim();
    const code = cli(["totp-code", "--secret", secret]);
    await doctor.getByLabel("Your password").fill(PASSWORD);
    await doctor.getByLabel("Code from the app").fill(code);
    await doctor.getByRole("button", { name: "Confirm" }).click();
    await doctor.waitForURL(/\/clinician\?notice=totp/);

    await doctor.getByRole("button", { name: `Approve ${PATIENT}` }).click();
    await doctor.waitForURL(/notice=approved/);
    const first = doctor.locator("table.caseload tbody tr").first();
    assert.match(await first.textContent(), /Robin Example/);
    assert.match(await first.textContent(), /High/);
    await shot(doctor, "clinician-caseload", true);
  });

  await t.test("the clinician acknowledges and resolves the alert", async () => {
    await doctor.goto(`${base}/clinician/alerts`);
    await shot(doctor, "alerts");
    await doctor.getByRole("button", { name: /Acknowledge/ }).first().click();
    await doctor.waitForURL(/notice=acknowledged/);
    await doctor.getByLabel("Outcome note to resolve this alert").first().fill("Phoned Robin; safe, plan reviewed.");
    await doctor.getByRole("button", { name: "Resolve" }).first().click();
    await doctor.waitForURL(/notice=resolved/);
    assert.match(await doctor.locator(".alerts").textContent(), /resolved/);
  });

  await t.test("a note with markup is shown as text", async () => {
    const evil = `<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">`;
    await doctor.goto(`${base}/clinician/patients/${PATIENT}`);
    await doctor.getByLabel(/^Note/).fill(evil);
    await doctor.getByRole("button", { name: "Save note" }).click();
    await doctor.waitForURL(/notice=saved/);
    const body = doctor.locator(".note-body").first();
    assert.equal(await body.textContent(), evil);
    assert.equal(await body.locator("img, script").count(), 0);
    assert.equal(await doctor.evaluate(() => window.__xss), undefined);
    await shot(doctor, "patient-view");
  });
});
