// A server-launched app (hush serve --apps-dir) as an owner runs it from the panel: the process
// badge in the workspace, the Logs tab (status, launch settings, masked output that follows
// new lines), Reboot from the ⋮ menu, a restart on every save, launch settings with a mistake
// explained by the field; and a viewer, who has no access to any of it, sees none of it.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import {
  PASSWORD, appMenu, checkA11y, freePort, newPage, screenshot, serverAndBrowser, settingsDialog,
  setupOwner, steps, typeInEditor, until,
} from '../lib/harness.js';

const FIRST = 'pw-LAUNCH-7319';
const SECOND = 'pw-LAUNCH-rotated-2208';
const secrets = (password) => `db_username = "Jane"\ndb_password = "${password}"\n\n[database]\nhost = "db.internal"\n`;
// The app serves its folder over HTTP on its port, so the panel's link to it can be followed.
const APP_SH = `echo "hello from app db_password=$db_password"
echo "listening on port \${PORT:-none}" >&2
echo "marker: ready"
exec python3 -m http.server "\${PORT}" --bind 127.0.0.1
`;
const CONCEALED_LINE = 'hello from app db_password=<concealed by hush>';

const env = serverAndBrowser({
  apps: (dir) => {
    mkdirSync(join(dir, 'web'));
    writeFileSync(join(dir, 'web', 'app.sh'), APP_SH);
  },
});
let port;

before(async () => {
  port = await freePort();
});

/** The pid in the app's running-copy line ("host (pid 123)"), once it reads running. */
async function runningPid(row) {
  const line = row.locator('.instance', { hasText: 'pid' }).first();
  const text = (await line.count()) ? await line.textContent() : '';
  return /\(pid (\d+)\)/.exec(text)?.[1] ?? null;
}

