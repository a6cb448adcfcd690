// Sign-in, first-run setup (/setup#TOKEN creates the owner) and joining from an invitation
// (/join#TOKEN). The token comes from the link's fragment and goes only into a request body.

import { get, post } from './api.js';
import { busy, capitalize, errorBox, field, h } from './dom.js';

function brand() {
  return h('div', { class: 'auth-brand' },
    h('img', { src: '/assets/favicon.svg', alt: '', width: '40', height: '40' }),
    h('span', {}, 'hush'));
}

export function loginView(ctx, { needsSetup }) {
  const name = field({ label: 'Name', input: h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true }) });
  const password = field({ label: 'Password', input: h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true }) });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, 'Sign in');
  const form = h('form', { class: 'stack', novalidate: true }, name.wrap, password.wrap, error.el, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.show(null);
    name.setError(null);
    password.setError(null);
    if (!name.input.value.trim()) return name.refuse('Enter your name.');
    if (!password.input.value) return password.refuse('Enter your password.');
    await busy(submit, 'Signing in…', async () => {
      try {
        const result = await post('/auth/login', { name: name.input.value.trim(), password: password.input.value });
        ctx.signedIn(result);
        ctx.navigate('/');
      } catch (err) {
        error.show(err.code === 'bad_credentials' ? 'Wrong name or password. Check both and try again.' : capitalize(err.message));
        password.input.value = '';
        password.input.focus();
      }
    });
  });
  // Single sign-on, when the server offers it: a link to its start (a full-page redirect).
  const sso = h('div', { class: 'stack', hidden: true });
  get('/auth/sso').then((info) => {
    if (!info.enabled) return;
    sso.append(h('a', { class: 'button primary wide', href: '/api/v1/auth/sso/start', id: 'sso-sign-in' },
      `Sign in with ${info.name}`));
    if (info.password_login) {
      sso.append(h('p', { class: 'muted' }, 'Or with your name and password:'));
    } else {
      form.hidden = true;
    }
    sso.hidden = false;
  }).catch(() => {});
  return h('section', { class: 'auth' },
    h('div', { class: 'card auth-card' },
      brand(),
      h('h1', {}, 'Sign in'),
      sso,
      needsSetup ? h('div', { class: 'notice', role: 'note' },
        h('strong', {}, 'This server has no owner yet. '),
        'Open the one-time setup link that ', h('code', {}, 'hush serve'), ' printed when it first started (it ends in ',
        h('code', {}, '/setup#…'), '). Lost it? Restart the server: while no owner exists, each start prints a new link.') : null,
      form));
}

/** The setup (owner) or join (invited member) form for a one-time link. */
export function linkView(ctx, kind, token) {
  const setup = kind === 'setup';
  const title = setup ? 'Create the owner account' : 'Join the workspace';
  const intro = setup
    ? 'Welcome to hush. Choose the name and password of the first account: the owner, who can invite others.'
    : 'You were invited to this hush server. Choose your name and password.';
  if (!token) {
    return h('section', { class: 'auth' },
      h('div', { class: 'card auth-card' }, brand(), h('h1', {}, title),
        h('p', { class: 'form-error', role: 'alert' },
          setup
            ? 'This page needs the one-time setup link printed by hush serve, including the part after the #. Copy the whole link and open it again.'
            : 'This page needs the whole invitation link, including the part after the #. Ask the person who invited you for the link again.'),
        h('p', {}, h('a', { href: '/login', 'data-route': '' }, 'Go to sign in'))));
  }
  const name = field({
    label: 'Name',
    input: h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, maxlength: '64' }),
    help: 'Letters, digits and . _ @ + - (an email address works).',
  });
  const password = field({
    label: 'Password',
    input: h('input', { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true }),
    help: 'At least 10 characters.',
  });
  const confirm = field({
    label: 'Repeat the password',
    input: h('input', { type: 'password', name: 'confirm-password', autocomplete: 'new-password', required: true }),
  });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'button primary wide' }, setup ? 'Create owner account' : 'Join');
  const form = h('form', { class: 'stack', novalidate: true }, name.wrap, password.wrap, confirm.wrap, error.el, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const f of [name, password, confirm]) f.setError(null);
    error.show(null);
    if (!name.input.value.trim()) return name.refuse('Choose a name.');
    if ([...password.input.value].length < 10) return password.refuse('Use at least 10 characters.');
    if (password.input.value !== confirm.input.value) return confirm.refuse('The two passwords differ; type the same password twice.');
    await busy(submit, setup ? 'Creating…' : 'Joining…', async () => {
      try {
        const result = await post('/auth/accept', { token, name: name.input.value.trim(), password: password.input.value });
        ctx.signedIn(result);
        ctx.navigate('/', { replace: true });
      } catch (err) {
        if (err.code === 'bad_name' || err.status === 409) name.refuse(capitalize(err.message));
        else if (/^password/.test(err.message)) password.refuse(capitalize(err.message.replace(/^password:\s*/, '')));
        else error.show(capitalize(err.message));
      }
    });
  });
  // What the link is for, before anyone types a password: the role and who invited.
  const about = h('p', { class: 'muted', 'aria-live': 'polite' }, intro);
  post('/auth/link', { token }).then((link) => {
    if (link.kind === 'invite') {
      const by = link.invited_by ? ` by ${link.invited_by}` : '';
      about.textContent = `You were invited${by} to join as ${link.role}. This link works once, until ${new Date(link.expires_at).toLocaleString()}. Choose your name and password.`;
    }
  }).catch((err) => {
    if (err.status === 404) {
      error.show('This link is unknown, used or expired. Ask for a new one.');
      submit.disabled = true;
    }
  });
  // An invitation can be used through single sign-on instead: the token goes in a POST body.
  const sso = h('div', { class: 'stack', hidden: true });
  if (!setup) {
    get('/auth/sso').then((info) => {
      if (!info.enabled) return;
      const join = h('button', { type: 'button', class: 'button primary wide' }, `Join with ${info.name}`);
      join.addEventListener('click', () => busy(join, 'Going to the provider…', async () => {
        try {
          const started = await post('/auth/sso/start', { invite: token });
          window.location.assign(started.url);
        } catch (err) {
          error.show(capitalize(err.message));
        }
      }));
      sso.append(join, h('p', { class: 'muted' }, 'Or choose a name and password:'));
      if (!info.password_login) form.hidden = true;
      sso.hidden = false;
    }).catch(() => {});
  }
  return h('section', { class: 'auth' },
    h('div', { class: 'card auth-card' }, brand(), h('h1', {}, title), about, sso, form));
}

