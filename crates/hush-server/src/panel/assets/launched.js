// Server-launched apps (hush serve --apps-dir): the process badge in the workspace, Reboot,
// and the Logs tab of an app's settings (process state, launch settings, the newest output
// lines, masked by the server before they leave it). Editors and owners only: the launch
// status endpoint refuses viewers, so nothing here is drawn for them.

import { appPath, get, post, put, withQuery } from './api.js';
import { busy, capitalize, errorBox, field, h, replace, toast } from './dom.js';
import { confirmDialog } from './modal.js';

const LOG_POLL_MS = 2000;
/** Lines kept on the page; older ones are dropped from the top. */
const MAX_LINES = 500;
/** Asking for lines from this far ahead returns the status alone, without log lines. */
export const STATUS_ONLY = Number.MAX_SAFE_INTEGER;
/** How long "Rebooting…" may stand before the page shows whatever the server says. */
const REBOOT_WAIT_MS = 30_000;
/** …and stands at least this long, so a quick reboot reads as one rather than a flicker. */
const REBOOT_SHOWN_MS = 1200;
const CONCEALED = '<concealed by hush>';

export const canSeeProcess = (ctx, app) => Boolean(app?.launch) && ctx.isEditor();

/** The launch status of `app`; `since` is the first log line wanted (STATUS_ONLY for none). */
export function launchStatus(app, since = STATUS_ONLY) {
  return get(withQuery(appPath(app, '/launch'), { since }));
}

/** A process state in words: { kind: ok | busy | bad | idle, label, detail }. */
export function describeProcess(s) {
  switch (s.status) {
    case 'running': return { kind: 'ok', label: 'Running', detail: s.pid ? `pid ${s.pid}` : '' };
    case 'starting': return { kind: 'busy', label: 'Starting…', detail: '' };
    case 'restarting': return { kind: 'busy', label: 'Restarting…', detail: 'with the newest secrets' };
    case 'stopping': return { kind: 'busy', label: 'Stopping…', detail: '' };
    case 'crashed': return {
      kind: 'bad',
      label: s.exit_code === null || s.exit_code === undefined ? 'Crashed' : `Crashed (exit code ${s.exit_code})`,
      detail: 'It stopped on its own; hush starts it again after a pause, a longer one after each crash.',
    };
    case 'failed': return { kind: 'bad', label: 'Failed to start', detail: s.message || '' };
    default: return { kind: 'idle', label: capitalize(s.status || 'unknown'), detail: '' };
  }
}

/**
 * A link to a server-launched app: its port on the host this page came from (the app runs on
 * the hush server's machine). Opens in a new tab that cannot reach back to this one.
 */
export function appLink(name, port) {
  const href = `http://${location.hostname}:${port}/`;
  return h('a', { href, target: '_blank', rel: 'noopener noreferrer', class: 'app-link' },
    'Open app', h('span', { class: 'visually-hidden' }, ` ${name} (new tab)`), h('span', { 'aria-hidden': 'true' }, ' ↗'));
}

/** The small coloured status badge. */
export function processBadge({ kind, label }) {
  return h('span', { class: `badge process-badge ${kind}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), label);
}

/**
 * Follows one reboot: "Rebooting…" stands until a status fetched after the request shows a new
 * process running (or a failure to start), or until REBOOT_WAIT_MS pass. A stopped process
 * briefly reads as "crashed" on its way down, which is no reason to stop waiting.
 */
export function rebootTracker() {
  let pending = null;
  return {
    start(pid) {
      pending = { pid, at: Date.now() };
    },
    active: () => Boolean(pending),
    /** `requestedAt`: when the request that answered `status` was sent. True while rebooting. */
    see(status, requestedAt) {
      if (!pending) return false;
      if (requestedAt < pending.at || Date.now() - pending.at < REBOOT_SHOWN_MS) return true;
      const done = (status.status === 'running' && status.pid !== pending.pid)
        || status.status === 'failed'
        || Date.now() - pending.at > REBOOT_WAIT_MS;
      if (done) pending = null;
      return !done;
    },
  };
}

/** Asks, then reboots. Resolves true once the server took the request; throws its error. */
export async function confirmReboot(app) {
  const ok = await confirmDialog({
    title: `Reboot ${app}?`,
    message: `This stops ${app}'s process and starts it again with the newest secrets. Whoever uses the app is disconnected for a moment.`,
    confirm: 'Reboot',
  });
  if (!ok) return false;
  await post(appPath(app, '/reboot'));
  return true;
}

