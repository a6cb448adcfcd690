// The secrets editor: a monospace textarea with a line-number gutter kept in step with its
// scrolling, checked as you type by POST /api/v1/validate (the server's own save rules), with
// the error's line and column marked; and the preview of what a save would do.

import { errorBox, field, h, newId, replace } from './dom.js';
import { post } from './api.js';

const PARSE_PREFIX = /^the secrets document is not valid TOML 1\.0:\s*/;
const POSITION_SUFFIX = /\s*\(at line \d+, column \d+\)\s*$/;

/**
 * The save form under an editor: the message field, the button (`saveLabel`), the line that
 * says what the save did, the error box, and the box that explains a conflict (409).
 */
export function saveFormParts(saveLabel) {
  return {
    message: field({
      label: 'Describe the change', optional: true,
      input: h('input', { type: 'text', maxlength: '500', placeholder: 'e.g. Rotate the database password' }),
    }),
    save: h('button', { type: 'button', class: 'button primary' }, saveLabel),
    saveResult: h('p', { class: 'save-result', role: 'status', 'aria-live': 'polite' }),
    saveError: errorBox(),
    conflict: h('div', { class: 'conflict', role: 'alert', hidden: true }),
  };
}

/**
 * An editor above a save form (`saveForm`, from saveFormParts): each check's preview goes into
 * `preview`, Ctrl+S / Cmd+S clicks its button, and typing clears what its last save said. The
 * other options are createEditor's.
 */
export function createSaveEditor({ preview, saveForm: { save, saveResult, saveError }, ...options }) {
  return createEditor({
    ...options,
    onResult: (r) => replace(preview, renderPreview(r)),
    onSubmit: () => save.click(),
    onInput: () => {
      // What the last save said is about text that is no longer there.
      saveResult.textContent = '';
      saveError.show(null);
    },
  });
}

/**
 * What a refused save shows: an invalid document is marked in `editor` and explained in the save
 * form's error box, a conflict (409) goes to `onConflict(body)`, and anything else is said in
 * the error box (`reason`, the server's message unless given).
 */
export async function showRefusedSave(err, editor, saveForm, { onConflict, reason = err.message }) {
  if (['invalid_toml', 'invalid_key', 'too_large'].includes(err.code)) {
    editor.markError(err.body);
    saveForm.saveError.show(`Not saved. ${describeError(err.body)}`);
  } else if (err.status === 409 && err.code === 'conflict') {
    await onConflict(err.body);
  } else {
    saveForm.saveError.show(`Not saved: ${reason}`);
  }
}

/** "Line 3, column 9: invalid string" from the server's error object. */
export function describeError(error) {
  const message = String(error.message || 'not valid').replace(PARSE_PREFIX, '').replace(POSITION_SUFFIX, '');
  if (error.line) return `Line ${error.line}, column ${error.column}: ${message}`;
  return message.charAt(0).toUpperCase() + message.slice(1);
}

/**
 * Creates an editor. Options: text, app and env (to compare with that environment's saved
 * version; setTarget changes them), label, onResult(result|null) after each check, onSubmit()
 * for Ctrl+S / Cmd+S, onInput() on typing.
 */
