// axe-core on every page and modal state of the panel, in the light and the dark theme: zero
// serious or critical violations. Each step opens one state as a person would (so the check
// sees what a person sees) and runs checkA11y there.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, SEED, apiCall, appMenu, checkA11y, createAppWithSecrets, newPage, serverAndBrowser,
  settingsDialog, steps, until,
} from '../lib/harness.js';

const env = serverAndBrowser();

test('every page and modal state passes axe-core', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser);
  const viewerSession = await newPage(browser);
  const viewer = viewerSession.page;
  const dialog = settingsDialog(page, 'web');

  await step('sign-in page before any owner exists', async () => {
    await page.goto(`${hush.url}/login`);
    await page.getByText('This server has no owner yet.').waitFor();
    await checkA11y(page, 'sign-in (no owner yet)');
  });

  await step('setup and join pages without their token', async () => {
    await page.goto(`${hush.url}/setup`);
    await page.getByRole('heading', { name: 'Create the owner account' }).waitFor();
    await checkA11y(page, 'setup without a token');
    await page.goto(`${hush.url}/join`);
    await page.getByRole('heading', { name: 'Join the workspace' }).waitFor();
    await checkA11y(page, 'join without a token');
  });

  await step('the page for an unknown address', async () => {
    await page.goto(`${hush.url}/no/such/page`);
    await page.getByRole('heading', { name: 'Nothing here' }).waitFor();
    await checkA11y(page, '404 page');
  });

  await step('setup form with an error, then the empty workspace', async () => {
    await page.goto(hush.setupLink);
    await page.getByLabel('Name').fill('olivia');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Create owner account' }).click();
    await page.getByText('Use at least 10 characters.').waitFor();
    await checkA11y(page, 'setup form with an error');
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByLabel('Repeat the password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create owner account' }).click();
    await page.getByRole('heading', { name: 'No apps yet' }).waitFor();
    await checkA11y(page, 'workspace without apps');
  });

  await step('New app, Advanced settings (empty, valid, invalid) and the discard question', async () => {
    await page.getByRole('button', { name: 'New app' }).click();
    const newApp = page.getByRole('dialog', { name: 'New app' });
    await newApp.getByLabel('App name').fill('web');
    await checkA11y(page, 'New app');
    await newApp.getByRole('button', { name: 'Advanced settings…' }).click();
    const advanced = page.getByRole('dialog', { name: 'Advanced settings' });
    const editor = advanced.getByLabel('Secrets', { exact: true });
    await editor.waitFor();
    await checkA11y(page, 'Advanced settings, empty');
    await editor.fill('a = "1\n');
    await advanced.locator('.editor-status.error').waitFor();
    await checkA11y(page, 'Advanced settings, invalid TOML');
    await editor.fill(SEED);
    await advanced.getByText('Valid TOML').waitFor();
    await checkA11y(page, 'Advanced settings, valid TOML with preview');
    await page.keyboard.press('Escape');
    await page.getByRole('dialog', { name: 'Discard these secrets?' }).waitFor();
    await checkA11y(page, 'Discard these secrets?');
    await page.getByRole('dialog', { name: 'Discard these secrets?' }).getByRole('button', { name: 'Discard' }).click();
    await page.keyboard.press('Escape');
    await newApp.waitFor({ state: 'detached' });
    await createAppWithSecrets(page, 'web', SEED);
  });

  await step('workspace with an app, its ⋮ menu and the account menu', async () => {
    await checkA11y(page, 'workspace with an app');
    await page.getByRole('button', { name: 'More actions for web' }).click();
    await page.getByRole('menu', { name: 'More actions for web' }).waitFor();
    await checkA11y(page, '⋮ menu open');
    await page.keyboard.press('Escape');
    await page.locator('.account-button').click();
    await page.getByRole('menuitem', { name: 'Sign out everywhere' }).waitFor();
    await checkA11y(page, 'account menu open');
    await page.getByRole('menuitem', { name: 'Sign out everywhere' }).click();
    await page.getByRole('dialog', { name: 'Sign out everywhere?' }).waitFor();
    await checkA11y(page, 'Sign out everywhere?');
    await page.getByRole('dialog', { name: 'Sign out everywhere?' }).getByRole('button', { name: 'Cancel' }).click();
  });

  await step('Settings → Secrets: the editor, an error, a save', async () => {
    await appMenu(page, 'web', 'Settings');
    const editor = dialog.getByLabel('Secrets (TOML)');
    await until(async () => (await editor.inputValue()) === SEED, 'the saved secrets');
    await dialog.getByText('Same keys and values as version 1.').waitFor();
    await checkA11y(page, 'Settings → Secrets (editor)');
    await editor.fill(SEED.replace('"Jane"', '"Jane'));
    await dialog.locator('.editor-status.error').waitFor();
    await checkA11y(page, 'Settings → Secrets with a TOML error');
    await editor.fill(`api_key = "k-1"\n${SEED}`);
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 2.').waitFor();
    await checkA11y(page, 'Settings → Secrets after a save');
  });

  await step('Settings → History: versions, a diff and the rollback question', async () => {
    await dialog.getByRole('tab', { name: 'History' }).click();
    await dialog.getByRole('button', { name: 'Show difference' }).click();
    await dialog.locator('.diff-box').waitFor();
    await checkA11y(page, 'Settings → History with a diff');
    await dialog.getByRole('button', { name: 'Roll back to this version' }).click();
    const confirm = page.getByRole('dialog', { name: 'Roll back to version 1?' });
    await confirm.waitFor();
    await checkA11y(page, 'Roll back to version 1?');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
  });

  await step('Settings → Tokens: the form, a token shown once, the revoke question', async () => {
    await dialog.getByRole('tab', { name: 'Tokens' }).click();
    await dialog.getByRole('button', { name: 'Create token' }).click();
    await dialog.getByText('Name the token after where it is used').waitFor();
    await checkA11y(page, 'Settings → Tokens with a form error');
    await dialog.getByLabel('Token name').fill('production');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    await dialog.getByText('Copy it now').waitFor();
    await checkA11y(page, 'Settings → Tokens, a token shown once');
    await dialog.getByRole('button', { name: 'Revoke token production' }).click();
    const confirm = page.getByRole('dialog', { name: 'Revoke “production”?' });
    await checkA11y(page, 'Revoke “production”?');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('Settings with environments: Add environment (with an error), staging, Effective, Compare, the delete question', async () => {
    await appMenu(page, 'web', 'Settings');
    const envSelect = dialog.getByLabel('Environment', { exact: true });
    await until(async () => (await envSelect.locator('option').count()) === 1, 'the environments');
    await dialog.getByRole('button', { name: 'Add environment…' }).click();
    const add = page.getByRole('dialog', { name: 'Add an environment to web' });
    await add.getByLabel('Environment name').fill('Staging');
    await add.getByRole('button', { name: 'Create environment' }).click();
    await add.getByText('use 1 to 63 lowercase letters').waitFor();
    await checkA11y(page, 'Add an environment, with an error');
    await add.getByLabel('Environment name').fill('staging');
    await add.getByRole('button', { name: 'Create environment' }).click();
    await until(async () => (await envSelect.inputValue()) === 'staging', 'staging shown');
    await dialog.getByRole('heading', { name: 'Secrets of staging' }).waitFor();
    await dialog.getByLabel('Secrets (TOML)').fill('db_password = "other"\nonly_staging = "s"\n');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 1.').waitFor();
    await checkA11y(page, 'Settings → Secrets of staging');
    await dialog.getByRole('tab', { name: 'Tokens' }).click();
    await dialog.getByLabel('Token name').fill('staging-runner');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    await dialog.getByRole('button', { name: 'Done: I stored it' }).click();
    await dialog.getByRole('columnheader', { name: 'Environment' }).waitFor();
    await checkA11y(page, 'Settings → Tokens of staging (with the environment column)');
    await dialog.getByRole('tab', { name: 'Effective' }).click();
    await dialog.getByRole('table', { name: /Where each key/ }).waitFor();
    await checkA11y(page, 'Settings → Effective (no includes)');
    await dialog.getByRole('tab', { name: 'Compare' }).click();
    await dialog.getByRole('button', { name: 'Compare', exact: true }).click();
    await dialog.getByRole('button', { name: 'Show the differing values' }).click();
    await dialog.getByRole('table', { name: /Values that differ/ }).waitFor();
    await checkA11y(page, 'Settings → Compare with values');
    await dialog.getByRole('button', { name: 'Delete staging…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete staging?' });
    await confirm.waitFor();
    await checkA11y(page, 'Delete staging?');
    await confirm.getByRole('button', { name: 'Delete environment' }).click();
    await until(async () => (await envSelect.locator('option').count()) === 1, 'staging deleted');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('Shared documents: the page, a document in the editor with an error, a refused delete', async () => {
    await page.getByRole('link', { name: 'Shared documents' }).click();
    await page.getByRole('heading', { name: 'Shared documents', level: 1 }).waitFor();
    await checkA11y(page, 'Shared documents, none yet');
    await page.getByRole('button', { name: 'Create document' }).click();
    await page.getByText('Give the document a name').waitFor();
    await checkA11y(page, 'Shared documents, a form error');
    await page.getByLabel('Document name').fill('common-db');
    await page.getByRole('button', { name: 'Create document' }).click();
    const editor = page.getByLabel('common-db (TOML)');
    await editor.fill('db_host = "db\n');
    await page.locator('.editor-status.error').waitFor();
    await checkA11y(page, 'Shared document with a TOML error');
    await editor.fill('db_host = "db.internal"\n');
    await page.getByRole('button', { name: 'Save document' }).click();
    await page.getByText('Saved version 1 of common-db.').waitFor();
    await checkA11y(page, 'Shared document saved, with its history');
    await page.getByRole('button', { name: 'Delete common-db' }).click();
    await page.getByRole('dialog', { name: 'Delete common-db?' }).waitFor();
    await checkA11y(page, 'Delete common-db?');
    await page.getByRole('dialog', { name: 'Delete common-db?' }).getByRole('button', { name: 'Cancel' }).click();
  });

  await step('Members: the table, an invitation link, the remove question', async () => {
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('heading', { name: 'Members', level: 1 }).waitFor();
    await page.getByRole('cell', { name: /olivia/ }).first().waitFor();
    await checkA11y(page, 'Members');
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await page.getByLabel('Invitation link for one viewer').inputValue();
    await checkA11y(page, 'Members with an invitation link');
    await viewer.goto(link);
    await viewer.getByRole('heading', { name: 'Join the workspace' }).waitFor();
    await checkA11y(viewer, 'join form');
    await viewer.getByLabel('Name').fill('victor');
    await viewer.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await viewer.getByLabel('Repeat the password').fill(PASSWORD);
    await viewer.getByRole('button', { name: 'Join' }).click();
    await viewer.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Remove victor' }).click();
    await page.getByRole('dialog', { name: 'Remove victor?' }).waitFor();
    await checkA11y(page, 'Remove victor?');
    await page.getByRole('dialog', { name: 'Remove victor?' }).getByRole('button', { name: 'Cancel' }).click();
  });

  await step('the audit log', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByText(/events? shown/).waitFor();
    await checkA11y(page, 'Audit log');
  });

  await step('a viewer: the workspace, masked secrets, history, tokens, members, audit', async () => {
    await viewer.getByRole('listitem').filter({ hasText: 'web' }).getByText('Secrets version 2').waitFor();
    await checkA11y(viewer, 'viewer: workspace');
    await appMenu(viewer, 'web', 'Settings');
    const viewed = settingsDialog(viewer, 'web');
    await viewed.getByLabel('Key names with hidden values').waitFor();
    await checkA11y(viewer, 'viewer: Settings → Secrets (key names)');
    await viewed.getByRole('tab', { name: 'History' }).click();
    await viewed.getByRole('button', { name: 'Show difference' }).click();
    await viewed.locator('.diff-box').waitFor();
    await checkA11y(viewer, 'viewer: Settings → History');
    await viewed.getByRole('tab', { name: 'Tokens' }).click();
    await viewed.getByRole('cell', { name: 'production' }).waitFor();
    await checkA11y(viewer, 'viewer: Settings → Tokens');
    await viewer.keyboard.press('Escape');
    await viewer.getByRole('link', { name: 'Members' }).click();
    await viewer.getByRole('cell', { name: /olivia/ }).waitFor();
    await checkA11y(viewer, 'viewer: Members');
    await viewer.goto(`${hush.url}/audit`);
    await viewer.getByText('Only owners can read the audit log.').waitFor();
    await checkA11y(viewer, 'viewer: Audit log');
  });

  await step('a viewer: staging with a shared document, Effective, Compare, Shared documents', async () => {
    // The owner (through the API) adds staging again, including common-db.
    const token = (await apiCall(hush.url, 'POST', '/auth/token', { body: { name: 'olivia', password: PASSWORD } })).body.token;
    assert.equal((await apiCall(hush.url, 'POST', '/apps/web/envs', { token, body: { name: 'staging' } })).status, 201);
    assert.equal((await apiCall(hush.url, 'PUT', '/apps/web/envs/staging/includes', { token, body: { documents: ['common-db'] } })).status, 200);
    await viewer.getByRole('link', { name: 'Apps', exact: true }).click();
    await appMenu(viewer, 'web', 'Settings');
    const viewed = settingsDialog(viewer, 'web');
    await viewed.getByLabel('Environment', { exact: true }).selectOption('staging');
    await viewed.getByRole('heading', { name: 'Secrets of staging' }).waitFor();
    await checkA11y(viewer, 'viewer: Settings → Secrets of staging');
    await viewed.getByRole('tab', { name: 'Effective' }).click();
    await viewed.getByRole('cell', { name: 'shared document common-db' }).first().waitFor();
    await checkA11y(viewer, 'viewer: Settings → Effective with provenance');
    await viewed.getByRole('tab', { name: 'Compare' }).click();
    await viewed.getByRole('button', { name: 'Compare', exact: true }).click();
    await viewed.getByRole('heading', { name: 'Only in staging' }).waitFor();
    await checkA11y(viewer, 'viewer: Settings → Compare, values masked');
    await viewer.keyboard.press('Escape');
    await viewed.waitFor({ state: 'detached' });
    await viewer.getByRole('link', { name: 'Shared documents' }).click();
    await viewer.getByRole('button', { name: 'common-db', exact: true }).click();
    await viewer.getByRole('list', { name: 'Keys of common-db' }).waitFor();
    await checkA11y(viewer, 'viewer: a shared document (key names)');
  });

  await step('a session that ended: the banner', async () => {
    await viewerSession.context.clearCookies();
    await viewer.getByRole('link', { name: 'Apps', exact: true }).click();
    await viewer.getByText('Your session has ended.').waitFor();
    await checkA11y(viewer, 'session ended banner');
  });
});
