// The Shared documents page (/shared): workspace TOML documents that app environments include
// (e.g. common-db). Any member sees the list, which environments include each document, its
// key names and history; editors of a document edit and save it (checked as you type, 409 when
// someone saved meanwhile); owners create and delete (the server refuses to delete a document
// still included) and give members a role on one document (Roles…), which replaces their
// workspace role for it: the server says each document's role for the caller (`role`).

import { del, get, getOrSay, post, put } from './api.js';
import { ago, busy, capitalize, dataTable, errorBox, field, h, newId, onCreateNamed, replace, toast } from './dom.js';
import { confirmDialog, openModal } from './modal.js';
import { createSaveEditor, diffSummary, saveFormParts, showRefusedSave } from './editor.js';

const docPath = (name, rest = '') => `/shared/${encodeURIComponent(name)}${rest}`;

export function sharedView(ctx) {
  const table = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading…'));
  const loadError = errorBox();
  const detail = h('div', {});
  const view = h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Shared documents')),
    h('p', { class: 'muted' }, 'A shared document holds secrets several apps use, like one database. An app environment includes shared documents, in order, under its own secrets (Effective tab of the app’s settings); a save here reaches every running copy of every environment that includes it.'),
    ctx.isOwner() ? createForm() : null,
    loadError.el,
    h('section', { class: 'card' }, h('h2', {}, 'Documents'), table),
    detail);
  let openDoc = null;

  function createForm() {
    const name = field({
      label: 'Document name',
      input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off' }),
      help: 'Lowercase letters, digits, - and _, like common-db. It cannot be an app’s name.',
    });
    const error = errorBox();
    const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create document');
    const form = h('form', { class: 'card stack', novalidate: true, 'aria-label': 'New shared document' },
      h('h2', {}, 'New shared document'), name.wrap, error.el, h('div', { class: 'actions start' }, submit));
    onCreateNamed({
      form,
      name,
      error,
      submit,
      emptyMessage: 'Give the document a name, like common-db.',
      failed: 'Not created',
      create: async (wanted) => {
        const doc = await post('/shared', { name: wanted });
        name.input.value = '';
        toast(`Created the shared document ${doc.name}.`);
        await load();
        open(doc.name);
      },
    });
    return form;
  }

  async function load() {
    const answer = await getOrSay('/shared', loadError, 'the shared documents');
    if (!answer) return;
    const { documents } = answer;
    if (!documents.length) {
      replace(table, h('p', { class: 'muted' }, ctx.isOwner() ? 'No shared documents yet: create one above.' : 'No shared documents yet. Owners create them.'));
      return;
    }
    replace(table, dataTable({
      caption: 'Shared documents',
      columns: ['Name', 'Version', 'Changed', 'Included by', ''],
      rows: documents.map((d) => ({
        cells: [
          h('button', { type: 'button', class: 'link-button', onclick: () => open(d.name) }, d.name),
          d.version ? String(d.version) : h('span', { class: 'muted' }, 'none yet'),
          d.updated_at ? ago(d.updated_at) : h('span', { class: 'muted' }, '—'),
          d.included_by.length ? d.included_by.join(', ') : h('span', { class: 'muted' }, 'no environment'),
          ctx.isOwner() ? h('div', { class: 'role-controls' }, rolesButton(d.name), deleteButton(d.name)) : null,
        ],
      })),
    }));
  }

  function rolesButton(name) {
    const button = h('button', { type: 'button', class: 'button small', 'aria-label': `Roles on ${name}` }, 'Roles…');
    button.addEventListener('click', () => docRolesDialog(name));
    return button;
  }

  function deleteButton(name) {
    const button = h('button', { type: 'button', class: 'button small danger' }, 'Delete', h('span', { class: 'visually-hidden' }, ` ${name}`));
    button.addEventListener('click', async () => {
      loadError.show(null);
      const ok = await confirmDialog({
        title: `Delete ${name}?`,
        message: `This deletes the shared document ${name} and every version of it, for good. hush refuses while an environment still includes it.`,
        confirm: 'Delete document',
        danger: true,
      });
      if (!ok) return;
      try {
        await del(docPath(name));
      } catch (err) {
        loadError.show(`Not deleted: ${capitalize(err.message)}`);
        return;
      }
      toast(`Deleted the shared document ${name}.`);
      if (openDoc?.name === name) close();
      load();
    });
    return button;
  }

  async function close() {
    if (openDoc && !(await openDoc.mayLeave())) return false;
    openDoc?.destroy();
    openDoc = null;
    detail.replaceChildren();
    return true;
  }

  async function open(name) {
    if (openDoc?.name === name) {
      openDoc.el.querySelector('h2')?.focus();
      return;
    }
    if (!(await close())) return;
    openDoc = documentCard(ctx, name, load);
    replace(detail, openDoc.el);
    const heading = openDoc.el.querySelector('h2');
    heading.tabIndex = -1;
    heading.focus();
  }

  ctx.onLeave(() => openDoc?.destroy());
  load();
  return view;
}