export function createEditor({ text = '', app = null, env = null, label = 'Secrets (TOML)', onResult, onSubmit, onInput, autofocus }) {
  const textareaId = newId('toml');
  const statusId = `${textareaId}-status`;
  const gutterLines = h('div', { class: 'gutter-lines' });
  const gutter = h('div', { class: 'gutter', 'aria-hidden': 'true' }, gutterLines);
  const lineMark = h('div', { class: 'line-mark', hidden: true, 'aria-hidden': 'true' });
  const textarea = h('textarea', {
    id: textareaId,
    class: 'code',
    spellcheck: 'false',
    autocapitalize: 'off',
    autocomplete: 'off',
    autocorrect: 'off',
    wrap: 'off',
    rows: '14',
    'aria-describedby': statusId,
    'data-gramm': 'false',
  });
  textarea.value = text;
  const status = h('div', { class: 'editor-status', id: statusId, role: 'status', 'aria-live': 'polite' });
  const frame = h('div', { class: 'editor-frame' }, gutter, h('div', { class: 'code-wrap' }, lineMark, textarea));
  const el = h('div', { class: 'editor' },
    h('label', { for: textareaId, class: 'editor-label' }, label),
    frame,
    status);

  let lineCount = 0;
  let errorLine = 0;
  let timer = null;
  let sequence = 0;
  let lastResult = null;
  let pending = null;

  function lineHeight() {
    return parseFloat(getComputedStyle(textarea).lineHeight) || 20;
  }

  function renderGutter() {
    const count = textarea.value.split('\n').length;
    if (count !== lineCount) {
      lineCount = count;
      const frag = document.createDocumentFragment();
      for (let i = 1; i <= count; i++) frag.append(h('div', { class: 'gutter-line' }, String(i)));
      gutterLines.replaceChildren(frag);
    }
    for (const marked of gutterLines.querySelectorAll('.gutter-line.error')) marked.classList.remove('error');
    if (errorLine && errorLine <= lineCount) {
      const line = gutterLines.children[errorLine - 1];
      line.classList.add('error');
      line.title = 'The error is on this line';
    }
    syncScroll();
  }

  function syncScroll() {
    gutter.scrollTop = textarea.scrollTop;
    if (errorLine) {
      const top = (errorLine - 1) * lineHeight() + parseFloat(getComputedStyle(textarea).paddingTop) - textarea.scrollTop;
      lineMark.style.top = `${top}px`;
      lineMark.style.height = `${lineHeight()}px`;
      lineMark.hidden = false;
    } else {
      lineMark.hidden = true;
    }
  }

  function setStatus(kind, children) {
    status.className = `editor-status ${kind}`;
    replace(status, children);
  }

  function markError(error) {
    errorLine = error && error.line ? error.line : 0;
    frame.classList.toggle('invalid', Boolean(error));
    if (error) {
      textarea.setAttribute('aria-invalid', 'true');
      const parts = [h('span', { class: 'status-icon', 'aria-hidden': 'true' }, '✕ '), h('span', { class: 'error-text' }, describeError(error))];
      if (error.line) {
        parts.push(' ', h('button', { type: 'button', class: 'link-button', onclick: () => goTo(error.line, error.column) }, 'Go to the error'));
      }
      setStatus('error', parts);
    } else {
      textarea.removeAttribute('aria-invalid');
    }
    renderGutter();
  }

  /** Puts the caret at a 1-based line and column and scrolls it into view. */
  function goTo(line, column) {
    const lines = textarea.value.split('\n');
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(0, Math.min((column || 1) - 1, (lines[line - 1] || '').length));
    textarea.focus();
    textarea.setSelectionRange(offset, offset);
    const top = (line - 1) * lineHeight();
    if (top < textarea.scrollTop || top > textarea.scrollTop + textarea.clientHeight - 2 * lineHeight()) {
      textarea.scrollTop = Math.max(0, top - textarea.clientHeight / 3);
    }
    syncScroll();
  }

  async function check() {
    clearTimeout(timer);
    timer = null;
    const mine = ++sequence;
    const body = { toml: textarea.value };
    if (app) body.app = app;
    if (app && env && env !== 'production') body.env = env;
    pending = (async () => {
      let result;
      try {
        result = await post('/validate', body);
      } catch (err) {
        if (mine !== sequence) return lastResult;
        setStatus('warn', [h('span', { 'aria-hidden': 'true' }, '! '), `Could not check the text: ${err.message}`]);
        return null;
      }
      if (mine !== sequence) return lastResult;
      lastResult = result;
      if (result.valid) {
        markError(null);
        const n = result.env ? result.env.exported.length : 0;
        const w = result.warnings ? result.warnings.length : 0;
        setStatus('ok', [
          h('span', { class: 'status-icon', 'aria-hidden': 'true' }, '✓ '),
          'Valid TOML',
          ` · ${n} environment variable${n === 1 ? '' : 's'}`,
          w ? ` · ${w} warning${w === 1 ? '' : 's'}` : '',
        ]);
      } else {
        markError(result.error);
      }
      if (onResult) onResult(result);
      return result;
    })();
    return pending;
  }

  function schedule() {
    clearTimeout(timer);
    setStatus('pending', 'Checking…');
    timer = setTimeout(check, 350);
  }

  textarea.addEventListener('input', () => {
    renderGutter();
    schedule();
    if (onInput) onInput();
  });
  textarea.addEventListener('scroll', syncScroll);
  textarea.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 's') {
      event.preventDefault();
      if (onSubmit) onSubmit();
    }
  });
  if (typeof ResizeObserver !== 'undefined') new ResizeObserver(syncScroll).observe(textarea);

  renderGutter();
  queueMicrotask(check);
  if (autofocus) queueMicrotask(() => textarea.focus());

  return {
    el,
    textarea,
    getText: () => textarea.value,
    setTarget(newApp, newEnv) {
      app = newApp;
      env = newEnv;
    },
    setText(value) {
      textarea.value = value;
      textarea.scrollTop = 0;
      renderGutter();
      return check();
    },
    check,
    /** The newest check's result, after any check still pending. */
    async settled() {
      if (timer) return check();
      return pending || check();
    },
    markError,
    goTo,
    destroy() {
      clearTimeout(timer);
      sequence += 1;
    },
  };
}

