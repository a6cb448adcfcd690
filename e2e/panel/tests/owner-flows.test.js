// An owner's day with hush, as a person does it in the browser: first-run setup, sign-in,
// an app created with its secrets through "Advanced settings…", a running copy picking up a
// save live, a bad edit that is explained and not saved, history with diff and rollback,
// tokens created and revoked, the audit log, and signing out everywhere.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, SEED, apiCall, appMenu, createAppWithSecrets, newPage, serverAndBrowser, screenshot,
  settingsDialog, setupOwner, signIn, steps, until,
} from '../lib/harness.js';

const env = serverAndBrowser();

test('an owner sets up hush and manages an app’s secrets in the panel', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser);
  let appToken = null;
  const instance = (applied) => apiCall(hush.url, 'POST', '/apps/dashboard/instances', {
    token: appToken, body: { instance_id: 'i-1', hostname: 'prod-1', pid: 4242, applied_version: applied },
  });

  await step('the sign-in page says the server has no owner yet', async () => {
    await page.goto(`${hush.url}/`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByText('This server has no owner yet.').waitFor();
  });

  await step('first-run setup from the one-time link creates the owner', async () => {
    await page.goto(hush.setupLink.replace('#', '#'));
    await page.getByRole('heading', { name: 'Create the owner account' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar at once');
    await page.getByLabel('Name').fill('olivia');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByLabel('Repeat the password').fill('short');
    await page.getByRole('button', { name: 'Create owner account' }).click();
    await page.getByText('Use at least 10 characters.').waitFor();
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create owner account' }).click();
    await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    await page.getByText('olivia · owner').waitFor();
  });

  await step('the setup link works only once', async () => {
    const { page: other, context } = await newPage(browser);
    await setupOwner(other, hush.setupLink, 'mallory').then(
      () => assert.fail('a used setup link must not work'),
      () => {},
    );
    await other.getByText('This link is unknown, used or expired').waitFor();
    await context.close();
  });

  await step('sign out, then a wrong password is explained and the right one signs in', async () => {
    await page.getByRole('button', { name: 'olivia · owner' }).click();
    await page.getByRole('menuitem', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Name').fill('olivia');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Wrong name or password' }).waitFor();
    await signIn(page, hush.url, 'olivia');
  });

  await step('"New app" with secrets through "Advanced settings…"', async () => {
    await createAppWithSecrets(page, 'dashboard', SEED, { screenshotAs: 'new-app-advanced-settings' });
    const status = await apiCall(hush.url, 'GET', '/apps/dashboard');
    assert.equal(status.status, 401, 'the API needs a session or token');
  });

  await step('a token is created, shown once with the command to paste', async () => {
    await appMenu(page, 'dashboard', 'Tokens');
    const dialog = settingsDialog(page, 'dashboard');
    await dialog.getByRole('tab', { name: 'Tokens', selected: true }).waitFor();
    await dialog.getByLabel('Token name').fill('production');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    await dialog.getByText('Copy it now: this is the only time hush shows it.').waitFor();
    appToken = await dialog.getByLabel('Token', { exact: true }).inputValue();
    assert.match(appToken, /^hush_app_/);
    const command = await dialog.getByLabel('Start your app with').inputValue();
    assert.ok(command.includes(`HUSH_TOKEN=${appToken}`) && command.includes('hush run --app dashboard'), command);
    await dialog.getByRole('cell', { name: 'production', exact: true }).waitFor();
    await screenshot(page, 'tokens');
    await dialog.getByRole('button', { name: 'Done: I stored it' }).click();
    assert.equal(await dialog.getByLabel('Token', { exact: true }).count(), 0, 'the token is gone from the page');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('the workspace shows a running copy and the version it applied', async () => {
    assert.equal((await instance(1)).status, 204);
    const row = page.getByRole('listitem').filter({ hasText: 'dashboard' }).first();
    await row.getByText('1 running copy · all on version 1').waitFor();
  });

  await step('⋮ → Settings → Secrets: edit, preview, save; the running copy picks it up live', async () => {
    await appMenu(page, 'dashboard', 'Settings');
    const dialog = settingsDialog(page, 'dashboard');
    await dialog.getByRole('tab', { name: 'Secrets', selected: true }).waitFor();
    const editor = dialog.getByLabel('Secrets (TOML)');
    await until(async () => (await editor.inputValue()) === SEED, 'the saved secrets in the editor');
    // A new top-level key goes above the [section] so that it becomes an environment variable.
    await editor.fill(`api_key = "k-123"\n${SEED.replace('db_password = "12345qwerty"', 'db_password = "rotated-pw"')}`);
    const preview = dialog.getByRole('region', { name: 'Before you save' });
    await preview.getByText('Changes from saved version 1').waitFor();
    await preview.locator('.diff-added').filter({ hasText: 'api_key' }).waitFor();
    await preview.locator('.diff-changed').filter({ hasText: 'db_password' }).waitFor();
    await preview.locator('.chip', { hasText: 'api_key' }).waitFor();
    await preview.getByText('my_cool_secrets').waitFor();
    await dialog.getByLabel('Describe the change').fill('Rotate the database password');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 2.').waitFor();
    await dialog.locator('.instance.behind').getByText('picking up 2').waitFor();
    assert.equal((await instance(2)).status, 204);
    await dialog.locator('.instance.ok').getByText('version 2 (latest)').waitFor({ timeout: 5000 });
    const read = await apiCall(hush.url, 'GET', '/apps/dashboard/secrets', { token: appToken });
    assert.equal(read.body.version, 2);
    assert.match(read.body.toml, /rotated-pw/);
  });

  await step('warnings: a key that shadows HOME and an invisible character', async () => {
    const dialog = settingsDialog(page, 'dashboard');
    const editor = dialog.getByLabel('Secrets (TOML)');
    const saved = await editor.inputValue();
    await editor.fill(`HOME = "/opt/home"\ntoken = "abc\u200bdef"\n${saved}`);
    const warnings = dialog.getByRole('region', { name: 'Before you save' }).locator('.warnings');
    await warnings.getByText('HOME becomes an environment variable').waitFor();
    await warnings.getByText('the value of token holds an invisible zero-width character').waitFor();
    await dialog.getByText('2 warnings').waitFor();
    await editor.fill(saved);
    await dialog.getByText('Same keys and values as version 2.').waitFor();
  });

  await step('a bad edit shows its line and column, and nothing is saved', async () => {
    const dialog = settingsDialog(page, 'dashboard');
    const editor = dialog.getByLabel('Secrets (TOML)');
    const text = await editor.inputValue();
    await editor.fill(text.replace('db_username = "Jane"', 'db_username = "Jane'));
    const status = dialog.locator('.editor-status.error');
    await status.waitFor();
    const message = await status.textContent();
    assert.match(message, /Line 3, column \d+: /, message);
    assert.equal(await dialog.locator('.gutter-line.error').textContent(), '3', 'the gutter marks line 3');
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');
    await screenshot(page, 'secrets-editor-error');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByRole('alert').filter({ hasText: /Not saved\. Line 3, column \d+/ }).waitFor();
    const read = await apiCall(hush.url, 'GET', '/apps/dashboard/secrets', { token: appToken });
    assert.equal(read.body.version, 2, 'nothing was saved');
    // Go to the error with the keyboard-friendly link, then close and discard the edit.
    await dialog.getByRole('button', { name: 'Go to the error' }).click();
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label') || document.activeElement.id.startsWith('toml')), true);
    await page.keyboard.press('Escape');
    const confirm = page.getByRole('dialog', { name: 'Discard your changes?' });
    await confirm.getByRole('button', { name: 'Discard changes' }).click();
    await dialog.waitFor({ state: 'detached' });
  });

  await step('History: versions with author and message, a key-level diff, and rollback', async () => {
    await appMenu(page, 'dashboard', 'History');
    const dialog = settingsDialog(page, 'dashboard');
    const versions = dialog.getByRole('list', { name: 'Versions, newest first' });
    await versions.getByText('Rotate the database password').waitFor();
    await versions.getByText('Created with the app').waitFor();
    await versions.getByRole('listitem').first().getByText('olivia').waitFor();
    await dialog.getByLabel('From version').selectOption('1');
    await dialog.getByLabel('To version').selectOption('2');
    await dialog.getByRole('button', { name: 'Show difference' }).click();
    const diff = dialog.locator('.diff-box');
    await diff.getByText('From version 1 to version 2').waitFor();
    await diff.locator('.diff-added', { hasText: 'api_key' }).waitFor();
    await diff.locator('.diff-changed', { hasText: 'db_password' }).waitFor();
    assert.ok(!(await dialog.textContent()).includes('rotated-pw'), 'history shows names, never values');
    await screenshot(page, 'history-diff');
    await versions.getByRole('listitem').filter({ hasText: 'Version 1' }).getByRole('button', { name: 'Roll back to this version' }).click();
    await page.getByRole('dialog', { name: 'Roll back to version 1?' }).getByRole('button', { name: 'Roll back to version 1' }).click();
    await versions.getByText('restores version 1').waitFor();
    const read = await apiCall(hush.url, 'GET', '/apps/dashboard/secrets', { token: appToken });
    assert.equal(read.body.version, 3);
    assert.equal(read.body.toml, SEED, 'version 3 has version 1’s text');
  });

  await step('the workspace lists apps with status, last change and who', async () => {
    await page.keyboard.press('Escape');
    await settingsDialog(page, 'dashboard').waitFor({ state: 'detached' });
    assert.equal((await instance(3)).status, 204);
    await createAppWithSecrets(page, 'reports', 'REPORTS_URL = "https://example.test"\n');
    const row = page.getByRole('listitem').filter({ hasText: 'dashboard' }).first();
    await row.getByText('Secrets version 3 · changed').waitFor();
    await row.getByText('by olivia').waitFor();
    await row.getByText('1 running copy · all on version 3').waitFor();
    await screenshot(page, 'workspace');
  });

  await step('the keyboard alone opens ⋮ → Settings, stays inside the dialog and Escape closes it', async () => {
    const more = page.getByRole('button', { name: 'More actions for dashboard' });
    await more.focus();
    await page.keyboard.press('Enter');
    const menu = page.getByRole('menu', { name: 'More actions for dashboard' });
    await menu.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Settings', 'focus moves into the menu');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'History');
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden' });
    assert.equal(await more.evaluate((el) => el === document.activeElement), true, 'Escape returns focus to ⋮');
    // The list refreshes itself every few seconds; a refresh must not take the focus away.
    // The next poll is sent only once the one before it has redrawn the list.
    const poll = (r) => r.url().endsWith('/api/v1/apps') && r.method() === 'GET';
    await page.waitForRequest(poll);
    await page.waitForRequest(poll);
    assert.equal(await more.evaluate((el) => el === document.activeElement), true, 'a refresh keeps focus on ⋮');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Enter');
    const dialog = settingsDialog(page, 'dashboard');
    await dialog.getByLabel('Secrets (TOML)').waitFor();
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      assert.ok(await dialog.evaluate((el) => el.contains(document.activeElement)), 'Tab stays inside the dialog');
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await more.evaluate((el) => el === document.activeElement), true, 'focus returns to ⋮');
  });

  await step('a token is revoked and stops working at once', async () => {
    await appMenu(page, 'dashboard', 'Tokens');
    const dialog = settingsDialog(page, 'dashboard');
    await dialog.getByRole('button', { name: 'Revoke token production' }).click();
    await page.getByRole('dialog', { name: 'Revoke “production”?' }).getByRole('button', { name: 'Revoke token' }).click();
    // A revoked token leaves the list (the audit log keeps its story).
    await dialog.getByRole('row').filter({ hasText: 'production' }).waitFor({ state: 'detached' });
    const read = await apiCall(hush.url, 'GET', '/apps/dashboard/secrets', { token: appToken });
    assert.equal(read.status, 401);
    await page.keyboard.press('Escape');
  });

  await step('the audit log filters by action, actor and app', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
    await page.getByLabel('Action').selectOption('secrets.rollback');
    await page.getByLabel('Who').fill('olivia');
    await page.getByLabel('App', { exact: true }).selectOption('dashboard');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('1 event shown').waitFor();
    await page.getByRole('cell', { name: 'secrets.rollback' }).waitFor();
    await page.getByLabel('Action').selectOption('token.');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('2 events shown').waitFor();
  });

  await step('"Sign out everywhere" ends every session of the person', async () => {
    const { page: second, context } = await newPage(browser);
    await signIn(second, hush.url, 'olivia');
    await page.getByRole('button', { name: 'olivia · owner' }).click();
    await page.getByRole('menuitem', { name: 'Sign out everywhere' }).click();
    await page.getByRole('dialog', { name: 'Sign out everywhere?' }).getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await second.reload();
    await second.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.deepEqual(second.problems, []);
    await context.close();
  });

  assert.deepEqual(page.problems, [], 'no script errors or CSP violations');
});
