// The workspace: every app with its status (running copies and the secrets version each has
// applied, against the newest; the last change and who made it; for editors, the process of a
// server-launched app), an ⋮ menu per app, and "New app" with "Advanced settings…" for the
// first secrets.

import { appPath, del, getOrSay, post } from './api.js';
import { ago, busy, capitalize, errorBox, field, h, newId, replace, toast } from './dom.js';
import { instanceItem, rolloutSummary } from './status.js';
import { confirmDialog, menuButton, openModal } from './modal.js';
import { createEditor, describeError, renderPreview } from './editor.js';
import { envImportButton } from './dotenv.js';
import { openSettings } from './settings.js';
import { appLink, canSeeProcess, confirmReboot, describeProcess, launchStatus, processBadge, rebootTracker } from './launched.js';

const POLL_MS = 3000;
/** While a reboot is under way its row asks for the process state this often. */
const REBOOT_POLL_MS = 800;

export function workspaceView(ctx, { open } = {}) {
  const list = h('ul', { class: 'app-list', 'aria-label': 'Apps' });
  const empty = h('div', { class: 'empty card', hidden: true },
    h('h2', {}, 'No apps yet'),
    h('p', {}, ctx.isEditor()
      ? 'Create an app, give it its secrets in Advanced settings, then start it with hush run.'
      : 'When an editor creates an app, it appears here.'));
  const loadError = errorBox();
  const actionError = errorBox();
  const newButton = ctx.isEditor()
    ? h('button', { type: 'button', class: 'button primary', onclick: () => openNewApp(ctx, refresh) }, 'New app')
    : null;
  const search = h('input', { type: 'search', class: 'app-search', placeholder: 'Search apps', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Search apps' });
  const noMatch = h('p', { class: 'muted no-match', role: 'status' });
  const view = h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Apps'), h('div', { class: 'page-tools' }, search, newButton)),
    loadError.el, actionError.el, empty, noMatch, list);

  const rows = new Map();
  const launched = new Map();

  /** Shows the apps whose name holds what is typed in the search box (any case). */
  function filter() {
    const wanted = search.value.trim().toLowerCase();
    let shown = 0;
    for (const [name, row] of rows) {
      row.el.hidden = Boolean(wanted) && !name.toLowerCase().includes(wanted);
      if (!row.el.hidden) shown += 1;
    }
    noMatch.textContent = rows.size && !shown ? `No app’s name contains “${search.value.trim()}”.` : '';
  }
  search.addEventListener('input', filter);
  let timer = null;
  let stopped = false;
  let opened = false;

  // The caller's role on each app (a per-app role, or their workspace role).
  const roles = new Map();
  async function refresh() {
    const answer = await getOrSay('/apps', loadError, 'the apps');
    if (!answer) return;
    const { apps } = answer;
    if (stopped) return;
    empty.hidden = apps.length > 0;
    search.hidden = !apps.length;
    const seen = new Set(apps.map((app) => app.name));
    for (const [name, row] of rows) {
      if (!seen.has(name)) {
        row.el.remove();
        rows.delete(name);
      }
    }
    // A row is moved only when it is out of place: moving a node takes focus away from
    // whatever inside it had it (the ⋮ button a keyboard user just returned to, say).
    let next = list.firstElementChild;
    for (const app of apps) {
      launched.set(app.name, Boolean(app.launch));
      roles.set(app.name, app.role);
      let row = rows.get(app.name);
      if (!row) {
        row = appRow(ctx, app.name, refresh, (message) => actionError.show(message));
        rows.set(app.name, row);
      }
      row.update(app);
      if (row.el === next) next = next.nextElementSibling;
      else list.insertBefore(row.el, next);
    }
    filter();
    if (open && !opened) {
      opened = true;
      if (seen.has(open)) openSettings(ctx, open, { onChange: refresh, launched: launched.get(open), role: roles.get(open) });
      else loadError.show(`There is no app named “${open}”.`);
    }
  }

  async function poll() {
    if (stopped) return;
    if (!document.hidden) await refresh();
    timer = setTimeout(poll, POLL_MS);
  }
  poll();
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });
  return view;
}

