// A viewer sees apps, key names, history and tokens but never a secret value: no response
// the viewer's browser receives contains one. And a state-changing request that carries the
// session cookie but not the CSRF token is refused.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, appMenu, createAppWithSecrets, newPage, serverAndBrowser, settingsDialog,
  setupOwner, steps, until,
} from '../lib/harness.js';

const VALUES = ['s3cret-user-VALUE', 'pw-VALUE-8641', 'nested-VALUE-5309'];
const SECRETS = `username = "${VALUES[0]}"
password = "${VALUES[1]}"

[db]
token = "${VALUES[2]}"
`;

const env = serverAndBrowser();

test('a viewer never receives a secret value', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page: owner } = await newPage(browser);
  const { page: viewer } = await newPage(browser);
  const bodies = [];
  const reads = [];
  viewer.on('response', (response) => {
    const type = response.headers()['content-type'] || '';
    if (type.includes('text/event-stream')) return; // a stream never ends; it carries versions only
    reads.push(response.text().then((text) => bodies.push({ url: response.url(), text })).catch(() => {}));
  });

  await step('the owner creates an app with secrets and invites a viewer', async () => {
    await setupOwner(owner, hush.setupLink, 'olivia');
    await createAppWithSecrets(owner, 'web', SECRETS);
    await owner.getByRole('link', { name: 'Members' }).click();
    await owner.getByLabel('Role', { exact: true }).selectOption('viewer');
    await owner.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await owner.getByLabel('Invitation link for one viewer').inputValue();
    await viewer.goto(link);
    await viewer.getByLabel('Name').fill('victor');
    await viewer.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await viewer.getByLabel('Repeat the password').fill(PASSWORD);
    await viewer.getByRole('button', { name: 'Join' }).click();
    await viewer.getByText('victor · viewer').waitFor();
  });

  await step('the owner changes the secrets once more, so there is history', async () => {
    await owner.getByRole('link', { name: 'Apps', exact: true }).click();
    await appMenu(owner, 'web', 'Settings');
    const editor = settingsDialog(owner, 'web').getByLabel('Secrets (TOML)');
    await editor.waitFor();
    await until(async () => (await editor.inputValue()).includes('[db]'), 'the secrets');
    await editor.fill(SECRETS.replace(VALUES[1], `${VALUES[1]}-2`));
    await settingsDialog(owner, 'web').getByRole('button', { name: 'Save', exact: true }).click();
    await settingsDialog(owner, 'web').getByText('Saved version 2.').waitFor();
    await owner.keyboard.press('Escape');
  });

  await step('the viewer sees key names, masked values and no editor', async () => {
    await viewer.reload();
    await viewer.getByRole('listitem').filter({ hasText: 'web' }).getByText('Secrets version 2').waitFor();
    assert.equal(await viewer.getByRole('button', { name: 'New app' }).count(), 0, 'viewers cannot create apps');
    await appMenu(viewer, 'web', 'Settings');
    const dialog = settingsDialog(viewer, 'web');
    await dialog.getByText('Values are shown only to editors and owners.').waitFor();
    const masked = dialog.getByLabel('Key names with hidden values');
    await masked.getByText('password = ••••••').waitFor();
    await masked.getByText('[db]').waitFor();
    assert.equal(await dialog.getByLabel('Secrets (TOML)').count(), 0, 'no editor for a viewer');
    await dialog.locator('.chip', { hasText: 'username' }).waitFor();
  });

  await step('history and tokens show names only; no way to roll back or create tokens', async () => {
    const dialog = settingsDialog(viewer, 'web');
    await dialog.getByRole('tab', { name: 'History' }).click();
    await dialog.getByRole('button', { name: 'Compare with version 1' }).click();
    await dialog.locator('.diff-changed', { hasText: 'password' }).waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Roll back to this version' }).count(), 0);
    await dialog.getByRole('tab', { name: 'Tokens' }).click();
    await dialog.getByText('No tokens yet.').waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Create token' }).count(), 0);
    await viewer.keyboard.press('Escape');
    await viewer.getByRole('link', { name: 'Members' }).click();
    await viewer.getByRole('cell', { name: 'olivia' }).waitFor();
  });

  await step('no response the viewer’s browser received holds a secret value', async () => {
    await Promise.all(reads);
    const api = bodies.filter((b) => b.url.includes('/api/v1/'));
    assert.ok(api.some((b) => b.url.includes('/keys')), 'the viewer loaded the key names');
    assert.ok(api.some((b) => b.url.includes('/diff')), 'the viewer loaded a diff');
    for (const { url, text } of bodies) {
      for (const value of VALUES) assert.ok(!text.includes(value), `${url} contains a secret value`);
    }
  });

  await step('the viewer cannot read values through the API either', async () => {
    const status = await viewer.evaluate(async () => (await fetch('/api/v1/apps/web/secrets')).status);
    assert.equal(status, 403);
  });

  await step('the owner makes the viewer an editor, then removes them', async () => {
    await owner.getByRole('link', { name: 'Members' }).click();
    await owner.getByLabel('Role of victor').selectOption('editor');
    await owner.getByText('victor is now editor.').waitFor();
    await viewer.reload();
    await viewer.getByText('victor · editor').waitFor();
    await owner.getByRole('button', { name: 'Remove victor' }).click();
    await owner.getByRole('dialog', { name: 'Remove victor?' }).getByRole('button', { name: 'Remove member' }).click();
    await owner.getByText('Removed victor.').waitFor();
    await until(async () => (await owner.getByRole('cell', { name: 'victor' }).count()) === 0, 'victor gone from the list');
    await viewer.reload();
    await viewer.getByRole('heading', { name: 'Sign in' }).waitFor();
  });

  await step('the owner cannot demote the last owner; the reason shows in the row', async () => {
    await owner.getByLabel('Role of olivia').selectOption('viewer');
    await owner.getByRole('alert').filter({ hasText: 'at least one owner' }).waitFor();
    assert.equal(await owner.getByLabel('Role of olivia').inputValue(), 'owner');
  });
});

test('a request without the CSRF token is refused', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page, context } = await newPage(browser);
  await page.goto(`${hush.url}/login`);
  await page.getByLabel('Name').fill('olivia');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();

  await step('a fetch with the session cookie but no X-CSRF-Token gets 403', async () => {
    const result = await page.evaluate(async () => {
      const res = await fetch('/api/v1/apps', {
        method: 'POST',
        credentials: 'include',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'forged' }),
      });
      return { status: res.status, body: await res.json() };
    });
    assert.equal(result.status, 403);
    assert.equal(result.body.error, 'csrf');
  });

  await step('a plain form post (what another site could send) gets 403', async () => {
    const response = page.waitForResponse((r) => r.url().endsWith('/api/v1/apps') && r.request().method() === 'POST');
    await page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = '/api/v1/apps';
      form.enctype = 'text/plain';
      const input = document.createElement('input');
      input.name = '{"name":"forged","x":"';
      input.value = '"}';
      form.append(input);
      document.body.append(form);
      form.submit();
    });
    assert.equal((await response).status(), 403);
    await page.waitForURL(/\/api\/v1\/apps$/);
    assert.match(await page.textContent('body'), /CSRF/);
  });

  await step('nothing was created', async () => {
    await page.goto(`${hush.url}/`);
    await page.getByRole('listitem').filter({ hasText: 'web' }).first().waitFor();
    assert.equal(await page.getByRole('button', { name: 'forged' }).count(), 0);
  });
  await context.close();
});