/**
 * An owner sets members' roles on one document: editor or viewer replaces their workspace role
 * for it; owners have every document. No "no access": the document's keys reach every app
 * that includes it.
 */
async function docRolesDialog(name) {
  const modal = openModal({ title: `Roles on ${name}` });
  const error = errorBox();
  modal.body.append(h('p', { class: 'muted' },
    `A member has their workspace role on ${name} unless a role is set here. A viewer sees its key names only; an editor reads, saves and rolls it back.`), error.el);
  let members;
  let roles;
  try {
    [members, roles] = await Promise.all([get('/members'), get(docPath(name, '/roles'))]);
  } catch (err) {
    error.show(`Could not load the roles: ${err.message}`);
    return;
  }
  const current = new Map(roles.roles.map((r) => [r.member_id, r.role]));
  modal.body.append(dataTable({
    caption: `Members' roles on ${name}`,
    columns: ['Member', 'Role'],
    rows: members.members.map((member) => {
      if (member.role === 'owner') {
        return { cells: [member.name, h('span', { class: 'muted' }, 'owner (every document)')] };
      }
      const choices = [['', `${member.role} (workspace role)`], ['viewer', 'viewer'], ['editor', 'editor']];
      const select = h('select', { 'aria-label': `Role of ${member.name} on ${name}` },
        choices.map(([value, text]) => h('option', { value, selected: (current.get(member.id) || '') === value }, text)));
      select.addEventListener('change', async () => {
        error.show(null);
        const before = current.get(member.id) || '';
        try {
          if (select.value) await put(docPath(name, `/roles/${member.id}`), { role: select.value });
          else await del(docPath(name, `/roles/${member.id}`));
          current.set(member.id, select.value);
          toast(select.value ? `${member.name} is now ${select.value} on ${name}.` : `${member.name} is ${member.role} on ${name} again.`);
        } catch (err) {
          select.value = before;
          error.show(capitalize(err.message));
        }
      });
      return { cells: [member.name, select] };
    }),
  }));
}

/**
 * One document: its text (editors of it) or key names (viewers of it), saving, and its
 * history. Whether it can be edited is the caller's role on this document, as the server says.
 */
