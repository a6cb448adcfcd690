// The panel's rough edges of a new user's first hour (issue 15), each walked in the browser:
// tokens that show every underscore, Enter and Ctrl+S in "Describe the change", a save of
// unchanged text, a save note that leads to the running copies, values one at a time and value
// diffs for editors (never for viewers), rollback that says what changes and leaves a fresh
// diff, .env import, app search, dark mode remembered, token names and the export in the audit
// log, and tables whose Revoke and Remove stay on screen at 390 px. axe-core runs at each state.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import {
  PASSWORD, apiCall, appMenu, checkA11y, createAppWithSecrets, newPage, screenshot,
  serverAndBrowser, settingsDialog, setupOwner, steps, until,
} from '../lib/harness.js';

// Ten lines, as a person pastes them (a comment and a blank line included).
const FIRST = `# production database
db_username = "Jane"
db_password = "pw_FIRST_1234"
api_url = "https://api.example.test"
retries = 3
debug = false

[my_cool_secrets]
things_i_like = ["Streamlit", "Python"]
pet = "cat_named_underscore"
`;
// The CLI's own .env test case (crates/hush/src/cli/formats.rs), so both readers agree.
const DOTENV = '# comment\nexport A=1\nB = \'lit $HOME \\n\'\nC="x\\ny \\"q\\" \\$Z" # c\nD=bare value # note\nE=a#b\nF="multi\nline"\nA=2\n\n';
const DOTENV_VALUES = { A: '2', B: 'lit $HOME \\n', C: 'x\ny "q" $Z', D: 'bare value', E: 'a#b', F: 'multi\nline' };

const env = serverAndBrowser();

/** The API as the signed-in page sees it (its session cookie; GETs need no CSRF token). */
const pageGet = (page, path) => page.evaluate(async (p) => {
  const res = await fetch(`/api/v1${p}`);
  return { status: res.status, body: await res.json() };
}, path);

/**
 * Whether the underscores of the text `locator` shows reach the screen: a picture of it as it is
 * and one with every underscore made a space must differ.
 */
async function underscoresShow(locator) {
  // A handle, not the locator: the text changes under it.
  const el = await locator.elementHandle();
  const show = (text) => el.evaluate((node, t) => {
    if (node.tagName === 'INPUT' || node.tagName === 'TEXTAREA') node.value = t;
    else node.textContent = t;
  }, text);
  await el.evaluate((node) => node.blur());
  const text = await el.evaluate((node) => node.value ?? node.textContent);
  assert.ok(text.includes('_'), `no underscore in ${text}`);
  const shown = await el.screenshot();
  await show(text.split('_').join(' '));
  const spaced = await el.screenshot();
  await show(text);
  return !shown.equals(spaced);
}

/** The History tab's entry for version `n`. */
function versionItem(dialog, n) {
  return dialog.getByRole('list', { name: 'Versions, newest first' }).getByRole('listitem')
    .filter({ has: dialog.page().locator('strong', { hasText: new RegExp(`^Version ${n}$`) }) });
}

/** Whether the element lies wholly inside the viewport's width (nothing to scroll sideways to). */
async function inView(page, locator) {
  const box = await locator.boundingBox();
  const { width } = page.viewportSize();
  return box && box.x >= 0 && box.x + box.width <= width;
}

