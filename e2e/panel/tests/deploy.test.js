// On a server started with --apps-dir, "New app" becomes "Deploy an app": folder, command
// (default `streamlit run streamlit_app.py`) and port, with mistakes explained in place.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkA11y, newPage, serverAndBrowser, setupOwner, steps } from '../lib/harness.js';

const env = serverAndBrowser({ apps: (dir) => mkdirSync(join(dir, 'sales')) });

test('an owner deploys a server-launched app', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser);

  await step('"New app" asks for the folder, command and port', async () => {
    await setupOwner(page, hush.setupLink);
    await page.getByRole('button', { name: 'New app' }).click();
    const dialog = page.getByRole('dialog', { name: 'Deploy an app' });
    assert.equal(await dialog.getByLabel('Command').inputValue(), 'streamlit run streamlit_app.py');
    await dialog.getByRole('button', { name: 'Create' }).waitFor();
    await dialog.getByLabel('App name').fill('sales');
    await dialog.getByLabel('Folder').fill('../elsewhere');
    await dialog.getByRole('button', { name: 'Deploy' }).click();
    await dialog.getByRole('alert').filter({ hasText: 'launch.folder' }).waitFor();
    await checkA11y(page, 'Deploy an app: a launch error');
    await dialog.getByLabel('Folder').fill('sales');
    await dialog.getByLabel('Port').fill('8501');
    await dialog.getByRole('button', { name: 'Deploy' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.getByRole('listitem').filter({ hasText: 'sales' }).first();
    await row.getByText('Started by hush: streamlit run streamlit_app.py in sales on port 8501').waitFor();
    await row.getByText('No secrets yet').waitFor();
  });

  await step('⋮ → Delete app… asks first, then the app is gone', async () => {
    await page.getByRole('button', { name: 'More actions for sales' }).click();
    await page.getByRole('menuitem', { name: 'Delete app…' }).click();
    const confirm = page.getByRole('dialog', { name: 'Delete sales?' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('listitem').filter({ hasText: 'sales' }).first().waitFor();
    await page.getByRole('button', { name: 'More actions for sales' }).click();
    await page.getByRole('menuitem', { name: 'Delete app…' }).click();
    await confirm.waitFor();
    await checkA11y(page, 'Delete sales?');
    await confirm.getByRole('button', { name: 'Delete app' }).click();
    await page.getByRole('heading', { name: 'No apps yet' }).waitFor();
  });

  assert.deepEqual(page.problems, []);
});