const DIFF_WORDS = { added: 'added', changed: 'changed', removed: 'removed' };

/**
 * Added / changed / removed key paths (names only) as a list; `none` when nothing differs.
 * `words` says how each kind reads ("will appear" for a rollback).
 */
export function renderDiff(diff, none = 'No key changes.', words = DIFF_WORDS) {
  const rows = [];
  for (const [kind, sign] of [['added', '+'], ['changed', '~'], ['removed', '−']]) {
    for (const key of (diff && diff[kind]) || []) {
      rows.push(h('li', { class: `diff-${kind}` },
        h('span', { class: 'diff-sign', 'aria-hidden': 'true' }, sign),
        h('code', {}, key),
        h('span', { class: 'diff-word' }, words[kind])));
    }
  }
  if (!rows.length) return h('p', { class: 'muted' }, none);
  return h('ul', { class: 'diff' }, rows);
}

/** "+2 ~1 −0" style summary of a version's changes. */
export function diffSummary(diff) {
  if (!diff) return '';
  const parts = [];
  if (diff.added?.length) parts.push(`${diff.added.length} added`);
  if (diff.changed?.length) parts.push(`${diff.changed.length} changed`);
  if (diff.removed?.length) parts.push(`${diff.removed.length} removed`);
  return parts.length ? parts.join(', ') : 'no key changes';
}

/**
 * What a save would do: which keys become environment variables, which do not and why, the
 * warnings, and (with an app) the key-level difference from the saved version.
 */
export function renderPreview(result) {
  const box = h('section', { class: 'preview', 'aria-label': 'Before you save' });
  if (!result) {
    box.append(h('p', { class: 'muted' }, 'Checking your secrets…'));
    return box;
  }
  if (!result.valid) {
    box.append(h('h3', {}, 'Before you save'), h('p', { class: 'muted' }, 'Fix the error marked in the editor to see which keys become environment variables and what changes.'));
    return box;
  }
  const exported = result.env?.exported || [];
  const skipped = result.env?.skipped || [];
  box.append(h('h3', {}, 'Environment variables'));
  box.append(exported.length
    ? h('ul', { class: 'chips', 'aria-label': 'Keys that become environment variables' }, exported.map((k) => h('li', { class: 'chip' }, k)))
    : h('p', { class: 'muted' }, 'No key becomes an environment variable.'));
  if (skipped.length) {
    box.append(h('h3', {}, 'Not environment variables'),
      h('ul', { class: 'reasons' }, skipped.map((s) => h('li', {}, h('code', {}, s.key), h('span', { class: 'reason' }, ` — ${s.reason}`)))),
      h('p', { class: 'help' }, 'Your app still reads them from st.secrets.'));
  }
  const warnings = result.warnings || [];
  if (warnings.length) {
    box.append(h('h3', {}, 'Warnings'),
      h('ul', { class: 'warnings' }, warnings.map((w) => h('li', {}, h('span', { 'aria-hidden': 'true' }, '⚠ '), w.message))));
  }
  if (result.diff) {
    const base = result.base_version || 0;
    box.append(h('h3', {}, base ? `Changes from saved version ${base}` : 'Changes'),
      renderDiff(result.diff, base ? `Same keys and values as version ${base}.` : 'Nothing saved yet.'));
  }
  return box;
}