function documentCard(ctx, name, onSaved) {
  const editorSlot = h('div', {}, h('p', { class: 'muted' }, 'Loading…'));
  const versionLine = h('p', { class: 'version-line' });
  const includedBy = h('p', { class: 'help' });
  const history = h('ol', { class: 'versions', 'aria-label': `Versions of ${name}, newest first` });
  const historyError = errorBox();
  let editable = false;
  const saveForm = saveFormParts('Save document');
  const { message, save, saveResult, saveError, conflict } = saveForm;
  const preview = h('div', { class: 'preview-wrap' });
  const headingId = newId('doc');
  const body = h('div', {}, editorSlot);
  const editingLayout = () => h('div', { class: 'secrets-grid' },
    h('div', { class: 'editor-column' }, editorSlot, message.wrap, saveError.el, conflict,
      h('div', { class: 'actions start' }, save), saveResult),
    h('div', { class: 'side-column' }, preview));
  const el = h('section', { class: 'card shared-doc', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, name),
    versionLine, includedBy, body,
    h('h3', {}, 'History'), historyError.el, history);

  let editor = null;
  let base = 0;
  let savedText = '';
  const dirty = () => Boolean(editor) && editor.getText() !== savedText;

  async function load() {
    let doc;
    try {
      doc = await get(docPath(name));
    } catch (err) {
      replace(editorSlot, h('p', { class: 'form-error', role: 'alert' }, `Could not load ${name}: ${err.message}`));
      return;
    }
    base = doc.version;
    const mayEdit = doc.role === 'editor' || doc.role === 'owner';
    if (mayEdit !== editable) {
      editable = mayEdit;
      if (!editable && editor) {
        editor.destroy();
        editor = null;
      }
      replace(body, editable ? editingLayout() : editorSlot);
    }
    drawVersion(doc.version);
    replace(includedBy, doc.included_by.length
      ? ['Included by ', doc.included_by.map((u, i) => [i ? ', ' : '', h('code', {}, u)])]
      : 'No environment includes it yet.');
    if (!editable) {
      replace(editorSlot,
        h('div', { class: 'notice', role: 'note' }, `You can see which keys exist. Values are shown only to editors of ${name} and owners.`),
        doc.keys.length
          ? h('ul', { class: 'chips', 'aria-label': `Keys of ${name}` }, doc.keys.map((k) => h('li', { class: 'chip' }, k)))
          : h('p', { class: 'muted' }, 'No keys yet.'));
      return;
    }
    savedText = doc.toml || '';
    if (!editor) {
      editor = createSaveEditor({
        text: savedText,
        label: `${name} (TOML)`,
        preview,
        saveForm,
      });
      replace(editorSlot, editor.el);
    } else {
      await editor.setText(savedText);
    }
  }

  function drawVersion(version) {
    replace(versionLine, version ? ['Version ', h('strong', {}, String(version))] : h('span', { class: 'muted' }, 'No versions yet.'));
  }

  async function loadHistory() {
    let versions;
    try {
      versions = (await get(docPath(name, '/versions'))).versions;
      historyError.show(null);
    } catch (err) {
      historyError.show(`Could not load the history: ${err.message}`);
      return;
    }
    replace(history, versions.length
      ? versions.map((v, i) => h('li', { class: 'version' },
        h('div', { class: 'version-head' },
          h('strong', {}, `Version ${v.version}`),
          i === 0 ? h('span', { class: 'badge' }, 'latest') : null,
          h('span', { class: 'muted' }, ` ${v.author || 'someone'} · `, ago(v.created_at))),
        h('p', { class: v.message ? 'version-message' : 'version-message muted' }, v.message || 'No message'),
        h('p', { class: 'version-changes help' }, diffSummary(v.changes))))
      : h('li', { class: 'muted' }, 'No versions yet.'));
  }

  async function doSave() {
    if (!editor) return;
    saveError.show(null);
    saveResult.textContent = '';
    conflict.hidden = true;
    const text = editor.getText();
    await busy(save, 'Saving…', async () => {
      try {
        const v = await put(docPath(name), { toml: text, base_version: base, message: message.input.value.trim() || null });
        base = v.version;
        savedText = text;
        if (v.unchanged) {
          replace(saveResult, h('strong', {}, 'No changes to save. '), `The text is version ${v.version} already, so no new version was made.`);
          return;
        }
        message.input.value = '';
        drawVersion(v.version);
        replace(saveResult, h('span', { class: 'ok-text' }, `Saved version ${v.version} of ${name}. `),
          'Every environment that includes it gets it now.');
        toast(`Saved ${name} version ${v.version}.`);
        loadHistory();
        onSaved();
      } catch (err) {
        await showRefusedSave(err, editor, saveForm, { onConflict: showConflict, reason: capitalize(err.message) });
      }
    });
  }
  save.addEventListener('click', doSave);
  el.addEventListener('keydown', (event) => {
    if (event.defaultPrevented || event.target !== message.input || event.key !== 'Enter') return;
    event.preventDefault();
    save.click();
  });

  /** Someone saved meanwhile: say who and what changed, keep the text, offer the ways on. */
  function showConflict(body) {
    const latest = body.latest_version;
    const saveOnTop = h('button', { type: 'button', class: 'button primary' }, `Save my text as version ${latest + 1}`);
    const loadLatest = h('button', { type: 'button', class: 'button' }, `Load version ${latest} (discard my text)`);
    replace(conflict,
      h('h3', {}, 'Not saved: someone else saved meanwhile'),
      h('p', {}, `${capitalize(body.message)}.`),
      h('ul', { class: 'conflict-since' }, (body.since || []).map((v) => h('li', {},
        `Version ${v.version} by ${v.author || 'someone'}: ${diffSummary(v.changes)}`))),
      h('p', {}, 'Your text is still in the editor, unchanged.'),
      h('div', { class: 'actions start' }, saveOnTop, loadLatest));
    conflict.hidden = false;
    saveOnTop.addEventListener('click', () => {
      base = latest;
      doSave();
    });
    loadLatest.addEventListener('click', async () => {
      conflict.hidden = true;
      await load();
      loadHistory();
    });
  }

  load();
  loadHistory();
  return {
    el,
    name,
    async mayLeave() {
      if (!dirty()) return true;
      return confirmDialog({
        title: 'Discard your changes?', message: `Your edit of ${name} is not saved.`, confirm: 'Discard changes', danger: true,
      });
    },
    destroy() {
      if (editor) editor.destroy();
    },
  };
}