function appRow(ctx, name, refresh, report) {
  const nameId = newId('app');
  const meta = h('p', { class: 'app-meta' });
  const status = h('p', { class: 'app-status' });
  const instances = h('ul', { class: 'instances compact', 'aria-label': `Running copies of ${name}` });
  const launch = h('p', { class: 'app-launch muted', hidden: true });
  // The process of a server-launched app (editors and owners: the status endpoint is theirs).
  const processSlot = h('span', { class: 'process-slot', hidden: true });
  const processNote = h('p', { class: 'process-note', hidden: true });
  let current = null;
  const settings = (tab) => openSettings(ctx, name, { tab, onChange: refresh, launched: canSeeProcess(ctx, current), role: current?.role });
  const makeMenu = () => menuButton({
    label: `More actions for ${name}`,
    items: [
      { label: 'Settings', action: () => settings('secrets') },
      canSeeProcess(ctx, current) ? { label: 'Logs', action: () => settings('logs') } : null,
      { label: 'History', action: () => settings('history') },
      { label: 'Tokens', action: () => settings('tokens') },
      canSeeProcess(ctx, current) ? { label: 'Reboot…', action: () => reboot() } : null,
      ctx.isOwner() ? { label: 'Delete app…', danger: true, action: () => deleteApp(name, refresh, report) } : null,
    ],
  });
  let menu = makeMenu();
  let menuLaunched = false;
  const el = h('li', { class: 'app-row card', 'aria-labelledby': nameId },
    h('div', { class: 'app-icon', 'aria-hidden': 'true' }, name.slice(0, 1).toUpperCase()),
    h('div', { class: 'app-main' },
      h('h2', { class: 'app-name' },
        h('button', { type: 'button', class: 'link-button', id: nameId, onclick: () => settings('secrets') }, name),
        processSlot),
      meta, launch, processNote),
    h('div', { class: 'app-side' }, status, instances),
    menu);

  let lastProcess = null;
  let drawnProcess = '';
  let inflight = false;
  let fastTimer = null;
  const rebooting = rebootTracker();

  function drawProcess() {
    if (!lastProcess && !rebooting.active()) return;
    const words = rebooting.active() ? { kind: 'busy', label: 'Rebooting…', detail: '' } : describeProcess(lastProcess);
    const note = !rebooting.active() && lastProcess.status === 'failed' ? capitalize(words.detail) : '';
    const key = JSON.stringify([words.kind, words.label, note]);
    if (key === drawnProcess) return;
    drawnProcess = key;
    replace(processSlot, processBadge(words));
    processSlot.title = [words.label, words.detail].filter(Boolean).join(' · ');
    processSlot.hidden = false;
    processNote.textContent = note;
    processNote.hidden = !note;
  }

  function hideProcess() {
    lastProcess = null;
    drawnProcess = '';
    processSlot.hidden = true;
    processSlot.replaceChildren();
    processNote.hidden = true;
  }

  async function pollProcess() {
    if (!canSeeProcess(ctx, current) || inflight) return;
    inflight = true;
    const sentAt = Date.now();
    try {
      lastProcess = await launchStatus(name);
      rebooting.see(lastProcess, sentAt);
      drawProcess();
    } catch (err) {
      // 404: this server does not start the app (it runs without --apps-dir). Other failures
      // keep the last badge; the list's own error says when the server cannot be reached.
      if (err.status === 404) hideProcess();
    } finally {
      inflight = false;
    }
  }

  /** Asks the process state often until the reboot is over. */
  async function followReboot() {
    clearTimeout(fastTimer);
    if (!el.isConnected) return;
    await pollProcess();
    if (rebooting.active()) fastTimer = setTimeout(followReboot, REBOOT_POLL_MS);
  }

  async function reboot() {
    report(null);
    try {
      if (!(await confirmReboot(name))) return;
    } catch (err) {
      report(`Could not reboot ${name}: ${err.message}`);
      return;
    }
    rebooting.start(lastProcess?.pid ?? null);
    drawProcess();
    followReboot();
  }

  function update(app) {
    current = app;
    if (canSeeProcess(ctx, app) !== menuLaunched) {
      // Logs and Reboot come and go with the launch settings.
      menuLaunched = canSeeProcess(ctx, app);
      const fresh = makeMenu();
      const hadFocus = menu.contains(document.activeElement);
      menu.replaceWith(fresh);
      menu = fresh;
      if (hadFocus) fresh.querySelector('button')?.focus();
    }
    if (canSeeProcess(ctx, app)) pollProcess();
    else if (lastProcess) hideProcess();

    const latest = app.latest_version || 0;
    if (latest) {
      replace(meta, `Secrets version ${latest} · changed `, ago(app.updated_at), app.updated_by ? ` by ${app.updated_by}` : '');
    } else {
      replace(meta, h('span', { class: 'muted' }, 'No secrets yet'));
    }
    if (app.launch) {
      launch.hidden = false;
      replace(launch, 'Started by hush: ', h('code', {}, app.launch.command), ' in ', h('code', {}, app.launch.folder),
        app.launch.port ? [` on port ${app.launch.port} · `, appLink(name, app.launch.port)] : '');
    } else {
      launch.hidden = true;
    }
    // Running copies report revisions: the version plus every change of an included document.
    const revision = app.revision ?? latest;
    const summary = rolloutSummary(revision, app.instances || []);
    status.className = `app-status ${summary.kind}`;
    replace(status, h('span', { class: 'dot', 'aria-hidden': 'true' }), summary.text);
    replace(instances, (app.instances || []).filter((i) => i.status !== 'gone').slice(0, 6).map((i) => instanceItem(i, revision)));
  }
  return { el, update };
}