test('the first hour: what issue 15 found, fixed', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page, context } = await newPage(browser);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hush.url });
  const dialog = settingsDialog(page, 'web');
  const editor = dialog.getByLabel('Secrets (TOML)');
  let appToken = null;

  await step('"New app" counts every line pasted in Advanced settings', async () => {
    await setupOwner(page, hush.setupLink);
    await createAppWithSecrets(page, 'web', FIRST, { summary: '10 lines of TOML, set in Advanced settings.' });
  });

  await step('a token shown once: monospace, tall enough lines, every underscore visible', async () => {
    await appMenu(page, 'web', 'Tokens');
    await dialog.getByLabel('Token name').fill('production_eu');
    await dialog.getByRole('button', { name: 'Create token' }).click();
    const token = dialog.getByLabel('Token', { exact: true });
    appToken = await token.inputValue();
    assert.match(appToken, /^hush_app_/);
    const style = await token.evaluate((el) => {
      const s = getComputedStyle(el);
      return { family: s.fontFamily, size: parseFloat(s.fontSize), line: parseFloat(s.lineHeight), inner: el.clientHeight };
    });
    assert.match(style.family, /mono/i, style.family);
    assert.ok(style.size >= 13, `font size ${style.size}`);
    assert.ok(style.line >= 1.5 * style.size, `line height ${style.line} for ${style.size}px`);
    assert.ok(style.inner >= style.line, 'the box is at least one line tall');
    assert.ok(await underscoresShow(token), 'the token’s underscores are visible');
    assert.ok(await underscoresShow(dialog.getByLabel('Start your app with')), 'so are the command’s');
    const prefix = dialog.locator('td code', { hasText: 'hush_app_' });
    assert.ok(await underscoresShow(prefix), 'and the prefix in the table');
    // Positive control: squeezed into a line too short for them, they are gone, and this says so.
    await token.evaluate((el) => {
      el.style.lineHeight = '0.55';
      el.style.height = '11px';
      el.style.padding = '0';
      el.style.overflow = 'hidden';
    });
    assert.equal(await underscoresShow(token), false, 'the check sees clipped underscores');
    await token.evaluate((el) => el.removeAttribute('style'));
    await checkA11y(page, 'a token shown once');
    await dialog.getByRole('button', { name: 'Done: I stored it' }).click();
  });

  await step('Save with nothing changed says so and makes no version', async () => {
    await dialog.getByRole('tab', { name: 'Secrets' }).click();
    await until(async () => (await editor.inputValue()) === FIRST, 'the saved secrets');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('No changes to save.').waitFor();
    await dialog.getByText('The text is version 1 already, so no new version was made.').waitFor();
    const versions = await pageGet(page, '/apps/web/versions');
    assert.equal(versions.body.versions.length, 1);
    await checkA11y(page, 'Secrets: no changes to save');
  });

  await step('Enter in "Describe the change" saves; so does Ctrl+S there', async () => {
    await editor.fill(FIRST.replace('retries = 3', 'retries = 4'));
    await dialog.getByText('Changes from saved version 1').waitFor();
    const message = dialog.getByLabel('Describe the change');
    await message.fill('More retries');
    await message.press('Enter');
    await dialog.getByText('Saved version 2.').waitFor();
    await editor.fill(FIRST.replace('retries = 3', 'retries = 5').replace('pw_FIRST_1234', 'pw_SECOND_5678'));
    await dialog.getByText('Changes from saved version 2').waitFor();
    await message.fill('Rotate the password');
    await message.press('Control+s');
    await dialog.getByText('Saved version 3.').waitFor();
    const versions = (await pageGet(page, '/apps/web/versions')).body.versions;
    assert.deepEqual(versions.map((v) => v.message), ['Rotate the password', 'More retries', 'Created with the app']);
  });

  await step('the save note leads to the running copies, wherever they are on screen', async () => {
    const note = dialog.locator('.save-result');
    await note.getByText('Each running copy picks it up within seconds').waitFor();
    await note.getByRole('button', { name: 'Running copies' }).click();
    const region = dialog.getByRole('region', { name: 'Running copies' });
    assert.ok(await region.evaluate((el) => el === document.activeElement), 'focus is on Running copies');
    await region.getByText('Not running', { exact: true }).waitFor();
    await checkA11y(page, 'Secrets: saved, the note and Running copies');
  });

  await step('an editor shows and copies one saved value, then hides it again', async () => {
    await dialog.getByText('Show or copy one saved value').click();
    const values = dialog.getByRole('list', { name: 'Values of version 3' });
    await values.getByText('my_cool_secrets.pet', { exact: true }).waitFor();
    assert.ok(!(await values.textContent()).includes('pw_SECOND_5678'), 'hidden until asked for');
    await values.getByRole('button', { name: 'Show the value of db_password' }).click();
    await values.getByText('pw_SECOND_5678').waitFor();
    assert.ok(!(await values.textContent()).includes('cat_named_underscore'), 'only the value asked for');
    await checkA11y(page, 'Secrets: one saved value shown');
    await values.getByRole('button', { name: 'Copy the value of my_cool_secrets.pet' }).click();
    await values.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'cat_named_underscore');
    await values.getByRole('button', { name: 'Show the value of retries' }).click();
    await values.getByText('integer').waitFor();
    await values.getByRole('button', { name: 'Hide the value of db_password' }).click();
    assert.ok(!(await dialog.textContent()).includes('pw_SECOND_5678'), 'hidden again, gone from the page');
  });

  await step('History: an old version’s values and a value-level diff', async () => {
    await dialog.getByRole('tab', { name: 'History' }).click();
    const versions = dialog.getByRole('list', { name: 'Versions, newest first' });
    const first = versionItem(dialog, 1);
    await first.getByRole('button', { name: 'Values', exact: true }).click();
    const old = dialog.getByRole('list', { name: 'Values of version 1' });
    await first.getByRole('button', { name: 'Show all values' }).click();
    await old.getByText('pw_FIRST_1234').waitFor();
    await old.getByText('["Streamlit","Python"]').waitFor();
    await first.getByRole('button', { name: 'Values', exact: true }).click();
    assert.ok(!(await dialog.textContent()).includes('pw_FIRST_1234'), 'closing drops the values');
    await dialog.getByLabel('From version').selectOption('1');
    await dialog.getByLabel('To version').selectOption('3');
    await dialog.getByRole('button', { name: 'Show difference' }).click();
    const box = dialog.locator('.diff-box');
    await box.getByText('From version 1 to version 3').waitFor();
    assert.ok(!(await box.textContent()).includes('pw_'), 'names first');
    await box.getByRole('button', { name: 'Show values' }).click();
    const table = box.getByRole('table', { name: 'Values from version 1 to version 3' });
    const row = table.getByRole('row').filter({ hasText: 'db_password' });
    await row.getByText('pw_FIRST_1234').waitFor();
    await row.getByText('pw_SECOND_5678').waitFor();
    await table.getByRole('row').filter({ hasText: 'retries' }).getByText('5', { exact: true }).waitFor();
    await checkA11y(page, 'History: version values and a value diff');
    await screenshot(page, 'history-values');
    await box.getByRole('button', { name: 'Hide values' }).click();
    assert.ok(!(await box.textContent()).includes('pw_SECOND_5678'));
  });

  await step('rollback says which keys will appear, change or disappear, then shows its own diff', async () => {
    // Version 4 adds a key and drops one, so rolling back to 3 has all three kinds.
    await dialog.getByRole('tab', { name: 'Secrets' }).click();
    const v3 = FIRST.replace('retries = 3', 'retries = 5').replace('pw_FIRST_1234', 'pw_SECOND_5678');
    await editor.fill(`new_key = "n"\n${v3.replace('debug = false\n', '').replace('db_username = "Jane"', 'db_username = "June"')}`);
    await dialog.getByText('Changes from saved version 3').waitFor();
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 4.').waitFor();
    await dialog.getByRole('tab', { name: 'History' }).click();
    // A diff is on screen from before: after the rollback it must not stay.
    await dialog.getByRole('button', { name: 'Compare with version 1' }).click();
    await dialog.locator('.diff-box').getByText('From version 1 to version 2').waitFor();
    const v3item = versionItem(dialog, 3);
    await v3item.getByRole('button', { name: 'Roll back to this version' }).click();
    const confirm = page.getByRole('dialog', { name: 'Roll back to version 3?' });
    await confirm.getByText('What changes from version 4:').waitFor();
    await confirm.locator('.diff-added', { hasText: 'debug' }).getByText('will appear').waitFor();
    await confirm.locator('.diff-changed', { hasText: 'db_username' }).getByText('will change').waitFor();
    await confirm.locator('.diff-removed', { hasText: 'new_key' }).getByText('will disappear').waitFor();
    await checkA11y(page, 'Roll back: what changes');
    await confirm.getByRole('button', { name: 'Roll back to version 3' }).click();
    const box = dialog.locator('.diff-box');
    await box.getByText('From version 4 to version 5').waitFor();
    await box.locator('.diff-removed', { hasText: 'new_key' }).waitFor();
    assert.equal(await dialog.getByLabel('From version').inputValue(), '4');
    assert.equal(await dialog.getByLabel('To version').inputValue(), '5');
  });

  await step('a rollback that would change nothing says so first, and makes no version', async () => {
    const v3item = versionItem(dialog, 3);
    await v3item.getByRole('button', { name: 'Roll back to this version' }).click();
    const confirm = page.getByRole('dialog', { name: 'Roll back to version 3?' });
    await confirm.getByText('Nothing changes: version 3 has the same keys and values as version 5.').waitFor();
    await confirm.getByRole('button', { name: 'Roll back to version 3' }).click();
    await page.getByText('Nothing to roll back').waitFor();
    assert.equal((await pageGet(page, '/apps/web/versions')).body.versions.length, 5);
  });

  await step('a .env file imports at the top of the editor; values read as the CLI reads them', async () => {
    await dialog.getByRole('tab', { name: 'Secrets' }).click();
    const bad = page.waitForEvent('filechooser');
    await dialog.getByRole('button', { name: 'Import .env…' }).click();
    const before = await editor.inputValue();
    await (await bad).setFiles({ name: 'broken.env', mimeType: 'text/plain', buffer: Buffer.from('A=1\nnot a pair\n') });
    await dialog.getByRole('alert').filter({ hasText: 'Not imported: broken.env, line 2: expected KEY=value.' }).waitFor();
    assert.equal(await editor.inputValue(), before, 'a bad file changes nothing');
    const chooser = page.waitForEvent('filechooser');
    await dialog.getByRole('button', { name: 'Import .env…' }).click();
    await (await chooser).setFiles({ name: 'prod.env', mimeType: 'text/plain', buffer: Buffer.from(DOTENV) });
    await dialog.getByText('Imported 6 keys from prod.env at the top of the editor. Check them, then save.').waitFor();
    assert.ok((await editor.inputValue()).startsWith('# Imported from prod.env\n'));
    assert.ok((await editor.inputValue()).endsWith(before));
    await dialog.getByText('Valid TOML').waitFor();
    await checkA11y(page, 'Secrets: .env imported');
    await dialog.getByRole('button', { name: 'Save', exact: true }).click();
    await dialog.getByText('Saved version 6.').waitFor();
    const { body } = await pageGet(page, '/apps/web/versions/6/values');
    for (const [key, value] of Object.entries(DOTENV_VALUES)) {
      assert.equal(body.values.find((v) => v.path === key)?.value, value, key);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  await step('"New app" → Advanced settings imports a .env too', async () => {
    await page.getByRole('button', { name: 'New app' }).click();
    const newApp = page.getByRole('dialog', { name: 'New app' });
    await newApp.getByLabel('App name').fill('reports');
    await newApp.getByRole('button', { name: 'Advanced settings…' }).click();
    const advanced = page.getByRole('dialog', { name: 'Advanced settings' });
    const chooser = page.waitForEvent('filechooser');
    await advanced.getByRole('button', { name: 'Import .env…' }).click();
    await (await chooser).setFiles({ name: '.env', mimeType: 'text/plain', buffer: Buffer.from('REPORTS_URL=https://r.example.test\nexport TOKEN="t_1"\n') });
    await advanced.getByText('Imported 2 keys from .env').waitFor();
    await advanced.locator('.chip', { hasText: 'REPORTS_URL' }).waitFor();
    await checkA11y(page, 'Advanced settings: .env imported');
    await advanced.getByRole('button', { name: 'Save' }).click();
    await newApp.getByText('3 lines of TOML, set in Advanced settings.').waitFor();
    await newApp.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('listitem').filter({ hasText: 'reports' }).getByText('Secrets version 1').waitFor();
  });

  await step('apps search: a part of the name, any case; and when nothing matches, says so', async () => {
    const search = page.getByRole('searchbox', { name: 'Search apps' });
    await search.fill('REP');
    await until(async () => !(await page.getByRole('button', { name: 'web', exact: true }).isVisible()), 'web hidden');
    assert.ok(await page.getByRole('button', { name: 'reports', exact: true }).isVisible());
    await search.fill('zzz');
    await page.getByText('No app’s name contains “zzz”.').waitFor();
    await checkA11y(page, 'workspace: search with no match');
    await search.fill('');
    await page.getByRole('button', { name: 'web', exact: true }).waitFor();
  });

  await step('dark mode: the toggle switches, and the choice is remembered', async () => {
    const toggle = page.getByRole('button', { name: 'Dark mode' });
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(await background(), 'rgb(18, 21, 28)');
    await page.reload();
    await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'remembered');
    assert.equal(await page.getByRole('button', { name: 'Dark mode' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await background(), 'rgb(18, 21, 28)');
    await page.getByRole('button', { name: 'Dark mode' }).click();
    await page.reload();
    await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    assert.equal(await background(), 'rgb(245, 246, 248)');
  });

  await step('the audit log names app tokens and exports what the filter shows', async () => {
    assert.equal((await apiCall(hush.url, 'GET', '/apps/web/secrets', { token: appToken })).status, 200);
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('Action').selectOption('secrets.read');
    // Reads reach the audit log within about a second (they are gathered and folded): filter
    // again until the read is there.
    for (let tries = 0; ; tries++) {
      await page.getByRole('button', { name: 'Filter' }).click();
      try {
        await page.getByText('1 event shown').waitFor({ timeout: 500 });
        break;
      } catch (err) {
        if (tries >= 20) throw err;
      }
    }
    await page.getByRole('cell', { name: 'production_eu (app token)' }).waitFor();
    await page.getByLabel('Action').selectOption('secrets.reveal');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText(/events shown/).waitFor();
    const shown = Number((await page.getByText(/events shown/).textContent()).match(/\d+/)[0]);
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Export (JSON lines)' }).click();
    const file = await (await download).path();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, shown, 'every event the filter matches');
    assert.ok(lines.every((e) => e.action === 'secrets.reveal'));
    assert.ok(lines.some((e) => e.detail?.key === 'db_password'), 'a single reveal names its key');
    assert.ok(!readFileSync(file, 'utf8').includes('pw_'), 'and never a value');
    await checkA11y(page, 'Audit log: token names, export');
  });

  assert.deepEqual(page.problems, [], 'no script errors or CSP violations');
});

test('at 390 px wide nothing hides Revoke or Remove, and a viewer gets no value', async (t) => {
  const { hush, browser } = env;
  const step = steps(t);
  const { page } = await newPage(browser, { width: 390, height: 844 });
  let viewer = null;
  const noSideScroll = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  await step('Members: Remove is on screen, the page does not scroll sideways', async () => {
    await page.goto(`${hush.url}/login`);
    await page.getByLabel('Name').fill('olivia');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    await checkA11y(page, '390 px: workspace');
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.getByRole('button', { name: 'Create invitation link' }).click();
    const link = await page.getByLabel('Invitation link for one viewer').inputValue();
    viewer = await newPage(browser);
    await viewer.page.goto(link);
    await viewer.page.getByLabel('Name').fill('victor');
    await viewer.page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await viewer.page.getByLabel('Repeat the password').fill(PASSWORD);
    await viewer.page.getByRole('button', { name: 'Join' }).click();
    await viewer.page.getByRole('heading', { name: 'Apps', level: 1 }).waitFor();
    await page.reload();
    const remove = page.getByRole('button', { name: 'Remove victor' });
    await remove.waitFor();
    assert.ok(await inView(page, remove), 'Remove is within the 390 px');
    assert.ok(await noSideScroll());
    await checkA11y(page, '390 px: Members');
  });

  await step('Tokens: Revoke is on screen', async () => {
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await appMenu(page, 'web', 'Tokens');
    const revoke = settingsDialog(page, 'web').getByRole('button', { name: 'Revoke token production_eu' });
    await revoke.waitFor();
    assert.ok(await inView(page, revoke), 'Revoke is within the 390 px');
    assert.ok(await noSideScroll());
    await checkA11y(page, '390 px: Tokens');
    await page.keyboard.press('Escape');
  });

  await step('Audit log: every column reachable without scrolling sideways', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByText(/events shown/).waitFor();
    const detail = page.getByRole('cell').filter({ hasText: 'version' }).first();
    assert.ok(await inView(page, detail));
    assert.ok(await noSideScroll());
    await checkA11y(page, '390 px: Audit log');
  });

  await step('a viewer has no Values, Show values or saved values, and the API refuses them', async () => {
    await appMenu(viewer.page, 'web', 'History');
    const dialog = settingsDialog(viewer.page, 'web');
    await dialog.getByRole('button', { name: 'Show difference' }).click();
    await dialog.locator('.diff-box').waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Values', exact: true }).count(), 0);
    assert.equal(await dialog.getByRole('button', { name: 'Show values' }).count(), 0);
    await dialog.getByRole('tab', { name: 'Secrets' }).click();
    await dialog.getByLabel('Key names with hidden values').waitFor();
    assert.equal(await dialog.getByText('Show or copy one saved value').count(), 0);
    for (const path of ['/apps/web/versions/1/values', '/apps/web/diff/values?from=1&to=2']) {
      const { status, body } = await pageGet(viewer.page, path);
      assert.equal(status, 403, path);
      assert.ok(!JSON.stringify(body).includes('pw_'), path);
    }
    assert.deepEqual(viewer.page.problems, []);
    await viewer.context.close();
  });

  assert.deepEqual(page.problems, []);
});
