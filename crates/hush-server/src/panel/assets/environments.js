// An app's environments in its settings: the switcher above the tabs (owners add and delete
// environments), the Effective tab (the shared documents an environment includes, in order,
// and where each root key of its effective secrets comes from, values masked) and the Compare
// tab (keys only in one environment, keys that differ; their values only for editors).

import { appPath, del, envPath, get, post, put, withQuery } from './api.js';
import { busy, dataTable, errorBox, field, h, newId, onCreateNamed, replace, toast } from './dom.js';
import { confirmDialog, openModal } from './modal.js';

export const PRODUCTION = 'production';

/** Routes that exist only under `/envs/{env}` (production's too). */
const inEnv = (app, env, rest) => appPath(app, `/envs/${encodeURIComponent(env)}${rest}`);

/** Visible words plus words only read out, so every button says what it acts on. */
const spoken = (...parts) => parts.map((p) => (typeof p === 'object' ? h('span', { class: 'visually-hidden' }, p.hidden) : p));

/**
 * What the settings show about an environment: what GET /apps/NAME says of production, plus
 * its `revision` (what its running copies report having applied).
 */
export async function envInfo(app, env) {
  const revisionOf = async () => (await get(appPath(app, '/envs'))).envs.find((e) => e.name === env)?.revision;
  if (env === PRODUCTION) {
    const [info, revision] = await Promise.all([get(appPath(app)), revisionOf()]);
    return { ...info, revision };
  }
  const [{ versions }, { instances }, revision] = await Promise.all([
    get(withQuery(envPath(app, env, '/versions'), { limit: 1 })),
    get(envPath(app, env, '/instances')),
    revisionOf(),
  ]);
  const newest = versions[0];
  return {
    name: app,
    latest_version: newest?.version || 0,
    updated_at: newest?.created_at ?? null,
    updated_by: newest?.author ?? null,
    instances,
    revision,
  };
}

/**
 * The environment switcher: a picker of the app's environments and, for owners, Add and
 * Delete. `onSwitch(name)` resolves false when the switch was refused (unsaved changes).
 * `shared.envs` holds the list once loaded; `shared.envsLoaded` resolves then.
 */
export function envBar(shared, onSwitch) {
  const { app } = shared;
  const selectId = newId('env');
  const select = h('select', { id: selectId, class: 'env-select' });
  const error = errorBox();
  const add = shared.canOwn()
    ? h('button', { type: 'button', class: 'button small', onclick: () => addEnvDialog(app, async (name) => { await load(); await switchTo(name); }) }, 'Add environment…')
    : null;
  const remove = shared.canOwn() ? h('button', { type: 'button', class: 'button small danger' }) : null;
  const el = h('div', { class: 'env-bar' },
    h('label', { for: selectId }, 'Environment'), select, add, remove, error.el);

  async function switchTo(name) {
    error.show(null);
    if (await onSwitch(name)) draw();
    else select.value = shared.env;
  }
  select.addEventListener('change', () => switchTo(select.value));

  function draw() {
    replace(select, shared.envs.map((e) => h('option', { value: e.name, selected: e.name === shared.env }, e.name)));
    select.value = shared.env;
    if (remove) {
      remove.hidden = shared.env === PRODUCTION;
      remove.textContent = `Delete ${shared.env}…`;
    }
  }

  remove?.addEventListener('click', async () => {
    const env = shared.env;
    const ok = await confirmDialog({
      title: `Delete ${env}?`,
      message: `This deletes the ${env} environment of ${app}: its secrets, every version of them, its tokens and what it includes, for good. Running copies that read ${env} keep what they have but get no updates. Production and the other environments stay as they are.`,
      confirm: 'Delete environment',
      danger: true,
    });
    if (!ok) return;
    try {
      await del(envPath(app, env));
    } catch (err) {
      error.show(`Could not delete ${env}: ${err.message}`);
      return;
    }
    toast(`Deleted the ${env} environment of ${app}.`);
    await onSwitch(PRODUCTION, { force: true });
    await load();
    select.focus();
  });

  async function load() {
    try {
      shared.envs = (await get(appPath(app, '/envs'))).envs;
    } catch (err) {
      shared.envs = shared.envs || [{ name: shared.env, includes: [] }];
      error.show(`Could not load the environments: ${err.message}`);
    }
    draw();
  }
  shared.envsLoaded = load();
  return { el, reload: load };
}

