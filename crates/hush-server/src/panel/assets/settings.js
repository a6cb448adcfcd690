// An app's settings (⋮ → Settings), for one environment at a time (the switcher above the
// tabs; production first): Secrets (the editor for editors; key names only for viewers), Logs
// (server-launched apps, editors and owners), History (versions, key-level diff between any
// two, rollback), Tokens, Effective (includes and where each key comes from) and Compare.
// While open it follows the environment's watch stream and polls its running copies every 2 s.

import { del, envPath, get, post, put, withQuery } from './api.js';
import { ago, busy, copyField, dataTable, errorBox, field, fullTime, h, newId, replace, toast } from './dom.js';
import { confirmDialog, openModal } from './modal.js';
import { createSaveEditor, renderDiff, renderPreview, saveFormParts, showRefusedSave } from './editor.js';
import { instanceItem, rolloutSummary } from './status.js';
import { logsTab } from './launched.js';
import { historyTab } from './history.js';
import { envImportButton } from './dotenv.js';
import { valuesList } from './values.js';
import { PRODUCTION, compareTab, effectiveTab, envBar, envInfo } from './environments.js';

const INSTANCE_POLL_MS = 2000;

/**
 * `launched`: the server starts this app (its `launch` is set), so editors get a Logs tab.
 * `env`: the environment shown first (production when absent); the switcher above the tabs
 * changes it, and every tab then shows that environment.
 */
