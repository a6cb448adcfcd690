// The panel's entry point: finds out who is signed in, draws the top bar and routes between
// screens (/, /apps/NAME, /shared, /members, /audit, /account, /login, /setup#TOKEN, /join#TOKEN).

import { get, post, setCsrf, setSessionEndedHandler } from './api.js';
import { h, replace, toast } from './dom.js';
import { confirmDialog, menuButton } from './modal.js';
import { loginView, linkView } from './auth.js';
import { workspaceView } from './workspace.js';
import { membersView, auditView } from './people.js';
import { accountView } from './account.js';
import { sharedView } from './shared.js';

const main = document.getElementById('main');
const topbar = document.getElementById('topbar');
const banner = document.getElementById('banner');

/** One-time link tokens read from the address bar's fragment, which is then cleared. */
const linkTokens = {};
let leaveHandlers = [];

const ctx = {
  session: null,
  navigate,
  /** Runs `fn` when the current screen is left (timers, event streams). */
  onLeave(fn) {
    leaveHandlers.push(fn);
  },
  /** Remembers a fresh session (after sign-in, setup or joining). */
  signedIn(result) {
    setCsrf(result.csrf_token);
    ctx.session = null;
  },
  isOwner: () => ctx.session?.user.role === 'owner',
  isEditor: () => ['owner', 'editor'].includes(ctx.session?.user.role),
  async refreshSession() {
    ctx.session = await get('/me');
    setCsrf(ctx.session.csrf_token);
    drawTopbar();
  },
};

setSessionEndedHandler(() => {
  if (!ctx.session) return;
  ctx.session = null;
  setCsrf(null);
  replace(banner,
    h('span', {}, 'Your session has ended. '),
    h('button', { type: 'button', class: 'button small', onclick: () => { banner.hidden = true; navigate('/login'); } }, 'Sign in again'));
  banner.hidden = false;
});

function navigate(path, { replace: replaceEntry = false } = {}) {
  if (replaceEntry) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

window.addEventListener('popstate', () => route());

// Same-origin links inside the panel navigate without reloading.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-route]');
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  navigate(link.getAttribute('href'));
});

async function route() {
  for (const fn of leaveHandlers.splice(0)) fn();
  const path = location.pathname;
  if (path === '/setup' || path === '/join') {
    if (location.hash.length > 1) {
      linkTokens[path] = decodeURIComponent(location.hash.slice(1));
      history.replaceState(null, '', path);
    }
    hideTopbar();
    show(linkView(ctx, path === '/setup' ? 'setup' : 'join', linkTokens[path]), 'input, h1');
    return;
  }
  if (!ctx.session) {
    try {
      await ctx.refreshSession();
    } catch (err) {
      if (err.status !== 401) {
        hideTopbar();
        show(h('section', { class: 'card narrow center' },
          h('h1', {}, 'hush cannot be reached'),
          h('p', { role: 'alert' }, err.message),
          h('button', { type: 'button', class: 'button primary', onclick: () => route() }, 'Try again')), 'h1');
        return;
      }
    }
  }
  if (!ctx.session) {
    hideTopbar();
    if (path !== '/login') {
      history.replaceState(null, '', '/login');
    }
    let needsSetup = false;
    try {
      needsSetup = (await get('/setup')).needs_setup;
    } catch {
      needsSetup = false;
    }
    show(loginView(ctx, { needsSetup }), 'input, h1');
    return;
  }
  drawTopbar();
  if (path === '/login') {
    navigate('/', { replace: true });
    return;
  }
  if (path === '/members') {
    show(membersView(ctx), 'h1');
  } else if (path === '/shared') {
    show(sharedView(ctx), 'h1');
  } else if (path === '/audit') {
    show(auditView(ctx), 'h1');
  } else if (path === '/account') {
    show(accountView(ctx, { afterSignOut }), 'h1');
  } else if (path.startsWith('/apps/')) {
    show(workspaceView(ctx, { open: decodeURIComponent(path.slice('/apps/'.length)) }), null);
  } else {
    if (path !== '/') history.replaceState(null, '', '/');
    show(workspaceView(ctx), 'h1');
  }
}

/** Shows a screen; moves focus to its heading so screen readers announce it. */
function show(view, focusSelector) {
  replace(main, view);
  const title = view.querySelector('h1');
  document.title = title ? `${title.textContent} · hush` : 'hush';
  if (focusSelector) {
    const target = view.querySelector(focusSelector);
    if (target) {
      if (target.tagName === 'H1') target.tabIndex = -1;
      target.focus({ preventScroll: true });
    }
  }
}

function hideTopbar() {
  topbar.hidden = true;
  topbar.replaceChildren();
}

function drawTopbar() {
  const session = ctx.session;
  if (!session) return hideTopbar();
  const path = location.pathname;
  const link = (href, label) => h('a', {
    href, 'data-route': '', class: 'nav-link', 'aria-current': (href === '/' ? path === '/' || path.startsWith('/apps/') : path === href) ? 'page' : null,
  }, label);
  const account = menuButton({
    label: 'Account',
    className: 'account-button',
    text: [`${session.user.name} · ${session.user.role}`, h('span', { 'aria-hidden': 'true' }, ' ▾')],
    items: [
      { label: 'Account settings', action: () => navigate('/account') },
      { label: 'Sign out', action: signOut },
      { label: 'Sign out everywhere', action: signOutEverywhere },
    ],
  });
  replace(topbar,
    h('a', { href: '/', 'data-route': '', class: 'brand', 'aria-label': 'hush home' },
      h('img', { src: '/assets/favicon.svg', alt: '', width: '28', height: '28' }), h('span', {}, 'hush')),
    h('nav', { class: 'nav', 'aria-label': 'Main' },
      link('/', 'Apps'),
      link('/shared', 'Shared documents'),
      link('/members', 'Members'),
      ctx.isOwner() ? link('/audit', 'Audit log') : null),
    h('div', { class: 'topbar-right' }, themeButton(), account));
  topbar.hidden = false;
}

const isDark = () => document.documentElement.dataset.theme === 'dark';

/** Dark mode on or off; theme.js applies it and remembers it in this browser. */
function themeButton() {
  const button = h('button', { type: 'button', class: 'button small theme-button', 'aria-pressed': String(isDark()) },
    h('span', { 'aria-hidden': 'true' }, '☾ '), 'Dark mode');
  button.addEventListener('click', () => {
    document.dispatchEvent(new CustomEvent('hush:theme', { detail: isDark() ? 'light' : 'dark' }));
    button.setAttribute('aria-pressed', String(isDark()));
  });
  return button;
}

async function signOut() {
  try {
    await post('/auth/logout');
  } catch (err) {
    toast(`Could not sign out: ${err.message}`);
    return;
  }
  afterSignOut('Signed out.');
}

async function signOutEverywhere() {
  const ok = await confirmDialog({
    title: 'Sign out everywhere?',
    message: 'This ends your sessions in every browser and on every device, including this one. Tokens made with hush login stay valid; to revoke them too, use Account settings.',
    confirm: 'Sign out everywhere',
    danger: true,
  });
  if (!ok) return;
  try {
    await post('/auth/logout-all');
  } catch (err) {
    toast(`Could not sign out everywhere: ${err.message}`);
    return;
  }
  afterSignOut('Signed out on every device.');
}

function afterSignOut(message) {
  ctx.session = null;
  setCsrf(null);
  navigate('/login');
  toast(message);
}

route();
