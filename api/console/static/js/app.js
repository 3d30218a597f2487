// app.js: sign-in, the page shell and the routes (#/overview,
// #/messages, #/messages/<id>, #/jobs). Each view renders into its own
// element and returns a function that stops its timers when it is left.
import { call, session, onUnauthenticated } from './api.js';
import { h, announce, field } from './dom.js';
import * as explorer from './explorer.js';
import * as detail from './detail.js';
import * as jobs from './jobs.js';
import * as overview from './overview.js';

const main = document.getElementById('main');
const top = document.getElementById('top');
let me = null; // {workspace, key_name, scopes}
let leave = null;

const routes = [
  { re: /^#\/overview$/, nav: 'overview', view: overview },
  { re: /^#\/messages\/([^/?]+)$/, nav: 'messages', view: detail },
  { re: /^#\/messages(\?.*)?$/, nav: 'messages', view: explorer },
  { re: /^#\/jobs(\?.*)?$/, nav: 'jobs', view: jobs },
];

const ctx = {
  can: (scope) => !!me && me.scopes.includes(scope),
  get me() { return me; },
};

function stop() {
  if (leave) leave();
  leave = null;
}

function signOut(message) {
  stop();
  session.clear();
  me = null;
  renderSignIn(message);
}

onUnauthenticated(() => signOut('Your key was refused (revoked or changed). Sign in again.'));

document.getElementById('signout').addEventListener('click', () => {
  signOut('Signed out. The key was removed from this tab.');
  announce('Signed out');
});

function renderSignIn(message) {
  top.hidden = true;
  document.title = 'Sign in · Herald console';
  const input = h('input', { id: 'api-key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-required': 'true' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit' }, 'Sign in');
  // method=post: even without this script, a key never lands in a URL.
  const form = h('form', { method: 'post', class: 'signin-form', novalidate: true },
    field('API key', input, 'Starts with hk_. Kept in this browser tab only (sessionStorage); closing the tab forgets it.'),
    button, error);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = 'Enter an API key.';
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    error.textContent = '';
    try {
      me = await call('GET', '/v1/me', { key });
      session.set(key);
      input.value = '';
      if (!location.hash.startsWith('#/')) location.hash = '#/overview';
      render();
      announce(`Signed in to workspace ${me.workspace}`);
    } catch (err) {
      error.textContent = err.status === 401 ? 'That key was not accepted.' : err.message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  const section = h('section', { class: 'signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', tabindex: '-1' }, 'Sign in to Herald'),
    message ? h('p', { class: 'notice', role: 'status' }, message) : null,
    h('p', {}, 'Use an API key of your workspace (', h('code', {}, 'herald keys create'), '; ',
      h('code', {}, 'make run'), ' prints a dev key). The console shows what the key may see and do, and nothing of other workspaces.'),
    form);
  main.replaceChildren(section);
  input.focus();
}

function renderShell() {
  top.hidden = false;
  const who = document.getElementById('who');
  who.replaceChildren(h('span', { class: 'ws' }, me.workspace), ' · ', h('span', { class: 'muted' }, `key ${me.key_name}`));
  who.title = 'Scopes: ' + me.scopes.join(', ');
}

async function render() {
  if (!session.key) return renderSignIn();
  const hash = location.hash || '#/overview';
  if (!hash.startsWith('#/')) return; // an in-page anchor such as the skip link
  if (!me) {
    try {
      me = await call('GET', '/v1/me');
    } catch (err) {
      if (err.status === 401) return; // signOut already ran
      main.replaceChildren(h('div', { class: 'error', role: 'alert' }, 'Herald did not answer: ' + err.message));
      return;
    }
  }
  renderShell();
  stop();
  const route = routes.find((r) => r.re.test(hash)) || routes[0];
  const match = hash.match(route.re) || [];
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === route.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = h('div', { class: 'view' });
  main.replaceChildren(root);
  leave = route.view.render(root, ctx, match[1] ? decodeURIComponent(match[1]) : '') || null;
  // Move focus to the new view's heading, as a page load would.
  const heading = root.querySelector('h1');
  if (heading) heading.focus();
}

window.addEventListener('hashchange', render);
render();
