// Per-app roles in the panel: a viewer made editor on `web` and given no access to `billing`
// sees only `web`, gets the editor there, and an address naming `billing` finds nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, apiCall, appMenu, checkA11y, newPage, serverAndBrowser, settingsDialog, setupOwner, signIn, steps,
} from '../lib/harness.js';

const env = serverAndBrowser();

test('per-app roles decide what a member sees and may do in the panel', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page: owner } = await newPage(browser);
  const { page } = await newPage(browser);

  await step('the owner sets up two apps and a viewer with roles on each', async () => {
    await setupOwner(owner, hush.setupLink, 'olivia');
    const login = await apiCall(hush.url, 'POST', '/auth/token', { body: { name: 'olivia', password: PASSWORD } });
    const token = login.body.token;
    for (const name of ['web', 'billing', 'api']) {
      const made = await apiCall(hush.url, 'POST', '/apps', { token, body: { name, toml: 'a = "1"\n' } });
      assert.equal(made.status, 201);
    }
    const invite = await apiCall(hush.url, 'POST', '/invites', { token, body: { role: 'viewer' } });
    const joined = await apiCall(hush.url, 'POST', '/auth/accept', {
      body: { token: invite.body.url.split('#')[1], name: 'victor', password: PASSWORD },
    });
    assert.equal(joined.status, 200);
    const members = await apiCall(hush.url, 'GET', '/members', { token });
    const victor = members.body.members.find((m) => m.name === 'victor').id;
    assert.equal((await apiCall(hush.url, 'PUT', `/apps/web/roles/${victor}`, { token, body: { role: 'editor' } })).status, 200);
  });

  await step('the owner takes billing away from the viewer on the Members page', async () => {
    await owner.getByRole('link', { name: 'Members' }).click();
    await owner.getByRole('button', { name: 'Roles of victor on single apps' }).click();
    const dialog = owner.getByRole('dialog', { name: 'victor on single apps' });
    await dialog.getByLabel('Role of victor on web').waitFor();
    assert.equal(await dialog.getByLabel('Role of victor on web').inputValue(), 'editor');
    await checkA11y(owner, 'Roles on single apps');
    await dialog.getByLabel('Role of victor on billing').selectOption('none');
    await owner.getByText('victor is now without access to billing.').waitFor();
    await owner.keyboard.press('Escape');
  });

  await step('the member sees web and api, never billing', async () => {
    await signIn(page, hush.url, 'victor');
    await page.getByRole('listitem').filter({ hasText: 'web' }).getByText('Secrets version 1').waitFor();
    await page.getByRole('listitem').filter({ hasText: 'api' }).getByText('Secrets version 1').waitFor();
    assert.equal(await page.getByRole('listitem').filter({ hasText: 'billing' }).count(), 0);
  });

  await step('on web they get the editor; on api they stay a viewer', async () => {
    await appMenu(page, 'web', 'Settings');
    await settingsDialog(page, 'web').getByLabel('Secrets (TOML)').waitFor();
    await page.keyboard.press('Escape');
    await appMenu(page, 'api', 'Settings');
    await settingsDialog(page, 'api').getByText('Values are shown only to editors and owners.').waitFor();
    assert.equal(await settingsDialog(page, 'api').getByLabel('Secrets (TOML)').count(), 0);
    await page.keyboard.press('Escape');
  });

  await step('an address naming billing finds no such app', async () => {
    await page.goto(`${hush.url}/apps/billing`);
    await page.getByText('There is no app named “billing”.').waitFor();
  });

  assert.deepEqual(page.problems, [], 'no script errors or CSP violations');
});