export function openSettings(workspaceCtx, app, { tab = 'secrets', onChange, onClose, launched = false, role = null, env = PRODUCTION } = {}) {
  // On this app the member's per-app role decides what they may do, when they have one.
  const ctx = role
    ? { ...workspaceCtx, isEditor: () => role === 'editor' || role === 'owner' }
    : workspaceCtx;
  const tabs = [
    { id: 'secrets', label: 'Secrets', make: secretsTab },
    launched && ctx.isEditor() ? { id: 'logs', label: 'Logs', make: logsTab } : null,
    { id: 'history', label: 'History', make: historyTab },
    { id: 'tokens', label: 'Tokens', make: tokensTab },
    { id: 'effective', label: 'Effective', make: effectiveTab },
    { id: 'compare', label: 'Compare', make: compareTab },
  ].filter(Boolean);
  if (!tabs.some((t) => t.id === tab)) tab = 'secrets';
  const shared = {
    ctx, app, env, info: null, listeners: new Set(),
    envs: null,
    envsLoaded: Promise.resolve(),
    /** Owners of the app add and delete environments and set what they include. */
    canOwn: () => (role ? role === 'owner' : workspaceCtx.isOwner()),
    /** An API path of this app in the environment shown. */
    path: (rest = '') => envPath(app, shared.env, rest),
    /** The environment shown, as the list says it is (its includes). */
    current: () => (shared.envs || []).find((e) => e.name === shared.env) || null,
    /** Tells every tab about a new newest version. */
    emit(event) {
      for (const fn of shared.listeners) fn(event);
    },
    changed() {
      if (onChange) onChange();
    },
  };
  const panels = {};
  const buttons = {};
  let shownTab = tab;
  const modal = openModal({
    title: `${app} · Settings`,
    size: 'xl',
    beforeClose: () => panelsMayClose(),
    onClose: () => {
      stopLive();
      for (const p of Object.values(panels)) if (p.destroy) p.destroy();
      if (location.pathname === here) history.replaceState(null, '', '/');
      if (onClose) onClose();
    },
    initialFocus: () => buttons[tab],
  });
  // The address names the open app (so a reload reopens it); closing goes back to the list.
  const here = `/apps/${encodeURIComponent(app)}`;
  if (location.pathname !== here) history.replaceState(null, '', here);

  async function panelsMayClose() {
    for (const p of Object.values(panels)) {
      if (p.beforeClose && (await p.beforeClose()) === false) return false;
    }
    return true;
  }

  const nav = h('div', { class: 'tabs', role: 'tablist', 'aria-orientation': 'vertical', 'aria-label': 'Settings sections' });
  const area = h('div', { class: 'tab-area' });
  for (const t of tabs) {
    const id = newId(`tab-${t.id}`);
    const button = h('button', {
      type: 'button', role: 'tab', id, class: 'tab', 'aria-selected': 'false', tabindex: '-1', 'aria-controls': `${id}-panel`,
    }, t.label);
    button.addEventListener('click', () => select(t.id));
    buttons[t.id] = button;
    nav.append(button);
  }
  nav.addEventListener('keydown', (event) => {
    const ids = tabs.map((t) => t.id);
    const i = ids.findIndex((id) => buttons[id] === document.activeElement);
    if (i < 0) return;
    let next = null;
    if (event.key === 'ArrowDown' || event.key === 'ArrowRight') next = ids[(i + 1) % ids.length];
    if (event.key === 'ArrowUp' || event.key === 'ArrowLeft') next = ids[(i - 1 + ids.length) % ids.length];
    if (event.key === 'Home') next = ids[0];
    if (event.key === 'End') next = ids[ids.length - 1];
    if (next) {
      event.preventDefault();
      select(next);
      buttons[next].focus();
    }
  });
  const bar = envBar(shared, switchEnv);
  modal.body.append(bar.el, h('div', { class: 'settings' }, nav, area));

  function select(id) {
    shownTab = id;
    for (const t of tabs) {
      const on = t.id === id;
      buttons[t.id].setAttribute('aria-selected', String(on));
      buttons[t.id].tabIndex = on ? 0 : -1;
      if (on && panels[t.id] && panels[t.id].el.hidden && panels[t.id].shown) panels[t.id].shown();
      if (on && !panels[t.id]) {
        const panel = t.make(shared);
        panel.el.setAttribute('role', 'tabpanel');
        panel.el.id = `${buttons[t.id].id}-panel`;
        panel.el.setAttribute('aria-labelledby', buttons[t.id].id);
        panels[t.id] = panel;
        area.append(panel.el);
      }
      if (panels[t.id]) panels[t.id].el.hidden = !on;
    }
  }

  /** Shows another environment: every tab is drawn again for it (after asking about unsaved text). */
  async function switchEnv(name, { force = false } = {}) {
    if (name === shared.env) return true;
    if (!force && !(await panelsMayClose())) return false;
    stopLive();
    for (const [id, p] of Object.entries(panels)) {
      if (p.destroy) p.destroy();
      p.el.remove();
      delete panels[id];
    }
    shared.env = name;
    shared.info = null;
    select(shownTab);
    startLive();
    return true;
  }

  // Live: the environment's watch stream says when its secrets changed (its own version, or a
  // shared document it includes); running copies are polled.
  let stopLive = () => {};
  function startLive() {
    const shownEnv = shared.env;
    let stopped = false;
    let timer = null;
    const events = new EventSource(`/api/v1${envPath(app, shownEnv, '/watch')}`);
    events.addEventListener('version', async (event) => {
      let version = 0;
      try {
        version = JSON.parse(event.data).version;
      } catch {
        return;
      }
      await refreshInfo();
      if (stopped) return;
      // The stream counts shared documents' changes too; the tabs want the own version.
      shared.emit({ type: 'version', version: shared.info ? shared.info.latest_version : version });
      shared.changed();
    });
    async function refreshInfo() {
      try {
        const info = await envInfo(app, shownEnv);
        if (stopped) return;
        shared.info = info;
        shared.emit({ type: 'info', info: shared.info });
      } catch (err) {
        if (!stopped) shared.emit({ type: 'error', message: err.message });
      }
    }
    async function poll() {
      if (stopped) return;
      if (!document.hidden) {
        try {
          const { instances } = await get(envPath(app, shownEnv, '/instances'));
          if (shared.info && !stopped) {
            shared.info.instances = instances;
            shared.emit({ type: 'info', info: shared.info });
          }
        } catch {
          // The next poll tries again; the error shows in the tab that needs the data.
        }
      }
      if (!stopped) timer = setTimeout(poll, INSTANCE_POLL_MS);
    }
    refreshInfo().then(() => { if (!stopped) timer = setTimeout(poll, INSTANCE_POLL_MS); });
    stopLive = () => {
      stopped = true;
      events.close();
      clearTimeout(timer);
    };
  }

  select(tab);
  startLive();
  ctx.onLeave(() => modal.close(true));
  return modal;
}

// ---------------------------------------------------------------------------------------------
// Secrets

/** "Secrets", and the environment's name outside production. */
const secretsTitle = (shared) => (shared.env === PRODUCTION ? 'Secrets' : `Secrets of ${shared.env}`);

