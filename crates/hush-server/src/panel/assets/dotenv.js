// "Import .env…": a .env file read into secrets TOML in the browser, nothing sent until the
// person saves. The rules are the CLI's (`hush secrets import`, crates/hush/src/cli/formats.rs):
// KEY=value lines, an optional `export `, # comments, values bare, 'single-quoted' (literal, may
// span lines) or "double-quoted" (\n \t \r \" \\ \$ \' \` escapes, may span lines); nothing is
// expanded; a key given twice keeps the last value. Errors name the line and key, never a value.

import { h, replace } from './dom.js';

const KEY = /^[A-Za-z0-9_.-]+$/;

/** [[key, value], …] in file order (a repeated key moves to where it was last given). */
export function parseDotenv(text) {
  const lines = text.replace(/^\ufeff/, '').split('\n').map((l) => l.replace(/\r$/, ''));
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const number = i + 1;
    let line = lines[i].trim();
    i += 1;
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice('export '.length).trimStart();
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`line ${number}: expected KEY=value`);
    const key = line.slice(0, eq).trim();
    if (!KEY.test(key)) throw new Error(`line ${number}: a key may hold only letters, digits, '_', '.' and '-'`);
    const rest = line.slice(eq + 1).trimStart();
    let value;
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      let body = rest.slice(1);
      let close = closing(body, quote);
      while (close < 0) {
        if (i >= lines.length) throw new Error(`line ${number}: the ${quote}-quoted value of ${key} is not closed`);
        body += `\n${lines[i]}`;
        i += 1;
        close = closing(body, quote);
      }
      const after = body.slice(close + 1).trim();
      if (after && !after.startsWith('#')) throw new Error(`line ${number}: unexpected text after the quoted value of ${key}`);
      const raw = body.slice(0, close);
      value = quote === '"' ? unescapeDouble(raw, `line ${number}: value of ${key}`) : raw;
    } else {
      // A bare value ends at a comment: whitespace, then '#'.
      const comment = rest.search(/[ \t]#/);
      value = (comment < 0 ? rest : rest.slice(0, comment)).trimEnd();
    }
    const seen = out.findIndex(([k]) => k === key);
    if (seen >= 0) out.splice(seen, 1);
    out.push([key, value]);
  }
  return out;
}

function closing(body, quote) {
  let escaped = false;
  for (let p = 0; p < body.length; p++) {
    const c = body[p];
    if (quote === '"' && escaped) escaped = false;
    else if (quote === '"' && c === '\\') escaped = true;
    else if (c === quote) return p;
  }
  return -1;
}

const DOUBLE_ESCAPES = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', $: '$', "'": "'", '`': '`' };

function unescapeDouble(raw, where) {
  let out = '';
  for (let p = 0; p < raw.length; p++) {
    if (raw[p] !== '\\') {
      out += raw[p];
      continue;
    }
    p += 1;
    if (p >= raw.length) throw new Error(`${where}: ends with a lone backslash`);
    out += DOUBLE_ESCAPES[raw[p]] ?? `\\${raw[p]}`;
  }
  return out;
}

/** A TOML basic string: quotes, backslashes and every control character escaped. */
export function tomlString(value) {
  const named = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r' };
  let out = '"';
  for (const c of value) {
    const code = c.codePointAt(0);
    if (named[c]) out += named[c];
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

/** Root-level `KEY = "value"` lines, keys bare where TOML allows. */
export function pairsToToml(pairs) {
  return pairs.map(([k, v]) => `${/^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k)} = ${tomlString(v)}\n`).join('');
}

/**
 * The "Import .env…" button of an editor (`getEditor()` returns it, or null while it loads):
 * the file's keys go at the very top of the text, before any [table], so they stay top-level
 * keys; nothing is saved. `status` says what came in; `onError(message)` says what is wrong
 * with the file (then nothing changes) and `onError(null)` clears that.
 */
export function envImportButton(getEditor, status, onError) {
  const picker = h('input', { type: 'file', hidden: true });
  const button = h('button', { type: 'button', class: 'button small' }, 'Import .env…');
  button.addEventListener('click', () => picker.click());
  picker.addEventListener('change', async () => {
    const file = picker.files && picker.files[0];
    const editor = getEditor();
    picker.value = '';
    if (!file || !editor) return;
    // A file name may hold anything, a line break included: it goes into a comment line.
    const name = file.name.replace(/[\u0000-\u001f\u007f]/g, ' ');
    let pairs;
    try {
      pairs = parseDotenv(await file.text());
    } catch (err) {
      onError(`Not imported: ${name}, ${err.message}.`);
      return;
    }
    if (!pairs.length) {
      onError(`Not imported: ${name} holds no KEY=value line.`);
      return;
    }
    onError(null);
    const toml = `# Imported from ${name}\n${pairsToToml(pairs)}`;
    const current = editor.getText();
    await editor.setText(current.trim() ? `${toml}\n${current}` : toml);
    const n = pairs.length;
    replace(status, `Imported ${n} key${n === 1 ? '' : 's'} from ${name} at the top of the editor. Check them, then save.`);
    editor.textarea.focus();
  });
  return h('span', { class: 'import-env' }, button, picker);
}
