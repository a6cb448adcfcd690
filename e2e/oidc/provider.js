// A real OpenID provider (oidc-provider, a certified implementation) on 127.0.0.1 for hush's
// single sign-on tests. One client, from the environment; a fixed set of people. The sign-in
// "interaction" is minimal: a login_hint naming a known person signs them in at once (the Rust
// tests drive the redirects that way); otherwise a form asks for the email (the browser test
// fills it). Consent is granted for the one client. Prints "listening on PORT" once ready.
//
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URIS (comma separated), OIDC_PORT (0: any)
//   OIDC_TAMPER=aud|exp|sig|iss  a broken provider: the token endpoint's ID token is re-signed
//     for another audience, already expired, with a key it does not publish (forged), or
//     naming another issuer; the refusal tests use it.
import http from 'node:http';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

// The signing key is ours, so that a tampered token can be re-signed with it.
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'k1', use: 'sig', alg: 'RS256' };
const { privateKey: strangerKey } = await generateKeyPair('RS256');
const tamper = process.env.OIDC_TAMPER || '';

async function tampered(jwt) {
  const claims = decodeJwt(jwt);
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  if (tamper === 'aud') claims.aud = 'someone-else';
  if (tamper === 'exp') { claims.iat = now - 7200; claims.exp = now - 3600; }
  if (tamper === 'iss') claims.iss = 'http://127.0.0.1:1';
  if (tamper === 'sig') key = strangerKey;
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key);
}

/** Rewrites the ID token in the token endpoint's answer. */
function tamperTokenResponse(res) {
  const chunks = [];
  const end = res.end.bind(res);
  res.write = (chunk) => { chunks.push(Buffer.from(chunk)); return true; };
  res.end = (chunk) => {
    if (chunk && typeof chunk !== 'function') chunks.push(Buffer.from(chunk));
    (async () => {
      let body = Buffer.concat(chunks).toString();
      try {
        const json = JSON.parse(body);
        if (json.id_token) json.id_token = await tampered(json.id_token);
        body = JSON.stringify(json);
      } catch { /* not JSON: as it was */ }
      res.setHeader('content-length', Buffer.byteLength(body));
      end(body);
    })();
    return res;
  };
}

const people = {
  'alice@example.com': { email_verified: true, name: 'Alice', groups: ['devs'] },
  'owen@example.com': { email_verified: true, name: 'Owen', groups: ['owners', 'devs'] },
  'bob@example.com': { email_verified: true, name: 'Bob', groups: [] },
  'carol@example.com': { email_verified: true, name: 'Carol', groups: [] },
  'uma@example.com': { email_verified: false, name: 'Uma', groups: [] },
  'eve@elsewhere.test': { email_verified: true, name: 'Eve', groups: ['owners'] },
  // Another account (another subject) with alice's email.
  'alice.again': { email: 'alice@example.com', email_verified: true, name: 'Alice again', groups: [] },
  // An address whose look-alike-proof key is mary@example.com's ('rn' looks like 'm').
  'rnary@example.com': { email_verified: true, name: 'Not Mary', groups: ['owners'] },
};

const clientId = process.env.OIDC_CLIENT_ID || 'hush';
const clientSecret = process.env.OIDC_CLIENT_SECRET || 'hush-test-secret';
const redirectUris = (process.env.OIDC_REDIRECT_URIS || '').split(',').filter(Boolean);
const port = Number(process.env.OIDC_PORT || 0);

// The test that started this may stop reading its output: never die of that.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    async findAccount(ctx, id) {
      const person = people[id];
      if (!person) return undefined;
      return { accountId: id, async claims() { return { sub: id, email: id, ...person }; } };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups'],
    conformIdTokenClaims: false,
    jwks: { keys: [signingKey] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    cookies: { keys: ['hush-e2e-only'] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
  });
  provider.on('server_error', (ctx, err) => console.error('provider error', err));
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    try {
      const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
      if (!match) {
        if (tamper && req.method === 'POST' && req.url.startsWith('/token')) tamperTokenResponse(res);
        return callback(req, res);
      }
      const details = await provider.interactionDetails(req, res);
      let email = details.params.login_hint;
      if (match[2] && req.method === 'POST') {
        const body = await new Promise((resolve) => {
          let data = '';
          req.on('data', (c) => { data += c; });
          req.on('end', () => resolve(new URLSearchParams(data)));
        });
        email = body.get('email');
      }
      if (email && people[email]) {
        return await provider.interactionFinished(req, res, { login: { accountId: email } }, { mergeWithLastSubmission: false });
      }
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end(`<!doctype html><html lang="en"><head><title>Test provider sign-in</title></head><body><main>
<h1>Test provider</h1>${email ? '<p role="alert">No such person.</p>' : ''}
<form method="post" action="/interaction/${details.uid}/login">
<label for="email">Email</label> <input id="email" name="email" autocomplete="off">
<button type="submit">Continue</button></form></main></body></html>`);
    } catch (err) {
      console.error('interaction error', err);
      res.statusCode = 500;
      res.end(String(err && err.message));
    }
  });
  console.log(`listening on ${server.address().port}`);
});
