// Environments and shared documents in the panel, as people use them: an owner adds staging
// to an app (bad and taken names refused with the server's words), edits it and finds
// production untouched; creates a shared document, includes it in staging and sees where each
// key comes from; compares the two environments; a viewer sees key names and masked values and
// no control that changes anything; an editor edits but cannot delete; an owner makes the viewer
// an editor of one document (who then edits it) and the editor a viewer of it (who then sees no
// editor); the server refuses to delete a document still included, and the panel says why.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PASSWORD, SEED, apiCall, appMenu, checkA11y, createAppWithSecrets, newPage, screenshot, serverAndBrowser,
  settingsDialog, setupOwner, signIn, steps, typeInEditor, until,
} from '../lib/harness.js';

const env = serverAndBrowser();

const STAGING = 'db_password = "staging-pass"\nonly_staging = 1\n';
const COMMON = 'db_host = "db.internal"\ndb_password = "shared-pass"\n';

/** A member with `role`, joined through an invitation (the API, as the Members page does). */
async function addMember(url, ownerToken, name, role) {
  const invite = await apiCall(url, 'POST', '/invites', { token: ownerToken, body: { role } });
  const joined = await apiCall(url, 'POST', '/auth/accept', {
    body: { token: invite.body.url.split('#')[1], name, password: PASSWORD },
  });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
}