/** "Add environment…": a name, checked by the server (its words go under the field). */
function addEnvDialog(app, onAdded) {
  const modal = openModal({ title: `Add an environment to ${app}`, size: 'small' });
  const name = field({
    label: 'Environment name',
    input: h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off' }),
    help: 'Lowercase letters, digits, - and _, like staging or development. It starts empty, with no shared documents.',
  });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create environment');
  const form = h('form', { class: 'stack', novalidate: true },
    name.wrap, error.el,
    h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button', onclick: () => modal.close() }, 'Cancel'), submit));
  modal.body.append(form);
  onCreateNamed({
    form,
    name,
    error,
    submit,
    emptyMessage: 'Give the environment a name, like staging.',
    failed: 'Not added',
    create: async (wanted) => {
      const env = await post(appPath(app, '/envs'), { name: wanted });
      await modal.close(true);
      toast(`Added the ${env.name} environment to ${app}.`);
      await onAdded(env.name);
    },
  });
}

/** A masked value as text: the server replaced every value; tables show their keys. */
function maskedText(value) {
  if (Array.isArray(value)) return `[${value.map(maskedText).join(', ')}]`;
  if (value && typeof value === 'object') return `{ ${Object.entries(value).map(([k, v]) => `${k} = ${maskedText(v)}`).join(', ')} }`;
  return String(value);
}

// ---------------------------------------------------------------------------------------------
// Effective

export function effectiveTab(shared) {
  const { app, env } = shared;
  const canOwn = shared.canOwn();
  const includesId = newId('includes');
  const list = h('ol', { class: 'includes', id: includesId, 'aria-label': `Shared documents ${env} includes, in order` });
  const includeError = errorBox();
  const addSelect = h('select', {});
  const addButton = h('button', { type: 'submit', class: 'button' }, 'Include');
  const addForm = canOwn
    ? h('form', { class: 'include-form', 'aria-label': 'Include a shared document' },
      field({ label: 'Shared document to include', input: addSelect }).wrap, addButton)
    : null;
  const keysSlot = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading…'));
  const loadError = errorBox();
  const textSlot = h('div', {});
  const text = h('details', { class: 'effective-text', hidden: true }, h('summary', {}, 'Show the effective TOML'), textSlot);
  const el = h('div', { class: 'tab-panel' },
    h('h2', { class: 'tab-title' }, `Effective secrets of ${env}`),
    h('p', { class: 'muted' }, `What running copies of ${env} get: the shared documents it includes, in order, then its own secrets. A later document's root key replaces an earlier one's whole (a table is never merged key by key), and ${env}'s own secrets win over all.`),
    h('section', { class: 'includes-box', 'aria-label': 'Included shared documents' },
      h('h3', {}, 'Included shared documents'),
      list,
      canOwn ? addForm : h('p', { class: 'help' }, 'Owners choose which shared documents an environment includes.'),
      includeError.el),
    h('section', { class: 'provenance', 'aria-label': 'Where each key comes from' },
      h('h3', {}, 'Where each key comes from'),
      // Only editors get the merged text from the server; viewers get no such section.
      loadError.el, keysSlot, shared.ctx.isEditor() ? text : null));

  let includes = [];
  let effectiveToml = null;

  /** Where focus goes when the list is drawn next (after a change the person made). */
  let pendingFocus = null;

  /** Saves the list; `refocus` says where focus goes then (see `restoreFocus`). */
  async function setIncludes(documents, done, refocus = null) {
    includeError.show(null);
    try {
      await put(inEnv(app, env, '/includes'), { documents });
      if (done) toast(done);
    } catch (err) {
      includeError.show(`Not changed: ${err.message}`);
    }
    pendingFocus = refocus;
    await load();
  }

  /** The list is drawn anew: focus stays with document `name` (on its button `label` when
   * that can still be used), or goes to the picker once the document is gone. */
  function restoreFocus({ name, label }) {
    const item = [...list.children].find((li) => li.querySelector('code')?.textContent === name);
    const usable = item ? [...item.querySelectorAll('button')].filter((b) => !b.disabled) : [];
    (usable.find((b) => b.textContent === label) || usable[0] || addSelect).focus();
  }

  function moveButton(name, i, step, word) {
    const button = h('button', { type: 'button', class: 'button small', disabled: i + step < 0 || i + step >= includes.length },
      spoken('Move ', { hidden: `${name} ` }, word));
    button.addEventListener('click', () => {
      const next = [...includes];
      [next[i], next[i + step]] = [next[i + step], next[i]];
      setIncludes(next, `${name} moved ${word}.`, { name, label: button.textContent });
    });
    return button;
  }

  function drawIncludes(available) {
    const focused = list.contains(document.activeElement)
      ? { name: document.activeElement.closest('li')?.querySelector('code')?.textContent, label: document.activeElement.textContent }
      : null;
    const refocus = pendingFocus || focused;
    pendingFocus = null;
    replace(list, includes.length
      ? includes.map((name, i) => h('li', { class: 'include-item' },
        h('span', { class: 'include-order', 'aria-hidden': 'true' }, `${i + 1}.`),
        h('code', {}, name),
        canOwn ? h('span', { class: 'include-actions' },
          moveButton(name, i, -1, 'up'),
          moveButton(name, i, 1, 'down'),
          h('button', {
            type: 'button', class: 'button small danger',
            onclick: () => setIncludes(includes.filter((n) => n !== name), `${env} no longer includes ${name}.`, { name, label: null }),
          }, spoken('Remove', { hidden: ` ${name}` }))) : null))
      : h('li', { class: 'muted' }, `${env} includes no shared document.`));
    if (addForm) {
      const left = available.filter((name) => !includes.includes(name));
      replace(addSelect, left.length
        ? left.map((name) => h('option', { value: name }, name))
        : h('option', { value: '' }, 'No other shared document'));
      addButton.disabled = !left.length;
    }
    if (refocus) restoreFocus(refocus);
  }

  addForm?.addEventListener('submit', (event) => {
    event.preventDefault();
    if (addSelect.value) setIncludes([...includes, addSelect.value], `${env} now includes ${addSelect.value}.`, { name: null });
  });

  function drawKeys(view) {
    const own = (from) => from === env && !includes.includes(from);
    replace(keysSlot, view.keys.length
      ? dataTable({
        caption: `Where each key of ${env}'s effective secrets comes from`,
        columns: ['Key', 'Comes from', 'Replaces', 'Value'],
        className: 'provenance-table',
        rows: view.keys.map((k) => ({
          cells: [
            h('code', {}, k.key),
            own(k.from) ? `${env}'s own secrets` : ['shared document ', h('code', {}, k.from)],
            k.hides.length ? k.hides.map((d, i) => [i ? ', ' : '', h('code', {}, d)]) : h('span', { class: 'muted' }, '—'),
            h('code', { class: 'masked-value' }, maskedText(view.masked[k.key])),
          ],
        })),
      })
      : h('p', { class: 'muted' }, `${env} has no secrets yet, of its own or included.`));
    effectiveToml = view.toml ?? null;
    text.hidden = effectiveToml === null || !view.keys.length;
    if (text.open) drawText();
  }

  /** The merged text, on the page only while the section is open. */
  function drawText() {
    if (!text.open || effectiveToml === null) {
      textSlot.replaceChildren();
      return;
    }
    const area = h('textarea', { class: 'code', readonly: true, rows: '10', wrap: 'off', spellcheck: 'false', 'aria-label': `Effective TOML of ${env}` });
    area.value = effectiveToml;
    replace(textSlot, h('p', { class: 'help' }, 'Values are shown to editors and owners; each time is recorded in the audit log.'), area);
  }
  text.addEventListener('toggle', drawText);

  async function load() {
    try {
      const [inc, view, docs] = await Promise.all([
        get(inEnv(app, env, '/includes')),
        get(inEnv(app, env, '/effective')),
        canOwn ? get('/shared') : Promise.resolve({ documents: [] }),
      ]);
      includes = inc.documents;
      loadError.show(null);
      drawIncludes(docs.documents.map((d) => d.name));
      drawKeys(view);
    } catch (err) {
      loadError.show(`Could not load the effective secrets: ${err.message}`);
    }
  }

  const listener = (event) => {
    if (event.type === 'version') load();
  };
  shared.listeners.add(listener);
  load();
  // Shown again: documents may have come or gone meanwhile (they have no stream of their own).
  return { el, shown: load, destroy: () => shared.listeners.delete(listener) };
}

// ---------------------------------------------------------------------------------------------
// Compare

/** A value the server sent for an editor: strings as they are, anything else as JSON. */
const valueText = (v) => (v === null || v === undefined ? h('span', { class: 'muted' }, '—') : h('code', { class: 'value-text' }, typeof v === 'string' ? v : JSON.stringify(v)));

export function compareTab(shared) {
  const { app } = shared;
  const aSelect = h('select', {});
  const bSelect = h('select', {});
  const submit = h('button', { type: 'submit', class: 'button' }, 'Compare');
  const form = h('form', { class: 'compare', 'aria-label': 'Compare two environments' },
    field({ label: 'First environment', input: aSelect }).wrap,
    field({ label: 'Second environment', input: bSelect }).wrap,
    submit);
  const result = h('div', { class: 'compare-result', 'aria-live': 'polite' });
  const el = h('div', { class: 'tab-panel' },
    h('h2', { class: 'tab-title' }, 'Compare environments'),
    h('p', { class: 'muted' }, shared.ctx.isEditor()
      ? 'Which keys of the effective secrets exist in one environment and not the other, and which differ. Showing the values of those that differ is recorded in the audit log.'
      : 'Which keys of the effective secrets exist in one environment and not the other, and which differ. Values are shown only to editors and owners.'),
    form, result);

  function keyList(keys, none) {
    return keys.length
      ? h('ul', { class: 'diff' }, keys.map((k) => h('li', {}, h('code', {}, k))))
      : h('p', { class: 'muted' }, none);
  }

  async function run() {
    const a = aSelect.value;
    const b = bSelect.value;
    replace(result, h('p', { class: 'muted' }, 'Comparing…'));
    let c;
    try {
      c = await get(withQuery(appPath(app, '/compare'), { a, b }));
    } catch (err) {
      replace(result, h('p', { class: 'form-error', role: 'alert' }, `Could not compare: ${err.message}`));
      return;
    }
    const same = !c.only_in_a.length && !c.only_in_b.length && !c.differing.length;
    if (same) {
      replace(result, h('div', { class: 'diff-box' }, h('p', {}, `${a} and ${b} have the same keys and values.`)));
      return;
    }
    const differing = c.values_shown
      ? valuesToggle(c)
      : [keyList(c.differing.map((d) => d.key), 'None.'),
        c.differing.length ? h('p', { class: 'help' }, 'Values are shown only to editors and owners.') : null];
    replace(result, h('div', { class: 'diff-box' },
      h('h3', {}, `Only in ${a}`), keyList(c.only_in_a, 'None.'),
      h('h3', {}, `Only in ${b}`), keyList(c.only_in_b, 'None.'),
      h('h3', {}, 'In both, with different values'), differing));
  }

  /** Key names of the differing values, and their values side by side once asked for. */
  function valuesToggle(c) {
    if (!c.differing.length) return [h('p', { class: 'muted' }, 'None.')];
    const slot = h('div', { id: newId('compare-values') });
    const names = keyList(c.differing.map((d) => d.key), 'None.');
    const button = h('button', { type: 'button', class: 'button small', 'aria-expanded': 'false', 'aria-controls': slot.id }, 'Show the differing values');
    button.addEventListener('click', () => {
      const open = button.getAttribute('aria-expanded') !== 'true';
      replace(slot, open ? dataTable({
        caption: `Values that differ between ${c.a} and ${c.b}`,
        columns: ['Key', c.a, c.b],
        className: 'value-diff',
        rows: c.differing.map((d) => ({ cells: [h('code', {}, d.key), valueText(d.a), valueText(d.b)] })),
      }) : []);
      names.hidden = open;
      button.setAttribute('aria-expanded', String(open));
      button.textContent = open ? 'Hide the differing values' : 'Show the differing values';
    });
    return [names, h('div', { class: 'actions start' }, button), slot];
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    busy(submit, null, run);
  });

  (async () => {
    await shared.envsLoaded;
    const names = (shared.envs || []).map((e) => e.name);
    const other = names.find((n) => n !== shared.env) || shared.env;
    replace(aSelect, names.map((n) => h('option', { value: n, selected: n === shared.env }, n)));
    replace(bSelect, names.map((n) => h('option', { value: n, selected: n === other }, n)));
    aSelect.value = shared.env;
    bSelect.value = other;
    if (names.length < 2) {
      submit.disabled = true;
      replace(result, h('p', { class: 'muted' }, `${app} has one environment. ${shared.canOwn() ? 'Add another with Add environment… to compare them.' : 'An owner can add another.'}`));
    }
  })();
  return { el };
}
