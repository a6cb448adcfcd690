// The History tab of an app's settings: every version with author and message, the key-level
// difference between any two (and, for editors, their values side by side), each version's
// values one at a time, and rollback, which says first which keys will appear, change or
// disappear.

import { get, post, withQuery } from './api.js';
import { ago, busy, errorBox, field, fullTime, h, newId, replace, toast } from './dom.js';
import { confirmDialog } from './modal.js';
import { diffSummary, renderDiff } from './editor.js';
import { valueDiff, valuesList } from './values.js';

const hasChanges = (diff) => ['added', 'changed', 'removed'].some((k) => diff[k].length);

/** How a rollback's changes read: from the newest version to the one restored. */
const ROLLBACK_WORDS = { added: 'will appear', changed: 'will change', removed: 'will disappear' };

export function historyTab(shared) {
  const { app, ctx } = shared;
  const list = h('ol', { class: 'versions', 'aria-label': 'Versions, newest first' });
  const loadError = errorBox();
  const fromSelect = h('select', {});
  const toSelect = h('select', {});
  const compareResult = h('div', { class: 'compare-result', 'aria-live': 'polite' });
  // Enabled once the versions are loaded: a comparison needs both ends.
  const compare = h('button', { type: 'submit', class: 'button', disabled: true }, 'Show difference');
  const compareForm = h('form', { class: 'compare', 'aria-label': 'Compare two versions' },
    field({ label: 'From version', input: fromSelect }).wrap,
    field({ label: 'To version', input: toSelect }).wrap,
    compare);
  const el = h('div', { class: 'tab-panel' },
    h('h2', { class: 'tab-title' }, 'History'),
    h('p', { class: 'muted' }, ctx.isEditor()
      ? 'Every save is a version. Differences list key names; show the values when you need them (that is recorded in the audit log). A rollback saves an old version’s secrets as a new version.'
      : 'Every save is a version. Differences list key names only, never values.'),
    compareForm, compareResult, loadError.el, list);
  let versions = [];

  /** Shows the names-only difference; editors may add the values. */
  async function showDiff(from, to) {
    fromSelect.value = String(from);
    toSelect.value = String(to);
    replace(compareResult, h('p', { class: 'muted' }, 'Loading…'));
    let d;
    try {
      d = await get(withQuery(shared.path('/diff'), { from, to }));
    } catch (err) {
      replace(compareResult, h('p', { class: 'form-error', role: 'alert' }, `Could not compare: ${err.message}`));
      return;
    }
    const box = h('div', { class: 'diff-box' },
      h('h3', {}, `From version ${d.from} to version ${d.to}`),
      renderDiff(d.diff, 'The two versions have the same keys and values.'));
    if (ctx.isEditor() && hasChanges(d.diff)) box.append(...valuesToggle(d.from, d.to));
    replace(compareResult, box);
  }

  /** "Show values": the old and new value of each key that differs, until hidden again. */
  function valuesToggle(from, to) {
    const slot = h('div', { class: 'value-diff-slot', id: newId('value-diff') });
    const button = h('button', { type: 'button', class: 'button small', 'aria-expanded': 'false', 'aria-controls': slot.id }, 'Show values');
    button.addEventListener('click', () => busy(button, null, async () => {
      if (button.getAttribute('aria-expanded') === 'true') {
        slot.replaceChildren();
        button.setAttribute('aria-expanded', 'false');
        return;
      }
      try {
        replace(slot, await valueDiff(app, from, to, shared.env));
        button.setAttribute('aria-expanded', 'true');
      } catch (err) {
        replace(slot, h('p', { class: 'form-error', role: 'alert' }, `Could not show the values: ${err.message}`));
      }
    }).then(() => {
      button.textContent = button.getAttribute('aria-expanded') === 'true' ? 'Hide values' : 'Show values';
    }));
    return [h('div', { class: 'actions start' }, button), slot];
  }

  compareForm.addEventListener('submit', (event) => {
    event.preventDefault();
    showDiff(fromSelect.value, toSelect.value);
  });

  async function rollback(version, button) {
    const latest = versions[0]?.version || 0;
    let details;
    try {
      const d = await get(withQuery(shared.path('/diff'), { from: latest, to: version }));
      const same = !hasChanges(d.diff);
      details = h('div', { class: 'rollback-changes' },
        same ? null : h('p', { class: 'conflict-sub' }, `What changes from version ${latest}:`),
        renderDiff(d.diff, `Nothing changes: version ${version} has the same keys and values as version ${latest}.`, ROLLBACK_WORDS));
    } catch (err) {
      details = h('p', { class: 'form-error' }, `Could not load what would change: ${err.message}`);
    }
    const ok = await confirmDialog({
      title: `Roll back to version ${version}?`,
      message: `This saves the secrets of version ${version} as a new version ${latest + 1}. Version ${latest} stays in the history, and running copies pick up the new version.`,
      details,
      confirm: `Roll back to version ${version}`,
    });
    if (!ok) return;
    await busy(button, 'Rolling back…', async () => {
      let v;
      try {
        v = await post(shared.path('/rollback'), { version, base_version: latest });
      } catch (err) {
        loadError.show(`Not rolled back: ${err.message}`);
        return;
      }
      if (v.unchanged) {
        toast(`Nothing to roll back: version ${latest} already has the secrets of version ${version}.`);
        return;
      }
      toast(`Version ${v.version} restores version ${version}.`);
      await load();
      // The difference shown is the rollback's own, not one from before it.
      await showDiff(latest, v.version);
      list.tabIndex = -1;
      list.focus();
      shared.changed();
    });
  }

  /** Fills a version picker, keeping what the person picked when it still exists. */
  function options(select, fallback) {
    const picked = select.value === '' ? fallback : Number(select.value);
    const selected = picked === 0 || versions.some((v) => v.version === picked) ? picked : fallback;
    replace(select,
      versions.map((v) => h('option', { value: String(v.version), selected: v.version === selected }, `Version ${v.version}`)),
      h('option', { value: '0', selected: selected === 0 }, 'Empty (before version 1)'));
    select.value = String(selected);
  }

  function versionItem(v, i) {
    const actions = h('div', { class: 'version-actions' });
    const more = h('div', { class: 'version-values', id: newId('values'), hidden: true });
    if (v.version > 1 || i < versions.length - 1) {
      actions.append(h('button', { type: 'button', class: 'button small', onclick: () => showDiff(v.version - 1, v.version) }, `Compare with version ${v.version - 1}`));
    }
    if (ctx.isEditor()) {
      const values = h('button', { type: 'button', class: 'button small', 'aria-expanded': 'false', 'aria-controls': more.id }, 'Values');
      values.addEventListener('click', () => {
        const open = more.hidden;
        // Closing drops the values from the page; opening starts with every value hidden.
        replace(more, open ? valuesList(app, v.version, shared.env).el : []);
        more.hidden = !open;
        values.setAttribute('aria-expanded', String(open));
      });
      actions.append(values);
    }
    if (ctx.isEditor() && i > 0) {
      const b = h('button', { type: 'button', class: 'button small' }, 'Roll back to this version');
      b.addEventListener('click', () => rollback(v.version, b));
      actions.append(b);
    }
    return h('li', { class: 'version' },
      h('div', { class: 'version-head' },
        h('strong', {}, `Version ${v.version}`),
        i === 0 ? h('span', { class: 'badge' }, 'latest') : null,
        v.restored_from ? h('span', { class: 'badge neutral' }, `restores version ${v.restored_from}`) : null,
        h('span', { class: 'muted' }, ` ${v.author || 'someone'} · `, h('time', { datetime: new Date(v.created_at).toISOString(), title: fullTime(v.created_at) }, ago(v.created_at).textContent))),
      h('p', { class: v.message ? 'version-message' : 'version-message muted' }, v.message || 'No message'),
      h('p', { class: 'version-changes help' }, diffSummary(v.changes)),
      actions,
      more);
  }

  async function load() {
    try {
      versions = (await get(shared.path('/versions'))).versions;
      loadError.show(null);
    } catch (err) {
      loadError.show(`Could not load the history: ${err.message}`);
      return;
    }
    const newest = versions[0]?.version || 0;
    options(fromSelect, Math.max(0, newest - 1));
    options(toSelect, newest);
    compare.disabled = !versions.length;
    replace(list, versions.length ? versions.map(versionItem) : h('li', { class: 'muted' }, 'No versions yet.'));
  }
  const listener = (event) => {
    if (event.type === 'version') load();
  };
  shared.listeners.add(listener);
  load();
  return { el, destroy: () => shared.listeners.delete(listener) };
}
