// Members and roles (owners invite, change roles and remove people) and the audit log with
// filters (owners only).

import { appPath, del, get, getOrSay, getText, patch, post, put, withQuery } from './api.js';
import { ago, busy, capitalize, copyField, dataTable, errorBox, field, fullTime, h, replace, tableRow, toast } from './dom.js';
import { confirmDialog, openModal } from './modal.js';
import { diffSummary } from './editor.js';

const ROLES = [
  ['viewer', 'Viewer: key names and history, never values'],
  ['editor', 'Editor: also sees and edits secrets'],
  ['owner', 'Owner: also members, deleting apps, audit'],
];

export function membersView(ctx) {
  const owner = ctx.isOwner();
  const table = h('div', { class: 'table-wrap' });
  const loadError = errorBox();
  const parts = [h('div', { class: 'page-head' }, h('h1', {}, 'Members'))];
  if (owner) parts.push(inviteCard());
  parts.push(loadError.el, h('section', { class: 'card' }, h('h2', {}, 'People'), table));
  const view = h('section', { class: 'page' }, parts);

  async function load() {
    const answer = await getOrSay('/members', loadError, 'the members');
    if (!answer) return;
    const { members } = answer;
    replace(table, dataTable({
      caption: 'Members and their roles',
      columns: ['Name', 'Role', 'Joined', ''],
      rows: members.map((m) => memberRow(m)),
    }));
  }

  function memberRow(member) {
    const me = member.id === ctx.session.user.id;
    const rowError = h('p', { class: 'field-error', role: 'alert', hidden: true });
    const showError = (message) => {
      rowError.textContent = message || '';
      rowError.hidden = !message;
    };
    let roleCell = h('span', { class: `badge role-${member.role}` }, member.role);
    let action = me ? h('span', { class: 'muted' }, 'you') : null;
    if (owner) {
      const select = h('select', { 'aria-label': `Role of ${member.name}` },
        ROLES.map(([r]) => h('option', { value: r, selected: r === member.role }, r)));
      select.addEventListener('change', async () => {
        showError(null);
        const role = select.value;
        try {
          await patch(`/members/${member.id}`, { role });
          toast(`${member.name} is now ${role}.`);
          member.role = role;
          if (me) await ctx.refreshSession();
        } catch (err) {
          select.value = member.role;
          showError(capitalize(err.message));
        }
      });
      roleCell = select;
      if (!me && member.role !== 'owner') {
        const apps = h('button', { type: 'button', class: 'button small', 'aria-label': `Roles of ${member.name} on single apps` }, 'Apps…');
        apps.addEventListener('click', () => appRolesDialog(member));
        roleCell = h('div', { class: 'role-controls' }, select, apps);
      }
      if (!me) {
        action = h('button', { type: 'button', class: 'button small danger', 'aria-label': `Remove ${member.name}` }, 'Remove');
        action.addEventListener('click', async () => {
          showError(null);
          const ok = await confirmDialog({
            title: `Remove ${member.name}?`,
            message: `${member.name} is signed out everywhere and can no longer sign in. Their past changes stay in the history and the audit log.`,
            confirm: 'Remove member',
            danger: true,
          });
          if (!ok) return;
          try {
            await del(`/members/${member.id}`);
            toast(`Removed ${member.name}.`);
            load();
          } catch (err) {
            showError(capitalize(err.message));
          }
        });
      }
    }
    return {
      cells: [
        [member.name, me ? h('span', { class: 'muted' }, ' (you)') : null],
        h('div', { class: 'role-cell' }, roleCell, rowError),
        ago(member.created_at),
        action,
      ],
    };
  }

  /** An owner gives a member a role on single apps (none hides the app from them). */
  async function appRolesDialog(member) {
    const modal = openModal({ title: `${member.name} on single apps` });
    const error = errorBox();
    modal.body.append(h('p', { class: 'muted' },
      `${member.name} is ${member.role} on every app unless a role is set here. “No access” hides the app from them.`), error.el);
    let apps;
    let roles;
    try {
      [apps, roles] = await Promise.all([get('/apps'), get(`/members/${member.id}/app-roles`)]);
    } catch (err) {
      error.show(`Could not load the apps: ${err.message}`);
      return;
    }
    const current = new Map(roles.roles.map((r) => [r.app, r.role]));
    const choices = [['', `${member.role} (workspace role)`], ['none', 'No access'], ['viewer', 'viewer'], ['editor', 'editor']];
    modal.body.append(dataTable({
      caption: `Roles of ${member.name} on single apps`,
      columns: ['App', 'Role'],
      rows: apps.apps.map((app) => {
        const select = h('select', { 'aria-label': `Role of ${member.name} on ${app.name}` },
          choices.map(([value, text]) => h('option', { value, selected: (current.get(app.name) || '') === value }, text)));
        select.addEventListener('change', async () => {
          error.show(null);
          const before = current.get(app.name) || '';
          try {
            if (select.value) await put(appPath(app.name, `/roles/${member.id}`), { role: select.value });
            else await del(appPath(app.name, `/roles/${member.id}`));
            current.set(app.name, select.value);
            toast(select.value ? `${member.name} is now ${select.value === 'none' ? 'without access to' : `${select.value} on`} ${app.name}.` : `${member.name} is ${member.role} on ${app.name} again.`);
          } catch (err) {
            select.value = before;
            error.show(capitalize(err.message));
          }
        });
        return { cells: [app.name, select] };
      }),
    }));
  }

  function inviteCard() {
    const role = field({
      label: 'Role',
      input: h('select', {}, ROLES.map(([r, text]) => h('option', { value: r, selected: r === 'editor' }, text))),
    });
    const result = h('div', { class: 'invite-result', role: 'status' });
    const error = errorBox();
    const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create invitation link');
    const form = h('form', { class: 'invite-form' }, role.wrap, h('div', { class: 'form-submit' }, submit));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.show(null);
      await busy(submit, 'Creating…', async () => {
        try {
          const invite = await post('/invites', { role: role.input.value });
          replace(result,
            copyField(`Invitation link for one ${invite.role}`, invite.url),
            h('p', { class: 'help' }, `Send it to one person. It works once, until ${fullTime(invite.expires_at)}.`));
          result.querySelector('input')?.focus();
        } catch (err) {
          error.show(`No link created: ${err.message}`);
        }
      });
    });
    return h('section', { class: 'card' },
      h('h2', {}, 'Invite someone'),
      h('p', { class: 'muted' }, 'Create a one-time link with the role the person will have.'),
      form, error.el, result);
  }

  load();
  return view;
}

