// Small DOM helpers. Everything from the server reaches the page as text (textContent or text
// nodes); no HTML string is ever parsed, so a name or message cannot inject markup.

/** Creates an element: h('button', { class: 'x', onclick: f }, 'Label', child…). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') el[key] = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

/** Appends children (nodes, strings, numbers, nested arrays); skips null and false. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
/** A page-unique id for label/aria wiring. */
export function newId(prefix = 'id') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** "just now", "5 minutes ago", "3 days ago". */
export function timeAgo(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 45) return 'just now';
  const units = [
    [60, 'minute'],
    [60, 'hour'],
    [24, 'day'],
    [30, 'month'],
    [12, 'year'],
  ];
  let n = s / 60;
  let unit = 'minute';
  for (let i = 1; i < units.length && n >= units[i][0]; i++) {
    n /= units[i][0];
    unit = units[i][1];
  }
  n = Math.round(n);
  return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
}

/** A full local date and time, for title attributes and tables. */
export function fullTime(ms) {
  if (!ms) return '';
  return new Date(ms).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** A <time> element showing "5 minutes ago" with the exact time on hover. */
export function ago(ms) {
  if (!ms) return h('span', { class: 'muted' }, 'never');
  return h('time', { datetime: new Date(ms).toISOString(), title: fullTime(ms) }, timeAgo(ms));
}

/** A labelled form field: returns { wrap, input, error, setError(msg), refuse(msg) }. */
export function field({ label, input, help, optional }) {
  const id = input.id || newId('f');
  input.id = id;
  const helpId = help ? `${id}-help` : null;
  const errorId = `${id}-error`;
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const describedBy = [helpId, errorId].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label, optional ? h('span', { class: 'optional' }, ' (optional)') : null),
    input,
    help ? h('p', { class: 'help', id: helpId }, help) : null,
    error);
  const setError = (message) => {
    if (message) {
      error.textContent = message;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
    } else {
      error.textContent = '';
      error.hidden = true;
      input.removeAttribute('aria-invalid');
    }
  };
  // What a refused value gets: the reason under the field, and the focus.
  const refuse = (message) => {
    setError(message);
    input.focus();
  };
  return { wrap, input, error, setError, refuse };
}

/** A box that shows an error (or nothing) where it happened. */
export function errorBox() {
  const el = h('div', { class: 'form-error', role: 'alert', hidden: true });
  return {
    el,
    show(message) {
      if (!message) {
        el.hidden = true;
        el.replaceChildren();
        return;
      }
      el.replaceChildren(message instanceof Node ? message : String(message));
      el.hidden = false;
    },
  };
}

/** Shows a short message at the bottom of the screen for a few seconds. */
export function toast(message) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const item = h('div', { class: 'toast' }, message);
  box.append(item);
  setTimeout(() => item.remove(), 5000);
}

/** Copies text to the clipboard; falls back to selecting `input` for Ctrl+C. */
export async function copyText(text, input, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    if (input) {
      input.focus();
      input.select();
      try {
        ok = document.execCommand('copy');
      } catch {
        ok = false;
      }
    }
  }
  if (button) {
    const label = [...button.childNodes];
    button.textContent = ok ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => button.replaceChildren(...label), 1800);
  }
  return ok;
}

/** A read-only field with a Copy button, for tokens, commands and links shown once. */
export function copyField(label, value, { multiline = false } = {}) {
  // Monospace with room below the baseline, so every underscore of a token shows.
  const input = multiline
    ? h('textarea', { readonly: true, rows: '3', class: 'shown-once', spellcheck: 'false' })
    : h('input', { type: 'text', readonly: true, value, class: 'shown-once', spellcheck: 'false' });
  if (multiline) input.value = value;
  const id = newId('copy');
  input.id = id;
  const button = h('button', { type: 'button', class: 'button', onclick: () => copyText(value, input, button) }, 'Copy');
  input.addEventListener('focus', () => input.select());
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    h('div', { class: 'copy-row' }, input, button));
}

/**
 * A table that turns into one card per row on narrow screens (each cell then shows its column
 * name), so nothing, least of all a row's action, is out of sight. `columns` are names (an
 * empty one is read out as "Actions"); `rows` are { cells, class }.
 */
export function dataTable({ caption, columns, rows, className = '' }) {
  const label = (c) => c || 'Actions';
  return h('table', { class: `table cards-when-narrow ${className}`.trim() },
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'visually-hidden' }, label(c)))))),
    h('tbody', {}, rows.map((row) => tableRow(columns, row))));
}

/** One row of a dataTable: { cells, class }. */
export function tableRow(columns, row) {
  return h('tr', { class: row.class || null },
    row.cells.map((cell, i) => h('td', {
      'data-label': columns[i] || null,
      class: columns[i] ? null : 'cell-action',
    }, cell)));
}

export function capitalize(text) {
  const s = String(text || '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** Wraps a button's async action: disables it and shows `busy` text meanwhile. */
export async function busy(button, text, action) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  if (text) button.textContent = text;
  try {
    return await action();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
    button.textContent = label;
  }
}

/**
 * Makes `form` create something named in the `name` field: an empty name is refused with
 * `emptyMessage`, else `create(name)` runs while `submit` says "Creating…". A name the server
 * refuses (bad_name, 400, 409) is refused under the field; any other failure goes to `error`
 * after `failed`.
 */
export function onCreateNamed({ form, name, error, submit, emptyMessage, failed, create }) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    name.setError(null);
    error.show(null);
    const wanted = name.input.value.trim();
    if (!wanted) return name.refuse(emptyMessage);
    await busy(submit, 'Creating…', async () => {
      try {
        await create(wanted);
      } catch (err) {
        if (err.code === 'bad_name' || err.status === 409 || err.status === 400) name.refuse(capitalize(err.message));
        else error.show(`${failed}: ${err.message}`);
      }
    });
  });
}
