// dom.js: building elements, formatting, and what the console never shows.
//
// Every text from the API goes into the page as a text node (textContent),
// never as HTML, so a message's input cannot inject markup or script.

// h builds an element: h('a', {href: '#/x', class: 'c', onclick: f}, 'text', child).
// Attributes starting with "on" are listeners; "class" and "text" are
// shortcuts; false, null and undefined attributes are left out.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

// set replaces an element's children, leaving out null, undefined and
// false (which replaceChildren would write as text).
export function set(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// announce tells screen readers something happened (the aria-live region).
export function announce(msg) {
  const el = document.getElementById('announcer');
  el.textContent = '';
  // A new text node in a later task is announced even when it repeats.
  setTimeout(() => { el.textContent = msg; }, 50);
}

const numberFormat = new Intl.NumberFormat('en-US');
export const fmtNum = (n) => numberFormat.format(n ?? 0);

const pad = (n) => String(n).padStart(2, '0');

// fmtTime shows an API time in the browser's zone: 2026-11-27 14:03:05.
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// timeEl is a <time> with the local time as text and the UTC time as title.
export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: iso }, fmtTime(iso));
}

// ago says how long ago (or in how long) an instant is: "3 min ago".
export function ago(iso, now = Date.now()) {
  if (!iso) return '';
  const s = Math.round((now - new Date(iso).getTime()) / 1000);
  const abs = Math.abs(s);
  const v = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return s >= 0 ? `${v} ago` : `in ${v}`;
}

// duration formats seconds: 0.4 s, 12 s, 3 min 5 s, 2 h 10 min.
export function duration(sec) {
  if (sec < 10) return `${Math.round(sec * 10) / 10} s`;
  if (sec < 60) return `${Math.round(sec)} s`;
  if (sec < 3600) return `${Math.floor(sec / 60)} min ${Math.round(sec % 60)} s`;
  return `${Math.floor(sec / 3600)} h ${Math.round((sec % 3600) / 60)} min`;
}

// toLocalInput turns an API time into a datetime-local value (the
// browser's zone); fromLocalInput the reverse, to RFC 3339 UTC.
export function toLocalInput(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
export function fromLocalInput(v) {
  if (!v) return '';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

// zoneLabel names the browser's offset: UTC+01:00.
export function zoneLabel() {
  const off = -new Date().getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return `UTC${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
}

export const STATUSES = ['pending', 'sent', 'failed', 'reprocessing'];
export const TYPES = ['email', 'push', 'sms', 'callback', 'notification'];
export const CHANNELS = ['email', 'push', 'sms', 'callback'];

// badge is a status label: its text says the status, its colour repeats it.
export function badge(status, kind = 'status') {
  return h('span', { class: `badge ${kind}-${String(status).replace(/[^a-z-]/g, '')}` }, status);
}

// Header names whose values are credentials; the console shows
// "[redacted]" instead. Input field names likewise, anywhere in the input.
const SECRET_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|x-access-token)$|token|secret|password|signature|session/i;
const SECRET_FIELD = /^(password|passwd|secret|client_secret|api_key|apikey|access_token|refresh_token|id_token|authorization|cookie|private_key|session|session_token)$/i;
export const REDACTED = '[redacted]';

// redactInput returns a copy of a message's input fit to show: values of
// credential headers (callback input.headers) and of fields named like
// secrets are replaced. The stored input is not changed: a reprocess
// sends what was stored.
export function redactInput(input) {
  const walk = (v, inHeaders) => {
    if (Array.isArray(v)) return v.map((x) => walk(x, false));
    if (v && typeof v === 'object') {
      const out = {};
      for (const [k, x] of Object.entries(v)) {
        if ((inHeaders && SECRET_HEADER.test(k)) || SECRET_FIELD.test(k)) out[k] = REDACTED;
        else out[k] = walk(x, k.toLowerCase() === 'headers');
      }
      return out;
    }
    return v;
  };
  return walk(input, false);
}

// fieldError marks the form control named field as invalid with msg, or
// shows msg in the form's general error when no control has that name.
export function showFormError(form, err) {
  clearFormErrors(form);
  const name = (err.field || '').split('.')[0];
  const ctl = name && form.elements.namedItem(name);
  const general = form.querySelector('.form-error');
  if (ctl && ctl.id) {
    ctl.setAttribute('aria-invalid', 'true');
    const msg = h('p', { class: 'field-error', id: ctl.id + '-error' }, err.message);
    ctl.setAttribute('aria-describedby', msg.id);
    ctl.closest('.field').append(msg);
    ctl.focus();
  }
  if (general) general.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
}

export function clearFormErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    el.removeAttribute('aria-describedby');
  }
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  const general = form.querySelector('.form-error');
  if (general) general.textContent = '';
}

// field is a labelled control in a .field wrapper.
export function field(label, control, hint) {
  const hintEl = hint ? h('span', { class: 'hint', id: control.id + '-hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control, hintEl);
}

export function select(id, name, options, value) {
  return h('select', { id, name }, options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)));
}

// errorBox is the general error of a view (role=alert: read at once).
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err.status === 403 ? `Not allowed: ${err.message}` : err.message);
}

// modal shows a <dialog> (focus stays inside it; Esc closes it) and
// returns it; the dialog is removed from the page when closed.
export function modal(title, body, actions) {
  const id = 'dlg-' + Math.random().toString(36).slice(2);
  const dlg = h('dialog', { 'aria-labelledby': id }, h('h2', { id }, title), body, h('div', { class: 'actions' }, actions));
  dlg.addEventListener('close', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}
