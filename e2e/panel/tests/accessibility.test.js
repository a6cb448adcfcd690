// axe-core on every page and modal state of the panel, in the light and the dark theme: zero
// serious or critical violations. Each step opens one state as a person would (so the check
// sees what a person sees) and runs checkA11y there.

import { test } from 'node:test';
import {
  PASSWORD, SEED, appMenu, checkA11y, createAppWithSecrets, newPage, serverAndBrowser,
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

  await step('a session that ended: the banner', async () => {
    await viewerSession.context.clearCookies();
    await viewer.getByRole('link', { name: 'Apps', exact: true }).click();
    await viewer.getByText('Your session has ended.').waitFor();
    await checkA11y(viewer, 'session ended banner');
  });
});