/** "pid 4242 · 2 restarts · secrets version 3 (latest)". */
function factsText(s, latest) {
  const parts = [];
  if (s.pid) parts.push(`pid ${s.pid}`);
  if (s.exit_code !== null && s.exit_code !== undefined && s.status !== 'crashed') parts.push(`last exit code ${s.exit_code}`);
  // The server counts the restarts it made after the app stopped on its own (not reboots or saves).
  parts.push(s.restarts ? `${s.restarts} automatic restart${s.restarts === 1 ? '' : 's'}` : 'no automatic restarts');
  const applied = s.applied_version;
  if (applied === null || applied === undefined) parts.push('no secrets applied yet');
  else if (!applied && !latest) parts.push('no secrets yet');
  else if (!latest || applied >= latest) parts.push(`secrets version ${applied} (latest)`);
  else parts.push(`secrets version ${applied}; version ${latest} is newer`);
  return parts.join(' · ');
}

/** One output line; the server's `<concealed by hush>` marks stand out a little. */
function logLine(line) {
  const parts = String(line.text).split(CONCEALED);
  const children = [];
  parts.forEach((part, i) => {
    if (i > 0) children.push(h('span', { class: 'concealed' }, CONCEALED));
    if (part) children.push(part);
  });
  return h('div', {
    class: line.stream === 'stderr' ? 'log-line stderr' : 'log-line',
    title: line.stream === 'stderr' ? 'standard error' : null,
  }, children.length ? children : '\u00a0');
}

// ---------------------------------------------------------------------------------------------
// The Logs tab

