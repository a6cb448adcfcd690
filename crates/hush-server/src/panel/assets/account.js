// Your account: change your password (the current one is asked again; your other sessions
// end), your personal access tokens (list, create, revoke), and signing out everywhere with
// the choice to revoke those tokens too.

import { del, get, getOrSay, post, setCsrf } from './api.js';
import { ago, busy, capitalize, copyField, dataTable, errorBox, field, fullTime, h, replace, toast } from './dom.js';
import { confirmDialog } from './modal.js';

export function accountView(ctx, { afterSignOut }) {
  const view = h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Account')),
    h('p', { class: 'muted' }, `Signed in as ${ctx.session.user.name} (${ctx.session.user.role}).`),
    ssoCard(),
    passwordCard(ctx),
    tokensCard(),
    everywhereCard(afterSignOut));
  return view;
}

/** The single sign-on identity this account is linked to; hidden on servers without SSO. */
function ssoCard() {
  const body = h('p', { class: 'muted' }, 'Loading…');
  const card = h('section', { class: 'card', hidden: true }, h('h2', {}, 'Single sign-on'), body);
  Promise.all([get('/auth/sso'), get('/account/sso')]).then(([info, linked]) => {
    if (!info.enabled && !linked) return;
    replace(body, linked
      ? h('span', {}, 'Linked to ', h('strong', {}, linked.email), ` at ${linked.issuer}, since `, fullTime(linked.linked_at), '.')
      : h('span', {}, 'Not linked: you sign in with your name and password. Sign in with single sign-on once to link this account.'));
    card.hidden = false;
  }).catch(() => {});
  return card;
}

function passwordCard(ctx) {
  const current = field({ label: 'Current password', input: h('input', { type: 'password', autocomplete: 'current-password', required: true }) });
  const next = field({
    label: 'New password',
    input: h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: '10' }),
    help: 'At least 10 characters.',
  });
  const again = field({ label: 'Repeat the new password', input: h('input', { type: 'password', autocomplete: 'new-password', required: true }) });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Change password');
  const form = h('form', { class: 'stack', novalidate: true }, current.wrap, next.wrap, again.wrap, error.el, h('div', { class: 'form-submit' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.show(null);
    for (const f of [current, next, again]) f.setError(null);
    if (!current.input.value) return current.setError('Enter your current password.');
    if (next.input.value.length < 10) return next.setError('Use at least 10 characters.');
    if (next.input.value !== again.input.value) return again.setError('The two new passwords differ.');
    await busy(submit, 'Changing…', async () => {
      try {
        const result = await post('/account/password', {
          current_password: current.input.value,
          new_password: next.input.value,
        });
        // This browser gets a fresh session; every other one has ended.
        if (result?.csrf_token) setCsrf(result.csrf_token);
        await ctx.refreshSession();
        for (const f of [current, next, again]) f.input.value = '';
        toast('Password changed. Your other sessions have ended.');
      } catch (err) {
        if (err.code === 'bad_credentials') {
          current.refuse('That is not your current password.');
        } else {
          error.show(`The password was not changed: ${capitalize(err.message)}`);
        }
      }
    });
  });
  return h('section', { class: 'card' },
    h('h2', {}, 'Password'),
    h('p', { class: 'muted' }, 'Changing it signs you out everywhere else. Personal tokens keep working.'),
    form);
}

