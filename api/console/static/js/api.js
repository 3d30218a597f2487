// api.js: the signed-in key and calls to Herald's JSON API.
//
// The key lives in sessionStorage only: this tab forgets it when it is
// closed, it is never put in a URL, and it is sent only as a Bearer header
// to this origin.

const KEY = 'herald.console.key';

export const session = {
  get key() { return sessionStorage.getItem(KEY) || ''; },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

// ApiError is an error answer of the API: {"error": {code, message, field}}.
export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || '';
    this.field = e.field || '';
  }
}

let unauthenticated = () => {};

// onUnauthenticated sets what happens when the signed-in key is refused
// (revoked or changed while the console was open).
export function onUnauthenticated(f) { unauthenticated = f; }

// call sends one request. query values that are empty are left out.
// key overrides the signed-in key (sign-in checks a new one).
export async function call(method, path, { query, body, key } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const headers = { Authorization: 'Bearer ' + (key ?? session.key), Accept: 'application/json' };
  const init = { method, headers, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, { error: { code: 'unavailable', message: 'Herald did not answer (' + err.message + ')' } });
  }
  let data = null;
  try { data = await res.json(); } catch { /* an empty or non-JSON body */ }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && key === undefined) unauthenticated(err);
    throw err;
  }
  return data;
}