export function logsTab(shared) {
  const { app, ctx } = shared;
  const badge = h('span', { class: 'process-badge-slot' }, h('span', { class: 'muted' }, 'Loading…'));
  const facts = h('span', { class: 'process-facts' });
  const detail = h('p', { class: 'process-detail', hidden: true });
  const statusLine = h('div', { class: 'process-line', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' }, badge, facts);
  const loadError = errorBox();
  const actionError = errorBox();
  const reboot = h('button', { type: 'button', class: 'button' }, 'Reboot…');
  const settingsList = h('dl', { class: 'launch-settings' });
  const editButton = ctx.isOwner() ? h('button', { type: 'button', class: 'button small', 'aria-expanded': 'false' }, 'Edit launch settings') : null;
  const lines = h('div', { class: 'log-lines' });
  const empty = h('p', { class: 'log-empty' }, 'No output yet.');
  const box = h('div', {
    class: 'log-box', role: 'log', tabindex: '0', 'aria-label': `Newest output of ${app}, oldest first`,
  }, empty, lines);
  const jump = h('button', { type: 'button', class: 'button small log-jump', hidden: true }, 'New lines below: scroll to the newest');
  const form = ctx.isOwner() ? launchForm(shared, { onSaved, onCancel: () => toggleForm(false) }) : null;

  const el = h('div', { class: 'tab-panel' },
    h('div', { class: 'tab-head' }, h('h2', { class: 'tab-title' }, 'Logs'), ctx.isEditor() ? reboot : null),
    statusLine,
    detail,
    loadError.el,
    actionError.el,
    h('div', { class: 'launch-box' },
      h('div', { class: 'launch-box-head' }, h('h3', {}, 'How hush starts it'), editButton),
      settingsList,
      form ? form.el : null),
    h('div', { class: 'log-head' },
      h('h3', {}, 'Output'),
      h('p', { class: 'help' }, `The last ${MAX_LINES} lines, every secret value replaced by ${CONCEALED}. Standard error lines are marked on the left.`)),
    h('div', { class: 'log-wrap' }, box, jump));

  let next = 0;
  let count = 0;
  let last = null;
  let launchKey = null;
  let timer = null;
  let stopped = false;
  let inflight = null;
  const rebooting = rebootTracker();

  const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  const toBottom = () => {
    box.scrollTop = box.scrollHeight;
    jump.hidden = true;
  };
  box.addEventListener('scroll', () => {
    if (atBottom()) jump.hidden = true;
  });
  jump.addEventListener('click', () => {
    toBottom();
    box.focus();
  });

  /** Bumped when the lines start over: an answer asked for before that is dropped. */
  let generation = 0;
  function clearLines() {
    generation += 1;
    next = 0;
    count = 0;
    lines.replaceChildren();
    empty.hidden = false;
    jump.hidden = true;
  }

  function addLines(list) {
    if (!list.length) return;
    const follow = atBottom();
    const fragment = document.createDocumentFragment();
    for (const line of list) fragment.append(logLine(line));
    lines.append(fragment);
    count += list.length;
    while (count > MAX_LINES && lines.firstChild) {
      lines.firstChild.remove();
      count -= 1;
    }
    next = list[list.length - 1].seq + 1;
    empty.hidden = true;
    if (follow) toBottom();
    else jump.hidden = false;
  }

  function drawSettings(launch) {
    const row = (term, value) => [h('dt', {}, term), h('dd', {}, value)];
    replace(settingsList,
      row('Folder', h('code', {}, launch.folder)),
      row('Command', h('code', {}, launch.command)),
      row('Port', launch.port
        ? [h('code', {}, String(launch.port)), ' · ', appLink(app, launch.port)]
        : h('span', { class: 'muted' }, 'none')));
    if (form) form.fill(launch);
  }

  let drawn = '';
  function drawStatus() {
    if (!last) return;
    const latest = shared.info?.latest_version || 0;
    const words = rebooting.active() ? { kind: 'busy', label: 'Rebooting…', detail: '' } : describeProcess(last);
    const text = factsText(last, latest);
    const more = rebooting.active() ? '' : last.status === 'failed' ? capitalize(last.message || '') : last.status === 'crashed' ? words.detail : '';
    // Redrawn only when something changed, so the live region speaks only then.
    const key = JSON.stringify([words.kind, words.label, text, more]);
    if (key === drawn) return;
    drawn = key;
    replace(badge, processBadge(words));
    facts.textContent = text;
    detail.textContent = more;
    detail.className = last.status === 'failed' ? 'process-detail bad' : 'process-detail';
    detail.hidden = !more;
  }

  async function poll() {
    const sentAt = Date.now();
    const asked = generation;
    let status;
    try {
      status = await launchStatus(app, next);
      if (asked !== generation) return poll();
    } catch (err) {
      if (err.status === 404) {
        loadError.show(`This server does not start ${app} now: it runs without --apps-dir, or the app was just deleted. Run it with hush run instead (see Tokens).`);
      } else {
        loadError.show(`Could not load the status and output: ${err.message}`);
      }
      return;
    }
    if (stopped) return;
    loadError.show(null);
    const key = JSON.stringify(status.launch);
    if (launchKey !== null && key !== launchKey) {
      // New launch settings mean a new process with its own numbering of lines.
      launchKey = key;
      clearLines();
      drawSettings(status.launch);
      last = status;
      drawStatus();
      return poll();
    }
    if (launchKey === null) drawSettings(status.launch);
    launchKey = key;
    last = status;
    rebooting.see(status, sentAt);
    drawStatus();
    addLines(status.logs || []);
  }

  /** One poll at a time; a call while one runs waits for it. */
  function refresh() {
    if (!inflight) inflight = poll().finally(() => { inflight = null; });
    return inflight;
  }

  async function loop() {
    if (stopped) return;
    if (!document.hidden && !el.hidden) await refresh();
    if (!stopped) timer = setTimeout(loop, rebooting.active() ? 700 : LOG_POLL_MS);
  }

  reboot.addEventListener('click', async () => {
    actionError.show(null);
    try {
      if (!(await confirmReboot(app))) return;
    } catch (err) {
      actionError.show(`Could not reboot ${app}: ${err.message}`);
      return;
    }
    rebooting.start(last?.pid ?? null);
    drawStatus();
    toast(`Rebooting ${app}…`);
    clearTimeout(timer);
    loop();
  });

  function toggleForm(open) {
    if (!form) return;
    form.el.hidden = !open;
    editButton.setAttribute('aria-expanded', String(open));
    if (open) {
      if (last) form.fill(last.launch);
      form.focus();
    } else {
      form.reset();
      editButton.focus();
    }
  }
  if (editButton) editButton.addEventListener('click', () => toggleForm(form.el.hidden));

  async function onSaved() {
    form.el.hidden = true;
    editButton.setAttribute('aria-expanded', 'false');
    editButton.focus();
    toast(`Saved how hush starts ${app}; it starts again now.`);
    launchKey = null;
    clearLines();
    clearTimeout(timer);
    await loop();
    shared.changed();
  }

  const listener = (event) => {
    if (event.type === 'info') drawStatus();
  };
  shared.listeners.add(listener);
  loop();
  return {
    el,
    beforeClose: () => (form ? form.beforeClose() : true),
    destroy() {
      stopped = true;
      clearTimeout(timer);
      shared.listeners.delete(listener);
    },
  };
}

/** Owners: folder, command and port → PUT /launch, with mistakes shown by the field. */
function launchForm(shared, { onSaved, onCancel }) {
  const { app } = shared;
  const folder = field({
    label: 'Folder',
    input: h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off' }),
    help: 'Inside the server’s apps directory, e.g. my-dashboard.',
  });
  const command = field({ label: 'Command', input: h('input', { type: 'text', spellcheck: 'false', autocomplete: 'off' }) });
  const port = field({
    label: 'Port', optional: true,
    input: h('input', { type: 'number', min: '1', max: '65535', inputmode: 'numeric' }),
    help: 'Given to the app as PORT (and STREAMLIT_SERVER_PORT).',
  });
  const error = errorBox();
  const save = h('button', { type: 'submit', class: 'button primary' }, 'Save and restart');
  const cancel = h('button', { type: 'button', class: 'button', onclick: () => onCancel() }, 'Cancel');
  const el = h('form', { class: 'launch-form', novalidate: true, hidden: true, 'aria-label': `Launch settings of ${app}` },
    h('div', { class: 'launch-fields' }, folder.wrap, command.wrap, port.wrap),
    error.el,
    h('p', { class: 'help' }, 'Saving stops the app and starts it again with these settings.'),
    h('div', { class: 'actions start' }, save, cancel));
  let shown = null;

  const values = () => ({
    folder: folder.input.value.trim(),
    command: command.input.value.trim(),
    port: port.input.value.trim() ? Number(port.input.value) : null,
  });
  const clearErrors = () => {
    folder.setError(null);
    command.setError(null);
    port.setError(null);
    error.show(null);
  };
  for (const f of [folder, command, port]) f.input.addEventListener('input', () => f.setError(null));

  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const body = values();
    if (!body.folder) return folder.refuse('Give the folder the app is in, inside the server’s apps directory.');
    if (!body.command) return command.refuse('Give the command that starts the app, e.g. streamlit run streamlit_app.py.');
    if (body.port !== null && !(Number.isInteger(body.port) && body.port >= 1 && body.port <= 65535)) return port.refuse('Give a port from 1 to 65535, or leave it empty.');
    await busy(save, 'Saving…', async () => {
      try {
        await put(appPath(app, '/launch'), body);
      } catch (err) {
        const match = /^launch\.(folder|command|port):\s*(.*)$/s.exec(err.message);
        const target = match ? { folder, command, port }[match[1]] : null;
        if (target) {
          // "nope does not exist…" names what was typed; keep it as typed, quoted.
          const typed = String(body[match[1]] ?? '');
          target.setError(typed && match[2].startsWith(typed)
            ? `“${typed}”${match[2].slice(typed.length)}`
            : capitalize(match[2]));
          target.input.focus();
        } else {
          error.show(`Not saved: ${err.message}`);
        }
        return;
      }
      shown = body;
      onSaved();
    });
  });

  return {
    el,
    fill(launch) {
      if (!el.hidden && shown) return; // never overwrite what the owner is typing
      shown = { folder: launch.folder, command: launch.command, port: launch.port ?? null };
      folder.input.value = launch.folder;
      command.input.value = launch.command;
      port.input.value = launch.port ? String(launch.port) : '';
    },
    focus: () => folder.input.focus(),
    reset() {
      clearErrors();
      if (shown) {
        folder.input.value = shown.folder;
        command.input.value = shown.command;
        port.input.value = shown.port ? String(shown.port) : '';
      }
    },
    async beforeClose() {
      if (el.hidden || !shown) return true;
      const now = values();
      if (now.folder === shown.folder && now.command === shown.command && (now.port ?? null) === (shown.port ?? null)) return true;
      return confirmDialog({
        title: 'Discard the launch settings?', message: `Your changes to how hush starts ${app} are not saved.`, confirm: 'Discard', danger: true,
      });
    },
  };
}
