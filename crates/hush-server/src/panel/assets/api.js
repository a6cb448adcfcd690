// The JSON API client. The session cookie is HttpOnly and sent by the browser; every request
// that changes something also carries the session's CSRF token in X-CSRF-Token. Nothing secret
// ever goes into a URL: secrets travel only in request and response bodies.

let csrfToken = null;
let onSessionEnded = null;

export function setCsrf(token) {
  csrfToken = token || null;
}

/** Called (once per failure) when the server says the session is over. */
export function setSessionEndedHandler(handler) {
  onSessionEnded = handler;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `the server answered ${status}`);
    this.status = status;
    this.code = body.error || 'error';
    this.body = body;
  }
}

/** Calls the API; the answer is parsed as JSON, or returned as text with `{ text: true }`. */
export async function api(method, path, body, { text: asText = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, {
      error: 'network',
      message: 'cannot reach the hush server; check the connection and try again',
    });
  }
  const text = await response.text();
  if (asText && response.ok) return text;
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = new ApiError(response.status, data && typeof data === 'object' ? data : {
      error: `http_${response.status}`,
      message: `the server answered ${response.status} ${response.statusText}`.trim(),
    });
    // A wrong current password (changing it) is not the end of the session.
    if (response.status === 401 && !path.startsWith('/auth/') && err.code !== 'bad_credentials') {
      // The API's words are for scripts ("send a valid token…"); a person needs these.
      err.message = 'your session has ended: sign in again (what you typed stays on this page until you leave it)';
      if (onSessionEnded) onSessionEnded(err);
    }
    throw err;
  }
  return data;
}

export const get = (path) => api('GET', path);
/** A GET whose answer is not JSON (the audit export). */
export const getText = (path) => api('GET', path, undefined, { text: true });
export const post = (path, body = {}) => api('POST', path, body);
export const put = (path, body) => api('PUT', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);

/**
 * GETs `path` for one part of a page: `box` (an errorBox) is cleared when it loads, and says
 * "Could not load WHAT: why" when it does not (the answer is then null, and the part keeps
 * what it showed).
 */
export async function getOrSay(path, box, what) {
  try {
    const answer = await get(path);
    box.show(null);
    return answer;
  } catch (err) {
    box.show(`Could not load ${what}: ${err.message}`);
    return null;
  }
}

/** `/apps/NAME…` with the name escaped. */
export function appPath(app, rest = '') {
  return `/apps/${encodeURIComponent(app)}${rest}`;
}

/**
 * `/apps/NAME/envs/ENV…` for an app environment; production keeps the app's own paths
 * (`/apps/NAME…`), which mean the same.
 */
export function envPath(app, env, rest = '') {
  if (!env || env === 'production') return appPath(app, rest);
  return appPath(app, `/envs/${encodeURIComponent(env)}${rest}`);
}

/** A path with a query string built from the defined values of `params`. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
