// Single sign-on in a real browser: hush's sign-in page offers the provider (oidc-provider from
// npm, e2e/oidc/provider.js, on loopback); clicking it goes through the provider's sign-in form
// and back, and lands signed in as a new member whose group maps to editor; the account page
// shows the linked identity. An invited person joins from the invitation link through the
// provider, with the invitation's role. A person from
// another email domain is refused with a page that says why.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  PASSWORD, REPO, apiCall, checkA11y, freePort, launchBrowser, newPage, screenshot, setupOwner, startHush, steps,
} from '../lib/harness.js';

const env = { hush: null, browser: null, provider: null, issuer: null };

function startProvider(port, redirect) {
  const child = spawn('node', ['provider.js'], {
    cwd: join(REPO, 'e2e/oidc'),
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, OIDC_PORT: String(port), OIDC_REDIRECT_URIS: redirect, OIDC_CLIENT_ID: 'hush', OIDC_CLIENT_SECRET: 'e2e-secret' },
  });
  if (process.env.E2E_PID_FILE) appendFileSync(process.env.E2E_PID_FILE, `${child.pid}\n`);
  return new Promise((ok, fail) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes(`listening on ${port}`)) ok(child);
    });
    child.on('exit', (code) => fail(new Error(`the OpenID provider exited (${code})`)));
  });
}

before(async () => {
  const port = await freePort();
  env.issuer = `http://127.0.0.1:${port}`;
  env.hush = await startHush({
    args: [
      '--oidc-issuer', `http://127.0.0.1:${port}`, '--oidc-client-id', 'hush', '--oidc-client-secret', 'e2e-secret',
      '--oidc-name', 'Test provider', '--oidc-allowed-domains', 'example.com', '--oidc-role-claim', 'groups',
      '--oidc-role', 'owners=owner', '--oidc-role', 'devs=editor', '--oidc-create-users', 'true',
    ],
  });
  env.provider = await startProvider(port, `${env.hush.url}/api/v1/auth/sso/callback`);
  env.browser = await launchBrowser();
});

after(async () => {
  await env.browser?.close();
  await env.hush?.stop();
  env.provider?.kill();
});

test('signing in with the identity provider lands signed in, with the role the groups give', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page: ownerPage } = await newPage(browser);
  await setupOwner(ownerPage, hush.setupLink, 'olivia');
  const { page } = await newPage(browser);

  await step('the sign-in page offers the provider', async () => {
    await page.goto(`${hush.url}/login`);
    await page.getByRole('link', { name: 'Sign in with Test provider' }).waitFor();
    await checkA11y(page, 'Sign in with SSO offered');
    await screenshot(page, 'sso-sign-in');
  });

  await step('the provider asks who; hush lands signed in as a new editor', async () => {
    await page.getByRole('link', { name: 'Sign in with Test provider' }).click();
    await page.getByLabel('Email').fill('alice@example.com');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'alice@example.com · editor' }).waitFor();
    assert.equal(new URL(page.url()).origin, hush.url);
  });

  await step('the account page shows the linked identity', async () => {
    await page.getByRole('button', { name: 'alice@example.com · editor' }).click();
    await page.getByRole('menuitem', { name: 'Account settings' }).click();
    await page.getByRole('heading', { name: 'Single sign-on', level: 2 }).waitFor();
    await page.getByText(`at ${env.issuer}, since`).waitFor();
    await checkA11y(page, 'Account with a linked SSO identity');
    await screenshot(page, 'sso-account');
  });

  await step('an invited person joins through the provider from the invitation link, with its role', async () => {
    const login = await apiCall(hush.url, 'POST', '/auth/token', { body: { name: 'olivia', password: PASSWORD } });
    const invite = await apiCall(hush.url, 'POST', '/invites', { token: login.body.token, body: { role: 'editor' } });
    assert.equal(invite.status, 201);
    const { page: bob } = await newPage(browser);
    await bob.goto(invite.body.url);
    await bob.getByRole('button', { name: 'Join with Test provider' }).waitFor();
    await checkA11y(bob, 'Invitation with SSO offered');
    await bob.getByRole('button', { name: 'Join with Test provider' }).click();
    await bob.getByLabel('Email').fill('bob@example.com');
    await bob.getByRole('button', { name: 'Continue' }).click();
    // bob's groups map to nothing (viewer); the invitation makes him an editor.
    await bob.getByRole('button', { name: 'bob@example.com · editor' }).waitFor();
  });

  await step('someone from another domain is refused with a page that says why', async () => {
    const { page: eve } = await newPage(browser);
    await eve.goto(`${hush.url}/login`);
    await eve.getByRole('link', { name: 'Sign in with Test provider' }).click();
    await eve.getByLabel('Email').fill('eve@elsewhere.test');
    await eve.getByRole('button', { name: 'Continue' }).click();
    await eve.getByRole('heading', { name: 'Sign-in refused' }).waitFor();
    await eve.getByText('only addresses at example.com may').waitFor();
    await checkA11y(eve, 'SSO refusal');
  });
});
