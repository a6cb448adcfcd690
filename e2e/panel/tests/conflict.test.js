// Two people edit the same app's secrets at once: the second save is refused with who saved
// which version and the key-level difference, nothing typed is lost, and after review the
// second person saves on top of the newest version.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, appMenu, checkA11y, createAppWithSecrets, newPage, serverAndBrowser, settingsDialog,
  setupOwner, steps, until,
} from '../lib/harness.js';

const env = serverAndBrowser();

test('a conflict between two browsers loses nothing', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const owner = await newPage(browser);
  const editor = await newPage(browser);
  const a = owner.page;
  const b = editor.page;

  await step('the owner sets up hush, creates an app and invites an editor', async () => {
    await setupOwner(a, hush.setupLink, 'olivia');
    await createAppWithSecrets(a, 'web', 'a = "1"\nshared = "x"\n');
    await a.getByRole('link', { name: 'Members' }).click();
    await a.getByLabel('Role', { exact: true }).selectOption('editor');
    await a.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await a.getByLabel('Invitation link for one editor').inputValue();
    assert.match(link, /\/join#hush_inv_/);
    await b.goto(link);
    await b.getByRole('heading', { name: 'Join the workspace' }).waitFor();
    // The page says what the link is for before anyone types a password.
    await b.getByText(/You were invited by olivia to join as editor/).waitFor();
    await b.getByLabel('Name').fill('edith');
    await b.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await b.getByLabel('Repeat the password').fill(PASSWORD);
    await b.getByRole('button', { name: 'Join' }).click();
    await b.getByText('edith · editor').waitFor();
    await a.getByRole('link', { name: 'Apps', exact: true }).click();
  });

  const textOf = (page) => settingsDialog(page, 'web').getByLabel('Secrets (TOML)');
  const mine = 'a = "1"\nshared = "edith was here"\nnew_key = "from edith"\n';

  await step('both open the editor; the editor starts typing', async () => {
    for (const page of [a, b]) {
      await appMenu(page, 'web', 'Settings');
      await until(async () => (await textOf(page).inputValue()).includes('shared'), 'the secrets');
    }
    await textOf(b).fill(mine);
  });

  await step('the owner saves first; the editor is told live', async () => {
    await textOf(a).fill('a = "2"\nshared = "x"\n');
    await settingsDialog(a, 'web').getByLabel('Describe the change').fill('bump a');
    await settingsDialog(a, 'web').getByRole('button', { name: 'Save', exact: true }).click();
    await settingsDialog(a, 'web').getByText('Saved version 2.').waitFor();
    await settingsDialog(b, 'web').getByText('Version 2 was just saved by olivia.').waitFor();
    await checkA11y(b, 'Secrets: someone else just saved');
    assert.equal(await textOf(b).inputValue(), mine, 'the live notice does not touch the text');
  });

  await step('the editor’s save is refused with who, which version and what changed', async () => {
    const dialog = settingsDialog(b, 'web');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    const conflict = dialog.locator('.conflict');
    await conflict.getByText('Not saved: someone else saved meanwhile').waitFor();
    await conflict.getByText(/version 2 by olivia was saved/).waitFor();
    await conflict.getByText('What changed from version 1 to version 2:').waitFor();
    await conflict.locator('.diff-changed', { hasText: 'a' }).waitFor();
    assert.equal(await textOf(b).inputValue(), mine, 'nothing typed is lost');
    const preview = dialog.getByRole('region', { name: 'Before you save' });
    await preview.getByText('Changes from saved version 2').waitFor();
    await preview.locator('.diff-added', { hasText: 'new_key' }).waitFor();
    await checkA11y(b, 'Secrets: a refused save (conflict)');
  });

  await step('loading the newest version keeps a copy of the text; putting it back works', async () => {
    const dialog = settingsDialog(b, 'web');
    await dialog.getByRole('button', { name: 'Load version 2 (keep a copy of my text)' }).click();
    await until(async () => (await textOf(b).inputValue()) === 'a = "2"\nshared = "x"\n', 'version 2 in the editor');
    assert.equal(await dialog.getByLabel(/Your unsaved text/).inputValue(), mine);
    await checkA11y(b, 'Secrets: the newest version loaded, a copy of my text kept');
    await dialog.getByRole('button', { name: 'Put my text back in the editor' }).click();
    await until(async () => (await textOf(b).inputValue()) === mine, 'the text back in the editor');
  });

  await step('after review, the editor saves on top of the newest version', async () => {
    const dialog = settingsDialog(b, 'web');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 3.').waitFor();
    // The owner's open editor was not being edited, so it follows the newest version.
    await settingsDialog(a, 'web').getByText('Version 3 was just saved by edith').waitFor();
    await until(async () => (await textOf(a).inputValue()) === mine, 'the owner’s editor showing version 3');
  });

  assert.deepEqual(a.problems, []);
  assert.deepEqual(b.problems, []);
});