function secretsTab(shared) {
  return shared.ctx.isEditor() ? secretsEditorTab(shared) : secretsViewerTab(shared);
}

/** The version line ("Version 3 · saved 5 minutes ago by olivia") and the running copies. */
function statusParts(shared) {
  const version = h('p', { class: 'version-line' });
  // A named region that the note after a save can move focus to, wherever the layout put it.
  const rollout = h('section', { class: 'rollout', 'aria-label': 'Running copies', tabindex: '-1' });
  function draw() {
    const info = shared.info;
    if (!info) return;
    const latest = info.latest_version || 0;
    // Running copies count what they applied in revisions: the own version plus every change
    // of the shared documents included (the same number while nothing is included).
    const revision = info.revision ?? latest;
    replace(version, latest
      ? ['Version ', h('strong', {}, String(latest)), ' · saved ', ago(info.updated_at), info.updated_by ? ` by ${info.updated_by}` : '',
        revision !== latest ? ` · revision ${revision}, counting changes of included shared documents` : '']
      : h('span', { class: 'muted' }, 'No secrets saved yet.'));
    const instances = info.instances || [];
    const summary = rolloutSummary(revision, instances);
    replace(rollout,
      h('h3', {}, 'Running copies'),
      h('p', { class: `app-status ${summary.kind}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), summary.text),
      instances.length
        ? h('ul', { class: 'instances', 'aria-label': 'Running copies' }, instances.map((i) => instanceItem(i, revision)))
        : h('p', { class: 'help' }, 'A copy started with hush run (see Tokens) reports here which version it applied, live.'));
  }
  return { version, rollout, draw };
}

function secretsViewerTab(shared) {
  const status = statusParts(shared);
  const body = h('div', {}, h('p', { class: 'muted' }, 'Loading key names…'));
  const el = h('div', { class: 'tab-panel' },
    h('h2', { class: 'tab-title' }, secretsTitle(shared)),
    status.version,
    h('div', { class: 'notice', role: 'note' }, 'You can see which keys exist. Values are shown only to editors and owners.'),
    h('div', { class: 'secrets-grid' }, body, status.rollout));
  async function load() {
    try {
      const keys = await get(shared.path('/keys'));
      const text = keys.version ? maskedToml(keys.masked || {}) : '';
      replace(body,
        keys.version
          ? h('pre', { class: 'masked code-block', 'aria-label': 'Key names with hidden values' }, text)
          : h('p', { class: 'muted' }, 'No secrets yet.'),
        renderPreview({ valid: true, env: keys.env, warnings: [] }));
    } catch (err) {
      replace(body, h('p', { class: 'form-error', role: 'alert' }, `Could not load the key names: ${err.message}`));
    }
  }
  const listener = (event) => {
    if (event.type === 'info') status.draw();
    if (event.type === 'version') load();
  };
  shared.listeners.add(listener);
  load();
  status.draw();
  return { el, destroy: () => shared.listeners.delete(listener) };
}

/** The masked tree (every value replaced by dots) written like the TOML it came from. */
export function maskedToml(tree) {
  const key = (k) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
  const value = (v) => {
    if (Array.isArray(v)) return `[${v.map(value).join(', ')}]`;
    if (v && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${key(k)} = ${value(x)}`).join(', ')} }`;
    return String(v);
  };
  const lines = [];
  const walk = (table, path) => {
    const scalars = Object.entries(table).filter(([, v]) => !(v && typeof v === 'object' && !Array.isArray(v)));
    const tables = Object.entries(table).filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v));
    if (path.length && (scalars.length || !tables.length)) {
      if (lines.length) lines.push('');
      lines.push(`[${path.map(key).join('.')}]`);
    }
    for (const [k, v] of scalars) lines.push(`${key(k)} = ${value(v)}`);
    for (const [k, v] of tables) walk(v, [...path, k]);
  };
  walk(tree, []);
  return lines.join('\n');
}

function secretsEditorTab(shared) {
  const { app, ctx } = shared;
  const status = statusParts(shared);
  const notice = h('div', { class: 'notice live-notice', role: 'status', hidden: true });
  const preview = h('div', { class: 'preview-wrap' }, renderPreview(null));
  const saveForm = saveFormParts('Save');
  const { message, save, saveResult, saveError, conflict } = saveForm;
  const yours = h('div', { class: 'yours', hidden: true });
  const editorSlot = h('div', {}, h('p', { class: 'muted' }, 'Loading the secrets…'));
  const importStatus = h('p', { class: 'help import-status', role: 'status' });
  const envImport = envImportButton(() => editor, importStatus, (text) => {
    saveError.show(text);
    saveResult.textContent = '';
  });
  const valuesSlot = h('div', {});
  const savedValues = h('details', { class: 'saved-values' },
    h('summary', {}, 'Show or copy one saved value'), valuesSlot);
  const el = h('div', { class: 'tab-panel' },
    h('div', { class: 'tab-head' }, h('h2', { class: 'tab-title' }, secretsTitle(shared)), status.version),
    notice,
    h('div', { class: 'secrets-grid' },
      h('div', { class: 'editor-column' },
        editorSlot,
        h('div', { class: 'editor-tools' }, envImport, importStatus),
        message.wrap,
        saveError.el,
        conflict,
        h('div', { class: 'actions start' }, save, h('span', { class: 'help' }, 'Ctrl+S saves too, and so does Enter in “Describe the change”.')),
        saveResult,
        yours),
      h('div', { class: 'side-column' }, preview, status.rollout, savedValues)));

  // Ctrl+S anywhere in the tab (the editor handles its own first) and Enter in the message save.
  el.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    const ctrlS = (event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 's';
    const enter = event.key === 'Enter' && event.target === message.input
      && !(event.shiftKey || event.ctrlKey || event.metaKey || event.altKey);
    if (ctrlS || enter) {
      event.preventDefault();
      save.click();
    }
  });

  /** The saved values, one at a time: built when opened, for the version the editor started from. */
  function drawSavedValues() {
    if (!savedValues.open) {
      valuesSlot.replaceChildren();
      return;
    }
    replace(valuesSlot, base ? valuesList(app, base, shared.env).el : h('p', { class: 'muted' }, 'No secrets saved yet.'));
  }
  savedValues.addEventListener('toggle', drawSavedValues);

  let editor = null;
  let base = 0;
  let savedText = '';
  const dirty = () => Boolean(editor) && editor.getText() !== savedText;

  async function load() {
    try {
      const info = shared.info || await envInfo(app, shared.env);
      let text = '';
      base = 0;
      if (info.latest_version) {
        await shared.envsLoaded;
        if (shared.current()?.includes.length) {
          // …/secrets answers the merge with the shared documents; the editor edits the
          // environment's own text.
          const own = await get(shared.path(`/versions/${info.latest_version}`));
          text = own.toml;
          base = own.version.version;
        } else {
          const secrets = await get(shared.path('/secrets'));
          text = secrets.toml;
          base = secrets.version;
        }
      }
      savedText = text;
      if (!editor) {
        editor = createSaveEditor({
          text,
          // The live check compares with this environment's saved version.
          app,
          env: shared.env,
          label: 'Secrets (TOML)',
          preview,
          saveForm,
        });
        replace(editorSlot, editor.el);
      } else {
        editor.setTarget(app, shared.env);
        await editor.setText(text);
      }
      notice.hidden = true;
      drawSavedValues();
    } catch (err) {
      replace(editorSlot, h('p', { class: 'form-error', role: 'alert' }, `Could not load the secrets: ${err.message}`));
    }
  }

  async function doSave() {
    if (!editor) return;
    saveError.show(null);
    saveResult.textContent = '';
    const text = editor.getText();
    await busy(save, 'Saving…', async () => {
      try {
        const version = await put(shared.path('/secrets'), { toml: text, base_version: base, message: message.input.value.trim() || null });
        base = version.version;
        savedText = text;
        conflict.hidden = true;
        notice.hidden = true;
        importStatus.textContent = '';
        if (version.unchanged) {
          // The server made no version: the text is the newest one's already.
          replace(saveResult, h('strong', {}, 'No changes to save. '), `The text is version ${version.version} already, so no new version was made.`);
          return;
        }
        message.input.value = '';
        const copies = h('button', {
          type: 'button',
          class: 'link-button',
          onclick: () => {
            status.rollout.scrollIntoView({ block: 'nearest' });
            status.rollout.focus();
          },
        }, 'Running copies');
        replace(saveResult, h('span', { class: 'ok-text' }, `Saved version ${version.version}. `),
          'Each running copy picks it up within seconds: see ', copies, '.');
        toast(`Saved ${app} secrets version ${version.version}.`);
        editor.check();
        drawSavedValues();
        shared.changed();
      } catch (err) {
        await showRefusedSave(err, editor, saveForm, { onConflict: showConflict });
      }
    });
  }
  save.addEventListener('click', doSave);

  /** Someone saved meanwhile: say who and what, keep the text, offer the ways forward. */
  async function showConflict(body) {
    const latest = body.latest_version;
    const from = body.base_version;
    const theirs = h('div', {}, h('p', { class: 'muted' }, 'Loading what changed…'));
    const saveOnTop = h('button', { type: 'button', class: 'button primary' }, `Save my text as version ${latest + 1}`);
    const loadLatest = h('button', { type: 'button', class: 'button' }, `Load version ${latest} (keep a copy of my text)`);
    replace(conflict,
      h('h3', {}, 'Not saved: someone else saved meanwhile'),
      h('p', {}, `${body.message.charAt(0).toUpperCase()}${body.message.slice(1)}.`),
      h('p', { class: 'conflict-sub' }, `What changed from version ${from} to version ${latest}:`),
      theirs,
      h('p', {}, 'Your text is still in the editor, unchanged, and the preview now compares it with version ', String(latest), '.'),
      h('div', { class: 'actions start' }, saveOnTop, loadLatest));
    conflict.hidden = false;
    saveOnTop.addEventListener('click', () => {
      base = latest;
      doSave();
    });
    loadLatest.addEventListener('click', async () => {
      const mine = editor.getText();
      await load();
      keepCopy(mine);
      conflict.hidden = true;
    });
    editor.check();
    try {
      const diff = await get(withQuery(shared.path('/diff'), { from, to: latest }));
      replace(theirs, renderDiff(diff.diff, 'No key changes.'));
    } catch (err) {
      replace(theirs, h('p', { class: 'form-error' }, `Could not load the difference: ${err.message}`));
    }
    conflict.scrollIntoView({ block: 'nearest' });
  }

  /** Shows the text someone typed (after loading the latest) so nothing typed is lost. */
  function keepCopy(text) {
    const area = h('textarea', { class: 'code', readonly: true, rows: '8', wrap: 'off', spellcheck: 'false' });
    area.value = text;
    const id = newId('yours');
    area.id = id;
    replace(yours,
      h('label', { for: id }, 'Your unsaved text (copy what you need back into the editor)'),
      area,
      h('div', { class: 'actions start' },
        h('button', { type: 'button', class: 'button', onclick: () => { editor.setText(text); yours.hidden = true; } }, 'Put my text back in the editor'),
        h('button', { type: 'button', class: 'button', onclick: () => { yours.hidden = true; } }, 'Discard my copy')));
    yours.hidden = false;
  }

  const listener = async (event) => {
    if (event.type === 'info') status.draw();
    if (event.type !== 'version' || !editor || event.version <= base) return;
    if (!dirty()) {
      await load();
      const by = shared.info?.updated_by;
      replace(notice, `Version ${event.version} was just saved${by ? ` by ${by}` : ''}; the editor now shows it.`);
      notice.hidden = false;
    } else {
      const by = shared.info?.updated_by;
      replace(notice, h('strong', {}, `Version ${event.version} was just saved${by ? ` by ${by}` : ''}. `),
        'Your changes are kept; when you save, you will see what changed and choose how to go on.');
      notice.hidden = false;
    }
  };
  shared.listeners.add(listener);
  load();
  status.draw();
  return {
    el,
    async beforeClose() {
      if (!dirty()) return true;
      return confirmDialog({
        title: 'Discard your changes?', message: `Your edit of ${app}'s secrets is not saved.`, confirm: 'Discard changes', danger: true,
      });
    },
    destroy() {
      shared.listeners.delete(listener);
      if (editor) editor.destroy();
    },
    ctx,
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens

function tokensTab(shared) {
  const { app, ctx, env } = shared;
  const table = h('div', { class: 'table-wrap' });
  const loadError = errorBox();
  const created = h('div', { class: 'created-token', role: 'status', hidden: true });
  const where = env === PRODUCTION ? app : `${app} in ${env}`;
  const parts = [h('h2', { class: 'tab-title' }, env === PRODUCTION ? 'Tokens' : `Tokens of ${env}`),
    h('p', { class: 'muted' }, `An app token lets running copies of ${where} read its secrets with hush run, and nothing else. It is shown once, when you create it.`)];
  if (ctx.isEditor()) {
    const name = field({ label: 'Token name', input: h('input', { type: 'text', maxlength: '100', placeholder: 'e.g. production server' }) });
    const days = field({ label: 'Expires after (days)', optional: true, input: h('input', { type: 'number', min: '1', inputmode: 'numeric' }) });
    const error = errorBox();
    const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create token');
    const form = h('form', { class: 'token-form', novalidate: true }, name.wrap, days.wrap, h('div', { class: 'form-submit' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      name.setError(null);
      error.show(null);
      if (!name.input.value.trim()) return name.refuse('Name the token after where it is used, e.g. production server.');
      const body = { kind: 'app', app, name: name.input.value.trim() };
      if (env !== PRODUCTION) body.env = env;
      if (days.input.value) body.expires_in_days = Number(days.input.value);
      await busy(submit, 'Creating…', async () => {
        try {
          const token = await post('/tokens', body);
          name.input.value = '';
          days.input.value = '';
          const done = h('button', { type: 'button', class: 'button', onclick: () => { created.hidden = true; created.replaceChildren(); submit.focus(); } }, 'Done: I stored it');
          replace(created,
            h('h3', {}, `Token “${token.name}” created`),
            h('p', { class: 'warn-text' }, 'Copy it now: this is the only time hush shows it.'),
            copyField('Token', token.token),
            token.run_command ? copyField('Start your app with', token.run_command, { multiline: true }) : null,
            h('div', { class: 'actions start' }, done));
          created.hidden = false;
          created.querySelector('input')?.focus();
          load();
        } catch (err) {
          error.show(`Not created: ${err.message}`);
        }
      });
    });
    parts.push(form, error.el, created);
  }
  parts.push(loadError.el, table);
  const el = h('div', { class: 'tab-panel' }, parts);

  async function revoke(token, button) {
    const ok = await confirmDialog({
      title: `Revoke “${token.name}”?`,
      message: 'Copies of the app using this token stop receiving secrets at once, on every server. This cannot be undone.',
      confirm: 'Revoke token',
      danger: true,
    });
    if (!ok) return;
    await busy(button, 'Revoking…', async () => {
      try {
        await del(`/tokens/${encodeURIComponent(token.id)}`);
        toast(`Revoked “${token.name}”.`);
        await load();
      } catch (err) {
        loadError.show(`Not revoked: ${err.message}`);
      }
    });
  }

  async function load() {
    let tokens;
    try {
      // The list holds every environment's tokens; this tab shows the environment's own.
      tokens = (await get(withQuery('/tokens', { app }))).tokens.filter((t) => (t.env || PRODUCTION) === env);
      await shared.envsLoaded;
      loadError.show(null);
    } catch (err) {
      loadError.show(`Could not load the tokens: ${err.message}`);
      return;
    }
    if (!tokens.length) {
      replace(table, h('p', { class: 'muted' }, 'No tokens yet.'));
      return;
    }
    const now = Date.now();
    // With several environments, each token says which one it reads.
    const showEnv = (shared.envs || []).length > 1;
    replace(table, dataTable({
      caption: `Tokens of ${where}`,
      columns: ['Name', ...(showEnv ? ['Environment'] : []), 'Token', 'Created', 'Last used', 'Expires', 'Status', ''],
      rows: tokens.map((t) => {
        const state = t.revoked_at ? 'revoked' : t.expires_at && t.expires_at < now ? 'expired' : 'active';
        let action = null;
        if (state === 'active' && ctx.isEditor()) {
          action = h('button', { type: 'button', class: 'button small danger', 'aria-label': `Revoke token ${t.name}` }, 'Revoke');
          action.addEventListener('click', () => revoke(t, action));
        }
        return {
          class: state === 'active' ? null : 'inactive',
          cells: [
            t.name,
            ...(showEnv ? [h('span', { class: 'badge neutral' }, t.env || PRODUCTION)] : []),
            h('code', {}, `${t.prefix}…`),
            ago(t.created_at),
            ago(t.last_used_at),
            t.expires_at ? fullTime(t.expires_at) : h('span', { class: 'muted' }, 'never'),
            h('span', { class: `badge ${state === 'active' ? 'ok' : 'neutral'}` }, state),
            action,
          ],
        };
      }),
    }));
  }
  load();
  return { el };
}
