// Modal dialogs and pop-up menus that work with the keyboard alone: focus moves into the
// dialog, Tab stays inside it, Escape closes it, and focus returns where it was.

import { h, newId } from './dom.js';

const FOCUSABLE = [
  'a[href]', 'button:not([disabled])', 'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])', 'textarea:not([disabled])', '[tabindex]:not([tabindex="-1"])',
].join(',');

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => !el.closest('[hidden]') && el.getClientRects().length > 0);
}

const stack = [];

// One key handler for the top dialog, on the document: it works even when the element that
// had focus was just removed (focus then falls back to <body>).
document.addEventListener('keydown', (event) => {
  const top = stack[stack.length - 1];
  if (!top || event.defaultPrevented) return;
  const { dialog } = top;
  if (event.key === 'Escape') {
    event.preventDefault();
    top.close();
  } else if (event.key === 'Tab') {
    const items = focusables(dialog);
    const active = document.activeElement;
    if (!items.length) {
      event.preventDefault();
      dialog.focus();
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    if (!dialog.contains(active)) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    } else if (event.shiftKey && (active === first || active === dialog)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  }
});

/**
 * Opens a modal. `beforeClose` may return false (or a promise of false) to keep it open.
 * Returns { dialog, body, footer, close, setTitle }.
 */
export function openModal({ title, size = 'medium', beforeClose, onClose, initialFocus }) {
  const titleId = newId('modal-title');
  const titleEl = h('h2', { id: titleId, class: 'modal-title' }, title);
  const closeButton = h('button', { type: 'button', class: 'icon-button modal-close', 'aria-label': 'Close' }, '✕');
  const body = h('div', { class: 'modal-body' });
  const dialog = h('div', {
    class: `modal modal-${size}`, role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': titleId, tabindex: '-1',
  }, h('div', { class: 'modal-header' }, titleEl, closeButton), body);
  const backdrop = h('div', { class: 'modal-backdrop' }, dialog);
  const opener = document.activeElement;

  // Everything behind the dialog is inert: not focusable, not clickable, hidden from readers.
  const madeInert = [];
  for (const el of document.body.children) {
    if (!el.inert && el !== backdrop && el.id !== 'toasts') {
      el.inert = true;
      madeInert.push(el);
    }
  }
  document.body.append(backdrop);
  document.body.classList.add('modal-open');

  let closed = false;
  async function close(force = false) {
    if (closed) return true;
    if (!force && beforeClose) {
      const ok = await beforeClose();
      if (ok === false) return false;
    }
    closed = true;
    backdrop.remove();
    for (const el of madeInert) el.inert = false;
    const i = stack.indexOf(handle);
    if (i >= 0) stack.splice(i, 1);
    if (!stack.length) document.body.classList.remove('modal-open');
    if (onClose) onClose();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    return true;
  }

  backdrop.addEventListener('mousedown', (event) => {
    if (event.target === backdrop) close();
  });
  closeButton.addEventListener('click', () => close());

  const handle = {
    dialog, body, close, closed: () => closed,
    setTitle(text) { titleEl.textContent = text; },
  };
  stack.push(handle);
  queueMicrotask(() => {
    const target = (initialFocus && initialFocus()) || focusables(body)[0] || dialog;
    target.focus();
  });
  return handle;
}

/**
 * Asks a yes/no question in a small modal; resolves true when confirmed. `details` (a node)
 * goes under the message, e.g. what a rollback would change.
 */
export function confirmDialog({ title, message, details = null, confirm = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h('button', { type: 'button', class: `button ${danger ? 'danger' : 'primary'}` }, confirm);
    const no = h('button', { type: 'button', class: 'button' }, 'Cancel');
    const modal = openModal({
      title, size: 'small', onClose: () => resolve(answer), initialFocus: () => no,
    });
    modal.body.append(
      h('p', {}, message),
      details,
      h('div', { class: 'actions' }, no, yes),
    );
    yes.addEventListener('click', () => { answer = true; modal.close(true); });
    no.addEventListener('click', () => modal.close(true));
  });
}

/**
 * A button that opens a menu of actions (the ⋮ overflow menu). `items` are
 * { label, action, danger }. Arrow keys move, Enter picks, Escape closes. `label` names the
 * menu, and the button too unless it shows `text` (then its visible words are its name).
 */
export function menuButton({ label, text = null, items, className = 'icon-button' }) {
  const menuId = newId('menu');
  const button = h('button', {
    type: 'button', class: className, 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': menuId,
    'aria-label': text ? null : label,
  }, text || '⋮');
  const menu = h('div', { class: 'menu', role: 'menu', id: menuId, hidden: true, 'aria-label': label });
  const wrap = h('div', { class: 'menu-wrap' }, button, menu);
  const entries = items.filter(Boolean).map((item) => {
    const el = h('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: item.danger ? 'menu-item danger' : 'menu-item',
    }, item.label);
    el.addEventListener('click', () => {
      // Focus goes back to the button first, so a dialog the action opens returns it there.
      closeMenu(true);
      item.action();
    });
    return el;
  });
  menu.append(...entries);

  function onOutside(event) {
    if (!wrap.contains(event.target)) closeMenu(false);
  }
  function openMenu(focusIndex = 0) {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    entries[Math.max(0, Math.min(focusIndex, entries.length - 1))]?.focus();
    document.addEventListener('mousedown', onOutside, true);
  }
  function closeMenu(refocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('mousedown', onOutside, true);
    if (refocus) button.focus();
  }
  button.addEventListener('click', () => (menu.hidden ? openMenu(0) : closeMenu()));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') { event.preventDefault(); openMenu(0); }
    if (event.key === 'ArrowUp') { event.preventDefault(); openMenu(entries.length - 1); }
  });
  menu.addEventListener('keydown', (event) => {
    const i = entries.indexOf(document.activeElement);
    if (event.key === 'ArrowDown') { event.preventDefault(); entries[(i + 1) % entries.length].focus(); }
    else if (event.key === 'ArrowUp') { event.preventDefault(); entries[(i - 1 + entries.length) % entries.length].focus(); }
    else if (event.key === 'Home') { event.preventDefault(); entries[0].focus(); }
    else if (event.key === 'End') { event.preventDefault(); entries[entries.length - 1].focus(); }
    else if (event.key === 'Escape') { event.preventDefault(); event.stopPropagation(); closeMenu(); }
    else if (event.key === 'Tab') closeMenu(false);
  });
  return wrap;
}