test('environments, shared documents, provenance and compare in the panel', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser);
  const dialog = settingsDialog(page, 'web');
  const envSelect = dialog.getByLabel('Environment', { exact: true });
  let ownerToken = null;
  let stagingToken = null;

  await step('the owner creates web with the seed secrets, as before', async () => {
    await setupOwner(page, hush.setupLink, 'olivia');
    await createAppWithSecrets(page, 'web', SEED);
    ownerToken = (await apiCall(hush.url, 'POST', '/auth/token', { body: { name: 'olivia', password: PASSWORD } })).body.token;
    await addMember(hush.url, ownerToken, 'erin', 'editor');
    await addMember(hush.url, ownerToken, 'victor', 'viewer');
  });

  await step('Add environment refuses an invalid and a taken name with the server’s words', async () => {
    await appMenu(page, 'web', 'Settings');
    await until(async () => (await dialog.getByLabel('Secrets (TOML)').inputValue()) === SEED, 'the production secrets');
    assert.equal(await envSelect.inputValue(), 'production');
    assert.equal(await dialog.getByRole('button', { name: /^Delete/ }).count(), 0, 'production cannot be deleted');
    await dialog.getByRole('button', { name: 'Add environment…' }).click();
    const add = page.getByRole('dialog', { name: 'Add an environment to web' });
    await add.getByLabel('Environment name').fill('Staging');
    await add.getByRole('button', { name: 'Create environment' }).click();
    await add.getByText('use 1 to 63 lowercase letters, digits').waitFor();
    await add.getByLabel('Environment name').fill('production');
    await add.getByRole('button', { name: 'Create environment' }).click();
    await add.getByText('The app already has an environment named "production"').waitFor();
    assert.equal(await add.getByLabel('Environment name').getAttribute('aria-invalid'), 'true');
    await add.getByLabel('Environment name').fill('staging');
    await add.getByRole('button', { name: 'Create environment' }).click();
    await add.waitFor({ state: 'detached' });
    await until(async () => (await envSelect.inputValue()) === 'staging', 'staging shown');
    await dialog.getByRole('heading', { name: 'Secrets of staging' }).waitFor();
    await until(async () => (await dialog.getByLabel('Secrets (TOML)').inputValue()) === '', 'staging starts empty');
  });

  await step('the owner edits staging; switching back shows production unchanged', async () => {
    await typeInEditor(page, STAGING);
    await dialog.getByText('Valid TOML').waitFor();
    // The live check compares with staging's saved text (none yet), not production's version 1.
    await dialog.getByRole('heading', { name: 'Changes', exact: true }).waitFor();
    assert.equal(await dialog.getByRole('heading', { name: 'Changes from saved version 1' }).count(), 0);
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 1.').waitFor();
    await envSelect.selectOption('production');
    await dialog.getByRole('heading', { name: 'Secrets', exact: true }).waitFor();
    await until(async () => (await dialog.getByLabel('Secrets (TOML)').inputValue()) === SEED, 'production’s own text');
    const prod = await apiCall(hush.url, 'GET', '/apps/web/secrets', { token: ownerToken });
    assert.equal(prod.body.version, 1);
    assert.equal(prod.body.toml, SEED);
    const staging = await apiCall(hush.url, 'GET', '/apps/web/envs/staging/secrets', { token: ownerToken });
    assert.equal(staging.body.toml, STAGING);
  });

  await step('staging’s history and tokens are its own; the token list names the environment', async () => {
    await envSelect.selectOption('staging');
    await dialog.getByRole('tab', { name: 'History' }).click();
    await dialog.getByRole('list', { name: 'Versions, newest first' }).getByText('Version 1').waitFor();
    assert.equal(await dialog.getByRole('list', { name: 'Versions, newest first' }).getByRole('listitem').count(), 1);
    await dialog.getByRole('tab', { name: 'Tokens' }).click();
    await dialog.getByRole('heading', { name: 'Tokens of staging' }).waitFor();
    await dialog.getByLabel('Token name').fill('staging-runner');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    stagingToken = await dialog.getByLabel('Token', { exact: true }).inputValue();
    const command = await dialog.getByLabel('Start your app with').inputValue();
    assert.match(command, /hush run --app web --env staging /);
    await dialog.getByRole('button', { name: 'Done: I stored it' }).click();
    const table = dialog.getByRole('table', { name: 'Tokens of web in staging' });
    await table.getByRole('columnheader', { name: 'Environment' }).waitFor();
    await table.getByRole('row', { name: /staging-runner/ }).getByRole('cell', { name: 'staging', exact: true }).waitFor();
    // Production's tab lists production's tokens only.
    await envSelect.selectOption('production');
    await dialog.getByRole('heading', { name: 'Tokens', exact: true }).waitFor();
    await dialog.getByText('No tokens yet.').waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('the owner creates a shared document; a TOML error shows its line and column', async () => {
    await page.getByRole('link', { name: 'Shared documents' }).click();
    await page.getByRole('heading', { name: 'Shared documents', level: 1 }).waitFor();
    await page.getByLabel('Document name').fill('Common DB');
    await page.getByRole('button', { name: 'Create document' }).click();
    await page.getByText('use 1 to 63 lowercase letters').waitFor();
    await page.getByLabel('Document name').fill('common-db');
    await page.getByRole('button', { name: 'Create document' }).click();
    const editor = page.getByLabel('common-db (TOML)');
    await editor.waitFor();
    await editor.fill('db_host = "db.internal\n');
    await page.getByText(/Line 1, column \d+/).waitFor();
    await editor.fill(COMMON);
    await page.getByText('Valid TOML').waitFor();
    await page.getByLabel('Describe the change').fill('The shared database');
    await page.getByRole('button', { name: 'Save document' }).click();
    await page.getByText('Saved version 1 of common-db.').waitFor();
    await page.getByRole('list', { name: 'Versions of common-db, newest first' }).getByText('The shared database').waitFor();
    await screenshot(page, 'shared-documents');
  });

  await step('a stale save of the shared document gets the conflict, and can go on top', async () => {
    const editor = page.getByLabel('common-db (TOML)');
    const meanwhile = await apiCall(hush.url, 'PUT', '/shared/common-db', {
      token: ownerToken, body: { toml: `${COMMON}db_port = 5432\n`, base_version: 1 },
    });
    assert.equal(meanwhile.status, 200, JSON.stringify(meanwhile.body));
    await editor.fill(`${COMMON}db_name = "app"\n`);
    await page.getByRole('button', { name: 'Save document' }).click();
    await page.getByText('Not saved: someone else saved meanwhile').waitFor();
    await page.getByRole('button', { name: 'Save my text as version 3' }).click();
    await page.getByText('Saved version 3 of common-db.').waitFor();
  });

  await step('staging includes the document; the Effective tab shows where each key comes from', async () => {
    // A document that another owner deletes while this page still offers it.
    assert.equal((await apiCall(hush.url, 'POST', '/shared', { token: ownerToken, body: { name: 'gone-doc' } })).status, 201);
    await page.goto(`${hush.url}/apps/web`);
    await envSelect.waitFor();
    await envSelect.selectOption('staging');
    await dialog.getByRole('tab', { name: 'Effective' }).click();
    await dialog.getByText('staging includes no shared document.').waitFor();
    const offered = dialog.getByLabel('Shared document to include');
    await offered.selectOption('gone-doc');
    assert.equal((await apiCall(hush.url, 'DELETE', '/shared/gone-doc', { token: ownerToken })).status, 204);
    await dialog.getByRole('button', { name: 'Include', exact: true }).click();
    await dialog.getByText('Not changed: no shared document named "gone-doc"').waitFor();
    await until(async () => !(await offered.locator('option').allTextContents()).includes('gone-doc'), 'gone-doc no longer offered');
    await dialog.getByText('staging includes no shared document.').waitFor();
    await offered.selectOption('common-db');
    await dialog.getByRole('button', { name: 'Include', exact: true }).click();
    const includes = dialog.getByRole('list', { name: 'Shared documents staging includes, in order' });
    await includes.getByRole('listitem').filter({ hasText: 'common-db' }).waitFor();
    const table = dialog.getByRole('table', { name: 'Where each key of staging\'s effective secrets comes from' });
    const row = (key) => table.getByRole('row').filter({ has: page.getByRole('cell', { name: key, exact: true }) });
    await row('db_host').getByRole('cell', { name: 'shared document common-db' }).first().waitFor();
    await row('db_password').getByRole('cell', { name: 'staging\'s own secrets' }).waitFor();
    await row('db_password').getByRole('cell', { name: 'common-db', exact: true }).waitFor();
    await row('only_staging').getByRole('cell', { name: 'staging\'s own secrets' }).waitFor();
    const text = await table.textContent();
    for (const secret of ['db.internal', 'staging-pass', 'shared-pass']) assert.ok(!text.includes(secret), `${secret} is masked`);
    // Order decides: the later document wins a root key, and moving it up hands the key back.
    assert.equal((await apiCall(hush.url, 'POST', '/shared', { token: ownerToken, body: { name: 'api-keys', toml: 'db_host = "keys-host"\n' } })).status, 201);
    await dialog.getByRole('tab', { name: 'History' }).click();
    await dialog.getByRole('tab', { name: 'Effective' }).click();
    await offered.selectOption('api-keys');
    await dialog.getByRole('button', { name: 'Include', exact: true }).click();
    await until(async () => (await includes.getByRole('code').allTextContents()).join() === 'common-db,api-keys', 'api-keys after common-db');
    await row('db_host').getByRole('cell', { name: 'shared document api-keys' }).waitFor();
    await row('db_host').getByRole('cell', { name: 'common-db', exact: true }).waitFor();
    assert.ok(await dialog.getByRole('button', { name: 'Move api-keys down' }).isDisabled());
    await dialog.getByRole('button', { name: 'Move api-keys up' }).click();
    await until(async () => (await includes.getByRole('code').allTextContents()).join() === 'api-keys,common-db', 'api-keys first');
    await until(() => dialog.getByRole('button', { name: 'Move api-keys down' }).evaluate((el) => el === document.activeElement), 'focus stays with api-keys');
    await row('db_host').getByRole('cell', { name: 'shared document common-db' }).waitFor();
    await row('db_host').getByRole('cell', { name: 'api-keys', exact: true }).waitFor();
    await screenshot(page, 'environment-effective');
    const stored = await apiCall(hush.url, 'GET', '/apps/web/envs/staging/includes', { token: ownerToken });
    assert.deepEqual(stored.body.documents, ['api-keys', 'common-db']);
    await dialog.getByRole('button', { name: 'Remove api-keys' }).click();
    await until(async () => (await includes.getByRole('code').allTextContents()).join() === 'common-db', 'api-keys removed');
    assert.equal((await apiCall(hush.url, 'DELETE', '/shared/api-keys', { token: ownerToken })).status, 204);
    // The editor still edits staging's own text, not the merge.
    await dialog.getByRole('tab', { name: 'Secrets' }).click();
    await until(async () => (await dialog.getByLabel('Secrets (TOML)').inputValue()) === STAGING, 'staging’s own text');
    // Running copies report revisions (own version plus shared changes): one on the old one is behind.
    const envs = await apiCall(hush.url, 'GET', '/apps/web/envs', { token: ownerToken });
    const { revision } = envs.body.envs.find((e) => e.name === 'staging');
    assert.ok(revision > 1, `including a document moved staging's revision on (${revision})`);
    await dialog.getByText(`revision ${revision}, counting changes of included shared documents`).waitFor();
    const report = (applied, pair) => apiCall(hush.url, 'POST', '/apps/web/envs/staging/instances', {
      token: stagingToken, body: { instance_id: 's-1', hostname: 'staging-1', applied_version: applied, ...(pair ? { applied: pair } : {}) },
    });
    assert.equal((await report(1)).status, 204);
    const copies = dialog.getByRole('region', { name: 'Running copies' });
    await copies.getByText(`1 running copy · 0 of 1 on version ${revision}, 1 updating`).waitFor();
    // A copy also reports the version pair behind its revision; the list shows it.
    const own = envs.body.envs.find((e) => e.name === 'staging').version;
    const shared = (await apiCall(hush.url, 'GET', '/shared/common-db', { token: ownerToken })).body.version;
    assert.equal((await report(revision, { version: own, shared: [{ name: 'common-db', version: shared }] })).status, 204);
    await copies.getByText(`1 running copy · all on version ${revision}`).waitFor();
    await copies.getByText(`(own version ${own}, common-db version ${shared})`, { exact: false }).waitFor();
  });

  await step('Compare shows keys only in one environment and those that differ', async () => {
    await dialog.getByRole('tab', { name: 'Compare' }).click();
    assert.equal(await dialog.getByLabel('First environment').inputValue(), 'staging');
    assert.equal(await dialog.getByLabel('Second environment').inputValue(), 'production');
    await dialog.getByRole('button', { name: 'Compare', exact: true }).click();
    const box = dialog.getByRole('tabpanel', { name: 'Compare' }).locator('.compare-result');
    await box.getByRole('heading', { name: 'Only in staging' }).waitFor();
    const listAfter = (heading) => box.getByRole('heading', { name: heading }).locator('xpath=following-sibling::*[1]');
    assert.deepEqual((await listAfter('Only in staging').getByRole('listitem').allTextContents()).sort(), ['db_host', 'db_name', 'only_staging']);
    assert.deepEqual((await listAfter('Only in production').getByRole('listitem').allTextContents()).sort(), ['db_username', 'my_cool_secrets.things_i_like']);
    assert.deepEqual(await listAfter('In both, with different values').getByRole('listitem').allTextContents(), ['db_password']);
    assert.ok(!(await box.textContent()).includes('12345qwerty'), 'values stay hidden until asked for');
    await box.getByRole('button', { name: 'Show the differing values' }).click();
    const values = box.getByRole('table', { name: 'Values that differ between staging and production' });
    await values.getByRole('cell', { name: 'staging-pass' }).waitFor();
    await values.getByRole('cell', { name: '12345qwerty' }).waitFor();
    await screenshot(page, 'environment-compare');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('deleting a shared document still included is refused with the server’s message', async () => {
    await page.getByRole('link', { name: 'Shared documents' }).click();
    await page.getByRole('row', { name: /common-db/ }).getByRole('cell', { name: 'web/staging' }).waitFor();
    await page.getByRole('button', { name: 'Delete common-db' }).click();
    await page.getByRole('dialog', { name: 'Delete common-db?' }).getByRole('button', { name: 'Delete document' }).click();
    await page.getByText(/Not deleted: .*still included by web\/staging/).waitFor();
    const still = await apiCall(hush.url, 'GET', '/shared', { token: ownerToken });
    assert.deepEqual(still.body.documents.map((d) => d.name), ['common-db']);
  });

  await step('a viewer sees key names and masked values, and no control that changes anything', async () => {
    const { page: viewer } = await newPage(browser);
    await signIn(viewer, hush.url, 'victor');
    await viewer.goto(`${hush.url}/apps/web`);
    const seen = settingsDialog(viewer, 'web');
    const select = seen.getByLabel('Environment', { exact: true });
    await select.selectOption('staging');
    await seen.getByLabel('Key names with hidden values').getByText('only_staging').waitFor();
    for (const control of ['Add environment…', 'Delete staging…', 'Save']) {
      assert.equal(await seen.getByRole('button', { name: control }).count(), 0, `no ${control}`);
    }
    assert.equal(await seen.getByLabel('Secrets (TOML)').count(), 0);
    await seen.getByRole('tab', { name: 'Effective' }).click();
    await seen.getByRole('table', { name: /Where each key/ }).getByRole('cell', { name: 'shared document common-db' }).first().waitFor();
    assert.equal(await seen.getByRole('button', { name: 'Include' }).count(), 0);
    assert.equal(await seen.getByRole('button', { name: /Remove|Move/ }).count(), 0);
    assert.equal(await seen.getByText('Show the effective TOML').count(), 0);
    await seen.getByRole('tab', { name: 'Compare' }).click();
    await seen.getByRole('button', { name: 'Compare', exact: true }).click();
    await seen.getByRole('tabpanel', { name: 'Compare' }).locator('.compare-result').getByText('Values are shown only to editors and owners.').waitFor();
    assert.equal(await seen.getByRole('button', { name: 'Show the differing values' }).count(), 0);
    await viewer.keyboard.press('Escape');
    await viewer.getByRole('link', { name: 'Shared documents' }).click();
    await viewer.getByRole('button', { name: 'common-db', exact: true }).click();
    await viewer.getByRole('list', { name: 'Keys of common-db' }).getByText('db_password').waitFor();
    assert.equal(await viewer.getByLabel('common-db (TOML)').count(), 0);
    assert.equal(await viewer.getByRole('button', { name: /Delete|Create document|Save document/ }).count(), 0);
    const html = await viewer.content();
    for (const secret of ['staging-pass', 'shared-pass', 'db.internal', '12345qwerty']) assert.ok(!html.includes(secret), `${secret} never reaches a viewer`);
    assert.deepEqual(viewer.problems, []);
  });

  await step('an editor edits staging and the shared document but deletes nothing', async () => {
    const { page: editor } = await newPage(browser);
    await signIn(editor, hush.url, 'erin');
    await editor.goto(`${hush.url}/apps/web`);
    const seen = settingsDialog(editor, 'web');
    await seen.getByLabel('Environment', { exact: true }).selectOption('staging');
    await until(async () => (await seen.getByLabel('Secrets (TOML)').inputValue()) === STAGING, 'staging’s text for the editor');
    assert.equal(await seen.getByRole('button', { name: /Delete staging|Add environment/ }).count(), 0);
    await seen.getByRole('tab', { name: 'Effective' }).click();
    await seen.getByText('Owners choose which shared documents an environment includes.').waitFor();
    await editor.keyboard.press('Escape');
    await editor.getByRole('link', { name: 'Shared documents' }).click();
    await editor.getByRole('button', { name: 'common-db', exact: true }).click();
    await editor.getByLabel('common-db (TOML)').waitFor();
    assert.equal(await editor.getByRole('button', { name: /^Delete/ }).count(), 0);
    // The server says no as well, whatever the page shows.
    const erin = (await apiCall(hush.url, 'POST', '/auth/token', { body: { name: 'erin', password: PASSWORD } })).body.token;
    assert.equal((await apiCall(hush.url, 'DELETE', '/apps/web/envs/staging', { token: erin })).status, 403);
    assert.equal((await apiCall(hush.url, 'DELETE', '/shared/common-db', { token: erin })).status, 403);
    assert.equal((await apiCall(hush.url, 'PUT', '/apps/web/envs/staging/includes', { token: erin, body: { documents: [] } })).status, 403);
    assert.deepEqual(editor.problems, []);
  });

  await step('the owner makes the viewer an editor of common-db and the editor a viewer of it', async () => {
    await page.getByRole('link', { name: 'Shared documents' }).click();
    await page.getByRole('button', { name: 'Roles on common-db' }).click();
    const roles = page.getByRole('dialog', { name: 'Roles on common-db' });
    const table = roles.getByRole('table', { name: 'Members\' roles on common-db' });
    await table.getByRole('row', { name: /olivia/ }).getByText('owner (every document)').waitFor();
    const victorRole = roles.getByLabel('Role of victor on common-db');
    assert.equal(await victorRole.inputValue(), '', 'the workspace role until one is set');
    await checkA11y(page, 'Roles on a shared document');
    await victorRole.selectOption('editor');
    await page.getByText('victor is now editor on common-db.').waitFor();
    await roles.getByLabel('Role of erin on common-db').selectOption('viewer');
    await page.getByText('erin is now viewer on common-db.').waitFor();
    await page.keyboard.press('Escape');
    await roles.waitFor({ state: 'detached' });
    const stored = await apiCall(hush.url, 'GET', '/shared/common-db/roles', { token: ownerToken });
    assert.deepEqual(stored.body.roles.map((r) => [r.member, r.role]), [['erin', 'viewer'], ['victor', 'editor']]);

    // The workspace viewer edits and saves the one document.
    const { page: victor } = await newPage(browser);
    await signIn(victor, hush.url, 'victor');
    await victor.getByRole('link', { name: 'Shared documents' }).click();
    await victor.getByRole('button', { name: 'common-db', exact: true }).click();
    const editor = victor.getByLabel('common-db (TOML)');
    await until(async () => (await editor.inputValue()).startsWith(COMMON), 'common-db’s text for victor');
    await editor.fill(`${COMMON}db_name = "app"\ndb_user = "victor"\n`);
    await victor.getByText('Valid TOML').waitFor();
    await victor.getByRole('button', { name: 'Save document' }).click();
    await victor.getByText('Saved version 4 of common-db.').waitFor();
    assert.equal(await victor.getByRole('button', { name: /^Delete|^Roles on/ }).count(), 0, 'still no owner controls');
    assert.deepEqual(victor.problems, []);

    // The workspace editor sees key names only, and no control that changes it.
    const { page: erin } = await newPage(browser);
    await signIn(erin, hush.url, 'erin');
    await erin.getByRole('link', { name: 'Shared documents' }).click();
    await erin.getByRole('button', { name: 'common-db', exact: true }).click();
    await erin.getByRole('list', { name: 'Keys of common-db' }).getByText('db_user').waitFor();
    assert.equal(await erin.getByLabel('common-db (TOML)').count(), 0);
    assert.equal(await erin.getByRole('button', { name: 'Save document' }).count(), 0);
    assert.ok(!(await erin.content()).includes('shared-pass'), 'no value reaches a viewer of the document');
    assert.deepEqual(erin.problems, []);
  });

  await step('a shared save that would make staging invalid is refused, naming it', async () => {
    const big = (key, n) => `${key} = "${'x'.repeat(n)}"\n`;
    const own = await apiCall(hush.url, 'PUT', '/apps/web/envs/staging/secrets', {
      token: ownerToken, body: { toml: `${STAGING}${big('own_blob', 600 * 1024)}`, base_version: 1 },
    });
    assert.equal(own.status, 200, JSON.stringify(own.body));
    await page.getByRole('link', { name: 'Shared documents' }).click();
    await page.getByRole('button', { name: 'common-db', exact: true }).click();
    const editor = page.getByLabel('common-db (TOML)');
    await until(async () => (await editor.inputValue()).startsWith(COMMON), 'common-db’s text');
    await editor.fill(`${COMMON}${big('shared_blob', 600 * 1024)}`);
    await page.getByText('Valid TOML').waitFor();
    await page.getByRole('button', { name: 'Save document' }).click();
    await page.getByText(/Not saved: The effective secrets of web\/staging would be invalid/).waitFor();
    const versions = await apiCall(hush.url, 'GET', '/shared/common-db/versions', { token: ownerToken });
    assert.equal(versions.body.versions[0].version, 4, 'nothing saved');
  });

  await step('the owner removes the include, deletes staging, then the document', async () => {
    await page.goto(`${hush.url}/apps/web`);
    await envSelect.selectOption('staging');
    await dialog.getByRole('tab', { name: 'Effective' }).click();
    await dialog.getByRole('button', { name: 'Remove common-db' }).click();
    await dialog.getByText('staging includes no shared document.').waitFor();
    await dialog.getByRole('button', { name: 'Delete staging…' }).click();
    await page.getByRole('dialog', { name: 'Delete staging?' }).getByRole('button', { name: 'Delete environment' }).click();
    await until(async () => (await envSelect.inputValue()) === 'production', 'back in production');
    assert.deepEqual(await envSelect.locator('option').allTextContents(), ['production']);
    await page.keyboard.press('Escape');
    await page.getByRole('link', { name: 'Shared documents' }).click();
    await page.getByRole('button', { name: 'Delete common-db' }).click();
    await page.getByRole('dialog', { name: 'Delete common-db?' }).getByRole('button', { name: 'Delete document' }).click();
    await page.getByText('No shared documents yet').waitFor();
    const prod = await apiCall(hush.url, 'GET', '/apps/web/secrets', { token: ownerToken });
    assert.equal(prod.body.toml, SEED, 'production never changed');
  });

  assert.deepEqual(page.problems, [], 'no script errors or CSP violations');
});