async function deleteApp(name, refresh, report) {
  report(null);
  const ok = await confirmDialog({
    title: `Delete ${name}?`,
    message: `This deletes ${name}, every version of its secrets and its tokens, for good. Running copies keep what they already have but get no updates.`,
    confirm: 'Delete app',
    danger: true,
  });
  if (!ok) return;
  try {
    await del(appPath(name));
    toast(`Deleted ${name}.`);
  } catch (err) {
    report(`Could not delete ${name}: ${err.message}`);
    return;
  }
  refresh();
}

/** "New app": name (and, where the server launches apps, folder, command and port), with the
 * secrets set in the "Advanced settings…" modal. */
function openNewApp(ctx, refresh) {
  const canLaunch = Boolean(ctx.session.server?.launch_apps) && ctx.isOwner();
  let secrets = '';
  const modal = openModal({
    title: canLaunch ? 'Deploy an app' : 'New app',
    beforeClose: async () => !secrets.trim() || confirmDialog({
      title: 'Discard this app?', message: 'The secrets you entered in Advanced settings are not saved yet.', confirm: 'Discard', danger: true,
    }),
  });
  const name = field({
    label: 'App name',
    input: h('input', { type: 'text', name: 'app-name', autocomplete: 'off', spellcheck: 'false', required: true, maxlength: '63' }),
    help: 'Lowercase letters, digits, - and _, like my-dashboard. Running copies use it with hush run --app.',
  });
  const folder = field({ label: 'Folder', optional: true, input: h('input', { type: 'text', spellcheck: 'false' }), help: 'Inside the server’s apps directory, e.g. my-dashboard. Leave empty to run the app yourself with hush run.' });
  const command = field({ label: 'Command', input: h('input', { type: 'text', spellcheck: 'false', value: 'streamlit run streamlit_app.py' }) });
  const port = field({ label: 'Port', optional: true, input: h('input', { type: 'number', min: '1', max: '65535', inputmode: 'numeric' }) });
  const launchError = errorBox();
  const launchSet = canLaunch
    ? h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Run it on this server'), folder.wrap, command.wrap, port.wrap, launchError.el)
    : null;
  const secretsSummary = h('p', { class: 'secrets-summary' });
  const secretsError = errorBox();
  const advanced = h('button', { type: 'button', class: 'button' }, 'Advanced settings…');
  const error = errorBox();
  const cancel = h('button', { type: 'button', class: 'button', onclick: () => modal.close() }, 'Cancel');
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create');
  const form = h('form', { class: 'stack', novalidate: true },
    name.wrap,
    launchSet,
    h('div', { class: 'advanced-row' }, h('div', {}, h('strong', {}, 'Secrets'), secretsSummary), advanced),
    secretsError.el,
    error.el,
    h('div', { class: 'actions' }, cancel, submit));
  modal.body.append(form);

  function drawSummary() {
    // Every line counts, comments and blank ones too; a final line break does not start one.
    const lines = secrets.replace(/\n$/, '').split('\n').length;
    replace(secretsSummary, secrets.trim()
      ? `${lines} line${lines === 1 ? '' : 's'} of TOML, set in Advanced settings.`
      : h('span', { class: 'muted' }, 'None yet. Add them in Advanced settings, or later from the app’s ⋮ menu → Settings.'));
  }
  function drawSubmit() {
    submit.textContent = canLaunch && folder.input.value.trim() ? 'Deploy' : 'Create';
  }
  drawSummary();
  folder.input.addEventListener('input', drawSubmit);
  advanced.addEventListener('click', () => openAdvanced(secrets, (text) => {
    secrets = text;
    secretsError.show(null);
    drawSummary();
  }));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    name.setError(null);
    error.show(null);
    secretsError.show(null);
    launchError.show(null);
    const appName = name.input.value.trim();
    if (!appName) return name.refuse('Give the app a name.');
    const body = { name: appName };
    if (secrets.trim()) {
      body.toml = secrets;
      body.message = 'Created with the app';
    }
    if (canLaunch && folder.input.value.trim()) {
      body.launch = {
        folder: folder.input.value.trim(),
        command: command.input.value.trim(),
        port: port.input.value ? Number(port.input.value) : null,
      };
    }
    await busy(submit, submit.textContent === 'Deploy' ? 'Deploying…' : 'Creating…', async () => {
      try {
        const app = await post('/apps', body);
        secrets = '';
        await modal.close(true);
        toast(app.latest_version ? `Created ${app.name} with secrets version ${app.latest_version}.` : `Created ${app.name}.`);
        refresh();
      } catch (err) {
        if (err.code === 'bad_name' || err.status === 409) {
          name.refuse(capitalize(err.message));
        } else if (['invalid_toml', 'invalid_key', 'too_large'].includes(err.code)) {
          secretsError.show(h('span', {}, `The secrets in Advanced settings are not valid. ${describeError(err.body)} `,
            h('button', { type: 'button', class: 'link-button', onclick: () => advanced.click() }, 'Open Advanced settings')));
        } else if (/^launch\./.test(err.message) || /launched apps/.test(err.message)) {
          launchError.show(capitalize(err.message));
        } else {
          error.show(`Not created: ${err.message}`);
        }
      }
    });
  });
}