test('an owner runs a server-launched app from the panel', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser, { height: 900 });
  const bodies = [];
  const reads = [];
  page.on('response', (response) => {
    const type = response.headers()['content-type'] || '';
    if (type.includes('text/event-stream')) return;
    const url = response.url();
    reads.push(response.text().then((text) => bodies.push({ url, method: response.request().method(), text })).catch(() => {}));
  });
  const row = page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'web' }) });
  const dialog = settingsDialog(page, 'web');
  const log = dialog.getByRole('log');
  let pid = null;

  await step('deploy an app whose command is a shell script in its folder', async () => {
    await setupOwner(page, hush.setupLink);
    await page.getByRole('button', { name: 'New app' }).click();
    const deploy = page.getByRole('dialog', { name: 'Deploy an app' });
    await deploy.getByLabel('App name').fill('web');
    await deploy.getByLabel('Folder').fill('web');
    await deploy.getByLabel('Command').fill('sh app.sh');
    await deploy.getByLabel('Port').fill(String(port));
    await deploy.getByRole('button', { name: 'Advanced settings…' }).click();
    const advanced = page.getByRole('dialog', { name: 'Advanced settings' });
    await advanced.getByLabel('Secrets', { exact: true }).fill(secrets(FIRST));
    await advanced.getByText('Valid TOML').waitFor();
    await advanced.getByRole('button', { name: 'Save' }).click();
    await checkA11y(page, 'Deploy an app');
    await deploy.getByRole('button', { name: 'Deploy' }).click();
    await deploy.waitFor({ state: 'detached' });
  });

  await step('the workspace shows the process running, with its pid in the running-copy line', async () => {
    await row.getByText('Running', { exact: true }).waitFor();
    pid = await until(() => runningPid(row), 'the running copy with its pid');
    await row.getByText('version 1 (latest)').waitFor();
    await checkA11y(page, 'workspace: a server-launched app');
  });

  await step('the app’s link opens the launched app on its port, in a new tab', async () => {
    const link = row.getByRole('link', { name: 'Open app web (new tab)' });
    assert.equal(await link.getAttribute('href'), `http://127.0.0.1:${port}/`);
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    const opened = page.context().waitForEvent('page');
    await link.click();
    const app = await opened;
    // The app serves its folder: its listing names app.sh.
    await until(async () => {
      if (!(await app.getByText('app.sh').count())) await app.reload().catch(() => {});
      return (await app.getByText('app.sh').count()) > 0;
    }, 'the launched app answering through the link', 15_000);
    assert.equal(await app.evaluate(() => window.opener), null, 'the app cannot reach back to the panel');
    await app.close();
  });

  await step('⋮ → Logs: status, launch settings and the output, the secret concealed', async () => {
    await appMenu(page, 'web', 'Logs');
    assert.equal(await dialog.getByRole('tab', { name: 'Logs' }).getAttribute('aria-selected'), 'true');
    await dialog.getByRole('status').filter({ hasText: `pid ${pid}` }).waitFor();
    await dialog.getByText('secrets version 1 (latest)').waitFor();
    await dialog.getByRole('definition').filter({ hasText: 'sh app.sh' }).waitFor();
    await log.getByText(CONCEALED_LINE).waitFor();
    await log.getByText('marker: ready').waitFor();
    await log.locator('.log-line.stderr', { hasText: `listening on port ${port}` }).waitFor();
    assert.ok(!(await log.textContent()).includes(FIRST), 'the log never shows the value');
    const link = dialog.getByRole('definition').getByRole('link', { name: 'Open app web (new tab)' });
    assert.equal(await link.getAttribute('href'), `http://127.0.0.1:${port}/`);
    await checkA11y(page, 'Settings → Logs');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('⋮ → Reboot… asks first, says "Rebooting…", then runs a new process', async () => {
    await appMenu(page, 'web', 'Reboot…');
    const confirm = page.getByRole('dialog', { name: 'Reboot web?' });
    await checkA11y(page, 'Reboot web?');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    assert.equal(await runningPid(row), pid, 'cancel keeps the process');
    await appMenu(page, 'web', 'Reboot…');
    await confirm.getByRole('button', { name: 'Reboot' }).click();
    await row.getByText('Rebooting…').waitFor();
    await row.getByText('Running', { exact: true }).waitFor({ timeout: 20_000 });
    const rebooted = await until(async () => {
      const now = await runningPid(row);
      return now && now !== pid ? now : null;
    }, 'a new pid after the reboot', 20_000);
    pid = rebooted;
  });

  await step('saving new secrets restarts the app; the running copy shows version 2', async () => {
    await appMenu(page, 'web', 'Settings');
    await until(async () => (await dialog.getByLabel('Secrets (TOML)').inputValue()).includes(FIRST), 'the secrets');
    await typeInEditor(page, secrets(SECOND));
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 2.').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await row.getByText('version 2 (latest)').waitFor({ timeout: 20_000 });
    const restarted = await until(async () => {
      const now = await runningPid(row);
      return now && now !== pid ? now : null;
    }, 'a new pid after the save', 20_000);
    pid = restarted;
    await row.getByText('Running', { exact: true }).waitFor();
  });

  await step('the Logs tab follows: new lines appended at the bottom, both values concealed', async () => {
    await appMenu(page, 'web', 'Logs');
    await dialog.getByRole('status').filter({ hasText: `pid ${pid}` }).waitFor();
    await dialog.getByText('secrets version 2 (latest)').waitFor();
    await until(async () => (await log.getByText(CONCEALED_LINE).count()) >= 3, 'a line from each of the three starts');
    const text = await log.textContent();
    assert.ok(!text.includes(FIRST) && !text.includes(SECOND), 'the log never shows a value');
    await until(() => log.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 24), 'the log scrolled to its newest line');
    await screenshot(page, 'launched-app-logs');
  });

  await step('an owner’s launch settings with a folder that does not exist: the reason by the field', async () => {
    await dialog.getByRole('button', { name: 'Edit launch settings' }).click();
    const folder = dialog.getByLabel('Folder');
    assert.equal(await folder.inputValue(), 'web');
    assert.equal(await dialog.getByLabel('Command').inputValue(), 'sh app.sh');
    await folder.fill('nope');
    await dialog.getByRole('button', { name: 'Save and restart' }).click();
    await dialog.getByText('“nope” does not exist inside the apps directory').waitFor();
    assert.equal(await folder.getAttribute('aria-invalid'), 'true');
    assert.equal(await folder.evaluate((el) => el === document.activeElement), true, 'focus goes to the field to fix');
    await checkA11y(page, 'Logs: launch settings with an error');
    await folder.fill('');
    await dialog.getByRole('button', { name: 'Save and restart' }).click();
    await dialog.getByText('Give the folder the app is in').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.getByRole('button', { name: 'Save and restart' }).waitFor({ state: 'hidden' });
    await dialog.getByRole('definition').filter({ hasText: 'sh app.sh' }).waitFor();
    assert.equal(await runningPid(row), pid, 'a refused change leaves the app running');
  });

  await step('a command that fails: "Crashed (exit code …)", its error in the output, restarted', async () => {
    await dialog.getByRole('button', { name: 'Edit launch settings' }).click();
    await dialog.getByLabel('Command').fill('sh missing.sh');
    await dialog.getByRole('button', { name: 'Save and restart' }).click();
    await dialog.getByRole('definition').filter({ hasText: 'sh missing.sh' }).waitFor();
    await dialog.getByRole('status').getByText(/^Crashed \(exit code \d+\)$/).waitFor({ timeout: 20_000 });
    await log.locator('.log-line.stderr', { hasText: 'missing.sh' }).first().waitFor();
    assert.equal(await log.getByText(CONCEALED_LINE).count(), 0, 'the output starts over with the new settings');
    await dialog.getByRole('status').getByText(/automatic restart/).waitFor({ timeout: 20_000 });
    await checkA11y(page, 'Logs: a crashed app');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await row.getByText(/^Crashed \(exit code \d+\)$/).waitFor({ timeout: 20_000 });
    await row.getByText('Not running', { exact: true }).waitFor();
  });

  await step('a command that cannot start: "Failed to start" and the reason, in the tab and the list', async () => {
    await appMenu(page, 'web', 'Logs');
    await dialog.getByRole('button', { name: 'Edit launch settings' }).click();
    await dialog.getByLabel('Command').fill('no-such-program-4711 --serve');
    await dialog.getByRole('button', { name: 'Save and restart' }).click();
    await dialog.getByRole('status').getByText('Failed to start').waitFor({ timeout: 20_000 });
    await dialog.getByText(/no-such-program-4711/).first().waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await row.getByText('Failed to start').waitFor({ timeout: 20_000 });
    await row.locator('.process-note', { hasText: 'no-such-program-4711' }).waitFor();
    await checkA11y(page, 'workspace: an app that failed to start');
  });

  await step('a viewer sees no process state, no Logs and no Reboot', async () => {
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await page.getByLabel('Invitation link for one viewer').inputValue();
    const { page: viewer } = await newPage(browser);
    const asked = [];
    viewer.on('request', (request) => asked.push(request.url()));
    await viewer.goto(link);
    await viewer.getByLabel('Name').fill('victor');
    await viewer.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await viewer.getByLabel('Repeat the password').fill(PASSWORD);
    await viewer.getByRole('button', { name: 'Join' }).click();
    const viewerRow = viewer.getByRole('listitem').filter({ has: viewer.getByRole('heading', { name: 'web' }) });
    await viewerRow.getByText('Secrets version 2').waitFor();
    await viewerRow.getByText(`Started by hush: no-such-program-4711 --serve in web on port ${port}`).waitFor();
    await checkA11y(viewer, 'viewer: workspace with a launched app');
    await viewer.getByRole('button', { name: 'More actions for web' }).click();
    await viewer.getByRole('menuitem', { name: 'Settings' }).waitFor();
    assert.equal(await viewer.getByRole('menuitem', { name: /Reboot|Logs/ }).count(), 0);
    await viewer.keyboard.press('Escape');
    assert.equal(await viewerRow.locator('.process-badge').count(), 0);
    assert.ok(!asked.some((u) => u.includes('/api/v1/apps/web/launch')), 'the viewer’s page never asks for the process state');
    assert.deepEqual(viewer.problems, []);
    await viewer.context().close();
  });

  await step('no response the page received holds a value, except the secrets the editor loads', async () => {
    await Promise.all(reads);
    const launch = bodies.filter((b) => b.url.includes('/api/v1/apps/web/launch'));
    assert.ok(launch.some((b) => b.text.includes('<concealed by hush>')), 'the page read the masked output');
    for (const { url, method, text } of bodies) {
      if (method === 'GET' && url.endsWith('/api/v1/apps/web/secrets')) continue;
      for (const value of [FIRST, SECOND]) assert.ok(!text.includes(value), `${method} ${url} contains a secret value`);
    }
  });

  assert.deepEqual(page.problems, []);
});
