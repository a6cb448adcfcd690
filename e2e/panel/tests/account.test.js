// The account page: change the password (the current one is asked again; another browser's
// session ends, this one goes on), create a personal token shown once, revoke it (it leaves
// the list and stops working), and sign out everywhere revoking personal tokens too.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, apiCall, checkA11y, newPage, serverAndBrowser, setupOwner, signIn, steps,
} from '../lib/harness.js';

const NEW_PASSWORD = 'a much newer passphrase';
const env = serverAndBrowser();

test('the account page changes the password and manages personal tokens', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser);
  const { page: other, context: otherContext } = await newPage(browser);

  await step('the owner opens Account settings from the account menu', async () => {
    await setupOwner(page, hush.setupLink, 'olivia');
    await signIn(other, hush.url, 'olivia');
    await page.getByRole('button', { name: 'olivia · owner' }).click();
    await page.getByRole('menuitem', { name: 'Account settings' }).click();
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
    await checkA11y(page, 'Account');
  });

  await step('a wrong current password is refused and changes nothing', async () => {
    await page.getByLabel('Current password').fill('not my password at all');
    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('Repeat the new password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('That is not your current password.').waitFor();
    // Still signed in here and in the other browser.
    await page.getByRole('heading', { name: 'Account', level: 1 }).waitFor();
    await other.reload();
    await other.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
  });

  await step('the right one changes it; the other browser is signed out, this one is not', async () => {
    await page.getByLabel('Current password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed. Your other sessions have ended.').waitFor();
    await other.reload();
    await other.getByRole('heading', { name: 'Sign in' }).waitFor();
    // This session goes on: a change still works (the fresh CSRF token is in use).
    await page.getByLabel('Token name').fill('laptop');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByLabel('New token “laptop”');
    await shown.waitFor();
    const token = await shown.inputValue();
    assert.match(token, /^hush_pat_/);
    const me = await apiCall(hush.url, 'GET', '/me', { token });
    assert.equal(me.status, 200);
    assert.equal(me.body.user.name, 'olivia');
    env.token = token;
  });

  await step('the new password signs in; the old one does not', async () => {
    const old = await apiCall(hush.url, 'POST', '/auth/login', { body: { name: 'olivia', password: PASSWORD } });
    assert.equal(old.status, 401);
    await signIn(other, hush.url, 'olivia', NEW_PASSWORD);
  });

  await step('a revoked token leaves the list and stops working', async () => {
    await page.getByLabel('Token name').fill('script');
    await page.getByRole('button', { name: 'Create token' }).click();
    await page.getByLabel('New token “script”').waitFor();
    const table = page.getByRole('table', { name: 'Your personal access tokens' });
    await table.getByRole('cell', { name: 'script', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Revoke laptop' }).click();
    await page.getByRole('dialog', { name: 'Revoke “laptop”?' }).getByRole('button', { name: 'Revoke token' }).click();
    await page.getByText('Revoked “laptop”.').waitFor();
    await table.getByRole('cell', { name: 'script', exact: true }).waitFor();
    assert.equal(await table.getByRole('cell', { name: 'laptop', exact: true }).count(), 0);
    assert.equal((await apiCall(hush.url, 'GET', '/me', { token: env.token })).status, 401);
  });

  await step('signing out everywhere can revoke personal tokens too', async () => {
    const script = await page.getByLabel('New token “script”').inputValue();
    assert.equal((await apiCall(hush.url, 'GET', '/me', { token: script })).status, 200);
    await page.getByLabel('Also revoke all my personal tokens').check();
    await page.getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('dialog', { name: 'Sign out everywhere?' }).getByRole('button', { name: 'Sign out everywhere' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await other.reload();
    await other.getByRole('heading', { name: 'Sign in' }).waitFor();
    assert.equal((await apiCall(hush.url, 'GET', '/me', { token: script })).status, 401);
  });

  assert.deepEqual(page.problems, [], 'no script errors or CSP violations');
  assert.deepEqual(other.problems, []);
  await otherContext.close();
});
