// Shared by the browser tests: starts a real `hush serve` on a free port with a fresh data
// directory, reads the one-time setup link it prints, and drives Debian's Chromium through
// playwright-core (no browser download).

import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const HUSH_BIN = process.env.HUSH_BIN || join(REPO, 'target/debug/hush');
export const SCREENSHOTS = process.env.HUSH_SCREENSHOTS || join(REPO, 'target/screenshots');
export const PASSWORD = 'correct horse battery staple';
/** Every axe-core finding of the run, one JSON line per page state checked (see checkA11y). */
export const A11Y_REPORT = process.env.HUSH_A11Y_REPORT || join(REPO, 'target/a11y-report.jsonl');
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A TCP port on 127.0.0.1 that nothing listens on now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.unref();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/** Starts `hush serve`; resolves once it says where it serves and prints the setup link. */
export async function startHush({ args = [] } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hush-e2e-'));
  const port = await freePort();
  const child = spawn(HUSH_BIN, [
    'serve', '--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--metrics-listen', 'off', ...args,
  ], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'warn' } });
  if (process.env.E2E_PID_FILE) appendFileSync(process.env.E2E_PID_FILE, `${child.pid}\n`);
  let log = '';
  const ready = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`hush serve did not start within 30 s; it printed:\n${log}`)), 30_000);
    let url = null;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      log += chunk;
      const serving = log.match(/is serving on (http:\/\/\S+)/);
      if (serving) url = serving[1];
      const link = log.match(/(http:\/\/\S+\/setup#\S+)/);
      if (url && link) {
        clearTimeout(timer);
        ok({ url, setupLink: link[1] });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`hush serve exited (${code}) before it was ready:\n${log}`));
    });
  });
  const { url, setupLink } = await ready;
  child.removeAllListeners('exit');
  return {
    url,
    setupLink,
    dataDir,
    pid: child.pid,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((ok) => child.once('exit', ok));
        process.kill(child.pid, 'SIGTERM');
        await Promise.race([exited, new Promise((ok) => setTimeout(ok, 5000))]);
        if (child.exitCode === null) process.kill(child.pid, 'SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * One `hush serve` and one browser for a test file: started before its tests, stopped after
 * them; `env.hush` and `env.browser` are set once they run. With `apps`, the server launches
 * apps from a fresh folder (`env.appsDir`, removed after) that `apps(folder)` fills first.
 */
export function serverAndBrowser({ apps } = {}) {
  const env = { hush: null, browser: null, appsDir: null };
  before(async () => {
    const args = [];
    if (apps) {
      env.appsDir = mkdtempSync(join(tmpdir(), 'hush-e2e-apps-'));
      await apps(env.appsDir);
      args.push('--apps-dir', env.appsDir);
    }
    env.hush = await startHush({ args });
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.hush?.stop();
    if (env.appsDir) rmSync(env.appsDir, { recursive: true, force: true });
  });
  return env;
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * A new browser context and page, 1280×860, that records uncaught script errors and CSP
 * violations (a panel that breaks its own policy fails the test).
 */
export async function newPage(browser, { width = 1280, height = 860 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, reducedMotion: 'reduce', colorScheme: 'light' });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`script error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && /Content Security Policy|Refused to/.test(text)) page.problems.push(`CSP: ${text}`);
  });
  page.setDefaultTimeout(10_000);
  return { context, page };
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Passing notices ("Saved…") would cover what the picture is about.
  await page.evaluate(() => document.getElementById('toasts')?.replaceChildren());
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** The JSON API with a bearer token (for what a running copy or the CLI would do). */
export async function apiCall(base, method, path, { token, body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Signs in through the panel's form. */
export async function signIn(page, base, name, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
}

/** Creates the owner from the first-run link. */
export async function setupOwner(page, setupLink, name = 'olivia') {
  await page.goto(setupLink);
  await page.getByRole('heading', { name: 'Create the owner account' }).waitFor();
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByLabel('Repeat the password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create owner account' }).click();
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
}

/** Replaces the editor's text as a person would (select all, type). */
export async function typeInEditor(page, text) {
  const editor = page.getByLabel('Secrets (TOML)');
  await editor.click();
  await editor.press('Control+A');
  await editor.fill(text);
}

/** Polls `check` (async, returns truthy when done) until it passes or `ms` runs out. */
export async function until(check, what, ms = 10_000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

/** Opens an app's ⋮ menu and picks an item. */
export async function appMenu(page, app, item) {
  await page.getByRole('button', { name: `More actions for ${app}` }).click();
  await page.getByRole('menuitem', { name: item }).click();
}

/** The app settings dialog. */
export function settingsDialog(page, app) {
  return page.getByRole('dialog', { name: `${app} · Settings` });
}

export const SEED = `# Everything in this section will be available as an environment variable
db_username = "Jane"
db_password = "12345qwerty"

# You can also add other sections if you like.
[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]
`;

/**
 * "New app" → name → "Advanced settings…" → Secrets → Save → Create. `summary`: the words
 * "New app" must show about the secrets before Create.
 */
export async function createAppWithSecrets(page, name, toml, { screenshotAs, summary = 'set in Advanced settings' } = {}) {
  await page.getByRole('button', { name: 'New app' }).click();
  const dialog = page.getByRole('dialog', { name: /New app|Deploy an app/ });
  await dialog.getByLabel('App name').fill(name);
  await dialog.getByRole('button', { name: 'Advanced settings…' }).click();
  const advanced = page.getByRole('dialog', { name: 'Advanced settings' });
  const editor = advanced.getByLabel('Secrets', { exact: true });
  await editor.fill(toml);
  await advanced.locator('.chip').first().waitFor();
  await advanced.getByText('Valid TOML').waitFor();
  if (screenshotAs) await screenshot(page, screenshotAs);
  await advanced.getByRole('button', { name: 'Save' }).click();
  await advanced.waitFor({ state: 'detached' });
  await dialog.getByText(summary).waitFor();
  await dialog.getByRole('button', { name: /^(Create|Deploy)$/ }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('listitem').filter({ hasText: name }).getByText('Secrets version 1').waitFor();
}

/**
 * Subtests that walk one flow in order: once a step fails, the later ones are skipped (they
 * would fail for the same reason) and the first failure stands out.
 */
export function steps(t) {
  let failed = null;
  return (name, fn) => t.test(name, { skip: failed ? `skipped: "${failed}" failed` : false }, async () => {
    try {
      await fn();
    } catch (err) {
      failed = name;
      throw err;
    }
  });
}

/**
 * Runs axe-core on what the page shows now, in the light and the dark theme, and fails on any
 * serious or critical violation (the list names rule, element and why). Every finding, of any
 * impact, is appended to A11Y_REPORT. axe is evaluated through the DevTools protocol, so the
 * panel's CSP stays as strict as ever. HUSH_A11Y_RECORD_ONLY=1 records without failing.
 */
export async function checkA11y(page, state) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
  const failures = [];
  const original = await page.evaluate(() => document.documentElement.dataset.theme || '');
  for (const theme of ['light', 'dark']) {
    // Both ways a theme is chosen: the system's preference and the panel's own toggle.
    await page.emulateMedia({ colorScheme: theme });
    await page.evaluate((t) => { document.documentElement.dataset.theme = t; }, theme);
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document, {
        resultTypes: ['violations'],
        // Experimental in axe, and exactly what the issue saw: a visible label that is not the name.
        rules: { 'label-content-name-mismatch': { enabled: true } },
      });
      return result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
      }));
    });
    mkdirSync(dirname(A11Y_REPORT), { recursive: true });
    appendFileSync(A11Y_REPORT, `${JSON.stringify({ state, theme, width: page.viewportSize()?.width, violations })}\n`);
    for (const v of violations) {
      if (v.impact === 'serious' || v.impact === 'critical') {
        failures.push(`[${theme}] ${v.impact} ${v.id}: ${v.help}\n${v.nodes.map((n) => `    ${n.target}: ${n.summary}`).join('\n')}`);
      }
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.evaluate((t) => {
    if (t) document.documentElement.dataset.theme = t;
    else delete document.documentElement.dataset.theme;
  }, original);
  if (failures.length && process.env.HUSH_A11Y_RECORD_ONLY !== '1') {
    throw new Error(`axe-core: ${failures.length} serious or critical violation(s) in "${state}":\n${failures.join('\n')}`);
  }
}