/** The "Advanced settings" modal: the Secrets field for the new app's first version. */
function openAdvanced(text, onSave) {
  let result = null;
  const preview = h('div', { class: 'preview-wrap' });
  const save = h('button', { type: 'button', class: 'button primary' }, 'Save');
  const error = errorBox();
  const editor = createEditor({
    text,
    label: 'Secrets',
    autofocus: true,
    onResult: (r) => {
      result = r;
      replace(preview, renderPreview(r));
    },
    onSubmit: () => save.click(),
  });
  editor.textarea.placeholder = '# Everything at the top becomes an environment variable\ndb_username = "Jane"\ndb_password = "12345qwerty"\n\n# Sections are read from st.secrets\n[my_cool_secrets]\nthings_i_like = ["Streamlit", "Python"]';
  const modal = openModal({
    title: 'Advanced settings',
    size: 'large',
    initialFocus: () => editor.textarea,
    beforeClose: async () => editor.getText() === text || confirmDialog({
      title: 'Discard these secrets?', message: 'You changed the secrets but did not save them.', confirm: 'Discard', danger: true,
    }),
    onClose: () => editor.destroy(),
  });
  replace(preview, renderPreview(null));
  const importStatus = h('p', { class: 'help import-status', role: 'status' });
  const envImport = envImportButton(() => editor, importStatus, (text) => error.show(text));
  modal.body.append(
    h('p', { class: 'muted' }, 'Provide your secrets in TOML. Keys at the top become environment variables of the app; everything is available in st.secrets.'),
    h('div', { class: 'secrets-grid' }, h('div', {}, editor.el, h('div', { class: 'editor-tools' }, envImport, importStatus)), preview),
    error.el,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button', onclick: () => modal.close() }, 'Cancel'), save));
  save.addEventListener('click', async () => {
    error.show(null);
    result = await editor.settled();
    if (editor.getText().trim() && result && !result.valid) {
      error.show(`Not saved: ${describeError(result.error)}. Fix it, then save.`);
      return;
    }
    onSave(editor.getText());
    modal.close(true);
  });
}
