// Values for editors and owners, one at a time: a version's key paths with their values hidden,
// each with Show and Copy, and "Show all". Showing asks the server for that one value
// (GET …/versions/N/values?key=PATH, audited as a reveal), so nothing else leaves it; hiding
// drops the value from the page. Also the value-level difference between two versions. The
// server refuses both to viewers, and the panel offers them only to editors.

import { envPath, get, withQuery } from './api.js';
import { copyText, dataTable, errorBox, h, replace } from './dom.js';

const HIDDEN = '••••••';

/** A button's words: `word` shown, `rest` only read out ("Show" + " the value of db.password"). */
const words = (word, rest) => [word, h('span', { class: 'visually-hidden' }, rest)];

/** One value as shown: its text, with its TOML type when that is not a string. */
function valueText(entry) {
  if (!entry) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'value-shown' },
    h('code', { class: 'value-text' }, entry.text),
    entry.type === 'string' ? null : h('span', { class: 'value-type' }, ` ${entry.type}`));
}

/** The key paths of `version` (of environment `env`), each value hidden until asked for. */
export function valuesList(app, version, env) {
  const list = h('ul', { class: 'values', 'aria-label': `Values of version ${version}` });
  const error = errorBox();
  const all = h('button', { type: 'button', class: 'button small', disabled: true }, 'Show all values');
  const el = h('div', { class: 'values-box' },
    h('div', { class: 'values-head' },
      h('p', { class: 'help' }, 'Each value you show or copy is recorded in the audit log.'),
      all),
    error.el, list);
  const rows = new Map();
  const fetchValues = async (key) => (await get(withQuery(envPath(app, env, `/versions/${version}/values`), { key }))).values;

  function row(path) {
    const slot = h('span', { class: 'value-slot' }, h('span', { class: 'value-hidden', 'aria-label': 'hidden' }, HIDDEN));
    const show = h('button', { type: 'button', class: 'button small' }, words('Show', ` the value of ${path}`));
    const copy = h('button', { type: 'button', class: 'button small' }, words('Copy', ` the value of ${path}`));
    const item = { entry: null, slot, show };
    const setShown = (entry) => {
      item.entry = entry;
      replace(slot, entry ? valueText(entry) : h('span', { class: 'value-hidden', 'aria-label': 'hidden' }, HIDDEN));
      replace(show, words(entry ? 'Hide' : 'Show', ` the value of ${path}`));
    };
    item.setShown = setShown;
    const one = async () => item.entry || (await fetchValues(path))[0];
    show.addEventListener('click', async () => {
      error.show(null);
      if (item.entry) return setShown(null);
      try {
        setShown(await one());
      } catch (err) {
        error.show(`Could not show ${path}: ${err.message}`);
      }
    });
    copy.addEventListener('click', async () => {
      error.show(null);
      let entry;
      try {
        entry = await one();
      } catch (err) {
        error.show(`Could not copy ${path}: ${err.message}`);
        return;
      }
      if (await copyText(entry.text, null, copy)) return;
      // No clipboard here (a page not served over HTTPS or from localhost): select it instead.
      const input = h('input', { type: 'text', readonly: true, class: 'shown-once', 'aria-label': `Value of ${path}` });
      input.value = entry.text;
      item.entry = entry;
      replace(slot, input);
      replace(show, words('Hide', ` the value of ${path}`));
      input.focus();
      input.select();
    });
    rows.set(path, item);
    return h('li', { class: 'value-row' }, h('code', { class: 'value-key' }, path), slot,
      h('span', { class: 'value-actions' }, show, copy));
  }

  all.addEventListener('click', async () => {
    error.show(null);
    const anyHidden = [...rows.values()].some((r) => !r.entry);
    if (!anyHidden) {
      for (const r of rows.values()) r.setShown(null);
      all.textContent = 'Show all values';
      return;
    }
    try {
      for (const entry of await fetchValues(null)) rows.get(entry.path)?.setShown(entry);
      all.textContent = 'Hide all values';
    } catch (err) {
      error.show(`Could not show the values: ${err.message}`);
    }
  });

  (async () => {
    try {
      // Names only (any member may read them): the diff from nothing lists every leaf.
      const { diff } = await get(withQuery(envPath(app, env, '/diff'), { from: 0, to: version }));
      replace(list, diff.added.length ? diff.added.map(row) : h('li', { class: 'muted' }, 'No keys.'));
      all.disabled = !diff.added.length;
    } catch (err) {
      error.show(`Could not load the keys: ${err.message}`);
    }
  })();
  return { el };
}

/** The value-level difference between two versions, as a table (cards on a phone). */
export async function valueDiff(app, from, to, env) {
  const { changes } = await get(withQuery(envPath(app, env, '/diff/values'), { from, to }));
  if (!changes.length) return h('p', { class: 'muted' }, 'The two versions have the same keys and values.');
  return dataTable({
    caption: `Values from version ${from} to version ${to}`,
    columns: ['Key', 'Change', `Version ${from}`, `Version ${to}`],
    className: 'value-diff',
    rows: changes.map((c) => ({
      class: `diff-${c.change}`,
      cells: [h('code', {}, c.path), c.change, valueText(c.old), valueText(c.new)],
    })),
  });
}