const ACTIONS = [
  ['', 'Any action'],
  ['secrets.', 'Secrets: any'],
  ['secrets.update', 'Secrets saved'],
  ['secrets.rollback', 'Secrets rolled back'],
  ['secrets.reveal', 'Secrets revealed to a person'],
  ['secrets.read', 'Secrets read by an app'],
  ['app.', 'Apps: created or deleted'],
  ['token.', 'Tokens: created or revoked'],
  ['member.', 'Members: invited, joined, role, removed'],
  ['auth.', 'Sign-ins and sign-outs'],
  ['setup.owner_created', 'Owner created'],
];

export function auditView(ctx) {
  if (!ctx.isOwner()) {
    return h('section', { class: 'page' }, h('h1', {}, 'Audit log'),
      h('p', { class: 'notice', role: 'note' }, 'Only owners can read the audit log.'));
  }
  const action = field({ label: 'Action', input: h('select', {}, ACTIONS.map(([v, t]) => h('option', { value: v }, t))) });
  const actor = field({ label: 'Who', input: h('input', { type: 'text', placeholder: 'member name', spellcheck: 'false' }) });
  const app = field({ label: 'App', input: h('select', {}, h('option', { value: '' }, 'Any app')) });
  const apply = h('button', { type: 'submit', class: 'button primary' }, 'Filter');
  const clear = h('button', { type: 'button', class: 'button' }, 'Clear');
  const exportButton = h('button', { type: 'button', class: 'button' }, 'Export (JSON lines)');
  const form = h('form', { class: 'filters', 'aria-label': 'Filter the audit log' },
    action.wrap, actor.wrap, app.wrap, h('div', { class: 'form-submit' }, apply, clear));
  const table = dataTable({
    caption: 'Audit events, newest first',
    columns: AUDIT_COLUMNS,
    rows: [],
    className: 'audit',
  });
  const tbody = table.querySelector('tbody');
  const error = errorBox();
  const more = h('button', { type: 'button', class: 'button', hidden: true }, 'Load older events');
  const count = h('p', { class: 'muted', 'aria-live': 'polite' });
  const view = h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Audit log'), exportButton),
    h('section', { class: 'card' }, form),
    error.el, count,
    h('div', { class: 'table-wrap card' }, table), more);
  const PAGE = 100;
  let oldest = null;
  let shown = 0;
  const filters = () => ({ action: action.input.value, actor: actor.input.value.trim(), app: app.input.value });

  get('/apps').then(({ apps }) => {
    for (const a of apps) app.input.append(h('option', { value: a.name }, a.name));
  }).catch(() => {});

  async function load(append) {
    error.show(null);
    const params = { ...filters(), limit: PAGE, before: append ? oldest : null };
    let events;
    try {
      events = (await get(withQuery('/audit', params))).events;
    } catch (err) {
      error.show(`Could not load the audit log: ${err.message}`);
      return;
    }
    if (!append) {
      tbody.replaceChildren();
      shown = 0;
    }
    for (const e of events) tbody.append(auditRow(e));
    shown += events.length;
    if (events.length) oldest = events[events.length - 1].id;
    more.hidden = events.length < PAGE;
    count.textContent = shown ? `${shown} event${shown === 1 ? '' : 's'} shown, newest first.` : 'No events match.';
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(apply, 'Filtering…', () => load(false));
  });
  clear.addEventListener('click', () => {
    action.input.value = '';
    actor.input.value = '';
    app.input.value = '';
    load(false);
  });
  more.addEventListener('click', () => busy(more, 'Loading…', () => load(true)));
  // The whole log as filtered (not only the rows shown), as the server writes it: one JSON
  // object a line. Downloaded from memory, so no token or filter ends up in a link.
  exportButton.addEventListener('click', () => busy(exportButton, 'Exporting…', async () => {
    error.show(null);
    let text;
    try {
      text = await getText(withQuery('/audit', { ...filters(), format: 'jsonl' }));
    } catch (err) {
      error.show(`Could not export the audit log: ${err.message}`);
      return;
    }
    const url = URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' }));
    const link = h('a', { href: url, download: `hush-audit-${new Date().toISOString().slice(0, 10)}.jsonl`, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    const n = text.split('\n').filter(Boolean).length;
    toast(`Exported ${n} event${n === 1 ? '' : 's'}.`);
  }));
  load(false);
  return view;
}

const AUDIT_COLUMNS = ['When', 'Who', 'Action', 'App', 'Outcome', 'From', 'Details'];

/** Who did it: a member's name, or an app token's name said as one. */
function actorName(e) {
  if (e.actor_kind === 'token') return e.actor_name ? `${e.actor_name} (app token)` : `app token #${e.actor_id}`;
  return e.actor_name || e.actor_kind;
}

function auditRow(e) {
  return tableRow(AUDIT_COLUMNS, {
    class: e.outcome === 'ok' ? null : 'failed',
    cells: [
      h('time', { datetime: new Date(e.at).toISOString(), title: fullTime(e.at) }, fullTime(e.at)),
      actorName(e),
      h('code', {}, e.action),
      e.app_name || '',
      h('span', { class: `badge ${e.outcome === 'ok' ? 'ok' : 'bad'}` }, e.outcome),
      h('span', { class: 'muted' }, e.ip || ''),
      h('span', { class: 'detail' }, describeDetail(e.detail)),
    ],
  });
}

/** A short text for an event's detail (which never holds a secret value). */
function describeDetail(detail) {
  if (!detail || typeof detail !== 'object') return '';
  const parts = [];
  for (const [key, value] of Object.entries(detail)) {
    if (key === 'changes' && value && typeof value === 'object') parts.push(diffSummary(value));
    else if (value !== null && typeof value === 'object') parts.push(`${key.replace(/_/g, ' ')}: ${JSON.stringify(value)}`);
    else parts.push(`${key.replace(/_/g, ' ')}: ${value}`);
  }
  return parts.join(' · ');
}