function tokensCard() {
  const table = h('div', { class: 'table-wrap' });
  const loadError = errorBox();
  const created = h('div', { class: 'invite-result', role: 'status' });
  const name = field({ label: 'Token name', input: h('input', { type: 'text', maxlength: '100', required: true, placeholder: 'laptop, CI…' }) });
  const days = field({
    label: 'Expires after (days)',
    input: h('input', { type: 'number', min: '1', max: '3650', inputmode: 'numeric' }),
    optional: true,
    help: 'Leave empty for a token that does not expire.',
  });
  const error = errorBox();
  const submit = h('button', { type: 'submit', class: 'button primary' }, 'Create token');
  const form = h('form', { class: 'stack', novalidate: true }, name.wrap, days.wrap, error.el, h('div', { class: 'form-submit' }, submit));

  async function load() {
    const answer = await getOrSay('/tokens', loadError, 'your tokens');
    if (!answer) return;
    const { tokens } = answer;
    if (tokens.length === 0) {
      replace(table, h('p', { class: 'muted' }, 'You have no personal tokens.'));
      return;
    }
    replace(table, dataTable({
      caption: 'Your personal access tokens',
      columns: ['Name', 'Starts with', 'Created', 'Last used', 'Expires', ''],
      rows: tokens.map((t) => ({
        cells: [
          t.name,
          h('code', {}, `${t.prefix}…`),
          ago(t.created_at),
          t.last_used_at ? ago(t.last_used_at) : 'never',
          t.expires_at ? fullTime(t.expires_at) : 'never',
          revokeButton(t),
        ],
      })),
    }));
  }

  function revokeButton(token) {
    const button = h('button', { type: 'button', class: 'button small danger', 'aria-label': `Revoke ${token.name}` }, 'Revoke');
    button.addEventListener('click', async () => {
      const ok = await confirmDialog({
        title: `Revoke “${token.name}”?`,
        message: 'Whatever uses this token (a signed-in CLI, a script) stops working at once.',
        confirm: 'Revoke token',
        danger: true,
      });
      if (!ok) return;
      try {
        await del(`/tokens/${token.id}`);
        // The list first, so the note never stands beside a row that is already gone.
        await load();
        toast(`Revoked “${token.name}”.`);
      } catch (err) {
        loadError.show(`Could not revoke “${token.name}”: ${err.message}`);
      }
    });
    return button;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.show(null);
    name.setError(null);
    days.setError(null);
    if (!name.input.value.trim()) return name.setError('Give the token a name.');
    const expires = days.input.value ? Number(days.input.value) : null;
    if (expires !== null && !(Number.isInteger(expires) && expires >= 1 && expires <= 3650)) {
      return days.setError('Use a whole number of days from 1 to 3650, or leave it empty.');
    }
    await busy(submit, 'Creating…', async () => {
      try {
        const token = await post('/tokens', { kind: 'personal', name: name.input.value.trim(), expires_in_days: expires });
        replace(created,
          copyField(`New token “${token.name}”`, token.token),
          h('p', { class: 'help' }, 'Copy it now: it is shown only this once.'));
        created.querySelector('input')?.focus();
        name.input.value = '';
        days.input.value = '';
        load();
      } catch (err) {
        error.show(`No token created: ${capitalize(err.message)}`);
      }
    });
  });

  load();
  return h('section', { class: 'card' },
    h('h2', {}, 'Personal access tokens'),
    h('p', { class: 'muted' }, 'Tokens act as you in the CLI and scripts. Revoked and expired ones are not listed.'),
    loadError.el, table, h('h3', {}, 'Create a token'), form, created);
}

function everywhereCard(afterSignOut) {
  const revoke = h('input', { type: 'checkbox', id: 'revoke-tokens' });
  const error = errorBox();
  const button = h('button', { type: 'button', class: 'button danger' }, 'Sign out everywhere');
  button.addEventListener('click', async () => {
    const withTokens = revoke.checked;
    const ok = await confirmDialog({
      title: 'Sign out everywhere?',
      message: withTokens
        ? 'This ends your sessions on every device, including this one, and revokes every personal token of yours.'
        : 'This ends your sessions on every device, including this one. Your personal tokens keep working.',
      confirm: 'Sign out everywhere',
      danger: true,
    });
    if (!ok) return;
    try {
      await post(`/auth/logout-all?revoke_tokens=${withTokens}`);
    } catch (err) {
      error.show(`Could not sign out everywhere: ${err.message}`);
      return;
    }
    afterSignOut(withTokens ? 'Signed out on every device; your personal tokens are revoked.' : 'Signed out on every device.');
  });
  return h('section', { class: 'card' },
    h('h2', {}, 'Sign out everywhere'),
    h('div', { class: 'field checkbox-field' }, revoke, h('label', { for: 'revoke-tokens' }, 'Also revoke all my personal tokens')),
    error.el, button);
}
