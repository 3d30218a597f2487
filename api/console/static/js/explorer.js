// explorer.js: the send log (GET /v1/messages) with every filter, exact
// totals, cursor paging, a live mode, and bulk reprocess of the matches.
import { call } from './api.js';
import {
  h, announce, fmtNum, timeEl, badge, field, select, errorBox, showFormError, clearFormErrors,
  toLocalInput, fromLocalInput, zoneLabel, modal, STATUSES, TYPES,
} from './dom.js';

// FILTERS are the query parameters of GET /v1/messages the form sets.
const FILTERS = ['status', 'type', 'env', 'product_tag', 'product_id', 'notification_tag', 'process_id', 'campaign_id', 'start_date', 'end_date'];
const LIVE_EVERY_MS = 3000;

// The explorer remembers its page across a visit to a message, so that
// going back shows the same page of the same search.
let saved = { key: null, stack: [''], live: false };

// lastSearch is the explorer's hash, for the detail view's back link.
export let lastSearch = '#/messages';

function readHash() {
  const q = new URLSearchParams((location.hash.split('?')[1]) || '');
  const f = {};
  for (const name of FILTERS) f[name] = q.get(name) || '';
  const limit = Number(q.get('limit')) || 20;
  return { filters: f, limit: Number.isInteger(limit) && limit >= 1 && limit <= 200 ? limit : 20 };
}

function searchHash(filters, limit) {
  const q = new URLSearchParams();
  for (const name of FILTERS) if (filters[name]) q.set(name, filters[name]);
  if (limit !== 20) q.set('limit', String(limit));
  const s = q.toString();
  return '#/messages' + (s ? '?' + s : '');
}

export function render(root, ctx) {
  const { filters, limit: initialLimit } = readHash();
  let limit = initialLimit;
  const key = searchHash(filters, limit);
  let stack = saved.key === key ? saved.stack.slice() : [''];
  let live = saved.key === key && saved.live;
  let timer = null;
  let shown = new Set();
  let lastTotal = null;
  let gone = false;
  lastSearch = key;

  // The form: one labelled control per filter.
  const text = (name, label, hint) => field(label, h('input', { id: 'f-' + name, name, type: 'text', value: filters[name], autocomplete: 'off', spellcheck: 'false' }), hint);
  const date = (name, label) => field(label, h('input', { id: 'f-' + name, name, type: 'datetime-local', step: '1', value: toLocalInput(filters[name]) }));
  const form = h('form', { class: 'filters', 'aria-label': 'Filters' },
    h('div', { class: 'grid' },
      field('Status', select('f-status', 'status', [['', 'Any status'], ...STATUSES.map((s) => [s, s])], filters.status)),
      field('Channel', select('f-type', 'type', [['', 'Any channel'], ...TYPES.map((t) => [t, t])], filters.type)),
      text('env', 'Env'),
      text('product_tag', 'Product tag'),
      text('product_id', 'Product id'),
      text('notification_tag', 'Notification tag'),
      text('process_id', 'Process id'),
      text('campaign_id', 'Campaign id', 'A job id for scheduled sends'),
      date('start_date', `From (${zoneLabel()})`),
      date('end_date', `To (${zoneLabel()})`),
      field('Per page', select('f-limit', 'limit', [...new Set([20, 50, 100, 200, limit])].sort((a, b) => a - b).map((v) => [String(v), String(v)]), String(limit))),
    ),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit' }, 'Apply filters'),
      h('button', { type: 'button', class: 'secondary', onclick: () => clearFilters() }, 'Clear'),
    ),
    h('p', { class: 'form-error', role: 'alert' }));

  const total = h('p', { class: 'total', 'aria-live': 'polite' }, 'Loading…');
  const liveBox = h('input', { id: 'live', type: 'checkbox', checked: live });
  const liveStatus = h('span', { class: 'muted live-status' });
  const bulk = ctx.can('notifications:reprocess')
    ? h('button', { type: 'button', class: 'secondary', onclick: () => bulkReprocess() }, 'Reprocess failed…') : null;
  const toolbar = h('div', { class: 'toolbar' }, total,
    h('div', { class: 'live' }, liveBox, h('label', { for: 'live' }, `Live: show new messages as they arrive (checks every ${LIVE_EVERY_MS / 1000} s)`), liveStatus),
    bulk);
  const error = h('div');
  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'messages responsive' },
    h('caption', { class: 'visually-hidden' }, 'Messages, newest first'),
    h('thead', {}, h('tr', {}, ['Created', 'Status', 'Channel', 'Product · env', 'Notification', 'Attempts', 'Error', 'Message id'].map((c) => h('th', { scope: 'col' }, c)))),
    tbody));
  const prev = h('button', { type: 'button', class: 'secondary', onclick: () => go(-1) }, '← Newer');
  const next = h('button', { type: 'button', class: 'secondary', onclick: () => go(1) }, 'Older →');
  const pageInfo = h('span', { class: 'page-info', tabindex: '-1' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageInfo, next);

  root.append(h('h1', { tabindex: '-1' }, 'Messages'), form, toolbar, error, table, pager);

  function clearFilters() {
    for (const name of FILTERS) form.elements.namedItem(name).value = '';
    form.requestSubmit();
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    const next = {};
    for (const name of FILTERS) {
      const v = form.elements.namedItem(name).value.trim();
      next[name] = name.endsWith('_date') ? fromLocalInput(v) : v;
    }
    const nextLimit = Number(form.elements.namedItem('limit').value);
    Object.assign(filters, next);
    limit = nextLimit;
    stack = [''];
    lastSearch = searchHash(filters, limit);
    history.replaceState(null, '', lastSearch);
    load({ announceResult: true });
  });

  liveBox.addEventListener('change', () => {
    live = liveBox.checked;
    if (live) {
      if (stack.length > 1) stack = [''];
      load({});
      announce(`Live mode on: checking for new messages every ${LIVE_EVERY_MS / 1000} seconds`);
    } else {
      clearTimeout(timer);
      liveStatus.textContent = '';
      announce('Live mode off');
    }
    save();
  });

  function save() { saved = { key: searchHash(filters, limit), stack: stack.slice(), live }; }

  function go(dir) {
    if (dir < 0 && stack.length > 1) stack.pop();
    if (dir > 0 && next.dataset.cursor) stack.push(next.dataset.cursor);
    if (live && stack.length > 1) {
      live = false;
      liveBox.checked = false;
      liveStatus.textContent = '';
      announce('Live mode off while paging');
    }
    load({ announceResult: true, focusTable: true });
  }

  async function load({ announceResult = false, focusTable = false, poll = false }) {
    clearTimeout(timer);
    const query = { ...filters, limit, cursor: stack[stack.length - 1] };
    let page;
    try {
      page = await call('GET', '/v1/messages', { query });
    } catch (err) {
      if (gone) return;
      if (err.status === 400) showFormError(form, err);
      else error.replaceChildren(errorBox(err));
      total.textContent = '';
      if (live) timer = setTimeout(() => load({ poll: true }), LIVE_EVERY_MS);
      return;
    }
    if (gone) return;
    error.replaceChildren();
    const fresh = poll ? page.items.filter((m) => !shown.has(m._id)) : [];
    shown = new Set(page.items.map((m) => m._id));
    const pageNo = stack.length;
    const pages = Math.max(1, Math.ceil(page.total / limit));
    total.textContent = `${fmtNum(page.total)} ${page.total === 1 ? 'message' : 'messages'}`;
    tbody.replaceChildren(...page.items.map((m) => row(m, fresh.some((f) => f._id === m._id))));
    if (page.items.length === 0) {
      tbody.append(h('tr', {}, h('td', { colspan: '8', class: 'empty' }, 'No message matches these filters.')));
    }
    pageInfo.textContent = `Page ${fmtNum(pageNo)} of ${fmtNum(pages)}`;
    prev.disabled = stack.length <= 1;
    next.disabled = !page.hasMore || !page.next_cursor;
    next.dataset.cursor = page.next_cursor || '';
    if (announceResult) announce(`${total.textContent}, page ${pageNo} of ${pages}`);
    if (poll && fresh.length) announce(`${fresh.length} new ${fresh.length === 1 ? 'message' : 'messages'}`);
    else if (poll && lastTotal !== null && page.total !== lastTotal) announce(`Now ${total.textContent}`);
    lastTotal = page.total;
    // A pager button that just became disabled would drop the focus.
    if (focusTable && document.activeElement && document.activeElement.disabled) pageInfo.focus();
    save();
    if (live) {
      liveStatus.textContent = `checked ${new Date().toLocaleTimeString()}`;
      timer = setTimeout(() => load({ poll: true }), LIVE_EVERY_MS);
    }
  }

  function row(m, isNew) {
    const cell = (label, ...content) => h('td', { 'data-label': label }, h('div', {}, ...content));
    const link = h('a', { href: '#/messages/' + encodeURIComponent(m._id), class: 'mono' }, m._id);
    return h('tr', { class: isNew ? 'new' : null },
      cell('Created', timeEl(m.created_at)),
      cell('Status', badge(m.status)),
      cell('Channel', m.type),
      cell('Product · env', `${m.product_tag} · ${m.env}`),
      cell('Notification', m.notification || m.notification_tag),
      cell('Attempts', String(m.attempts)),
      cell('Error', m.error_code ? h('span', { title: m.error || '' }, m.error_code) : h('span', { class: 'muted' }, '—')),
      cell('Message id', link));
  }

  async function bulkReprocess() {
    if (filters.status && filters.status !== 'failed') {
      const dlg = modal('Only failed messages are reprocessed in bulk',
        h('p', {}, `The status filter is "${filters.status}". Set it to failed (or any) to reprocess the failed messages matching the other filters.`),
        [h('button', { type: 'button', onclick: () => dlg.close() }, 'Close')]);
      return;
    }
    const body = {};
    for (const name of FILTERS) if (filters[name]) body[name] = filters[name];
    let dry;
    try {
      dry = await call('POST', '/v1/messages/reprocess', { body: { ...body, dry_run: true } });
    } catch (err) {
      if (err.status === 400) showFormError(form, err);
      else error.replaceChildren(errorBox(err));
      return;
    }
    const described = Object.entries(body).map(([k, v]) => h('li', {}, h('code', {}, k), ' = ', v));
    if (dry.matched === 0) {
      const dlg = modal('Nothing to reprocess', h('p', {}, 'No failed message matches these filters.'),
        [h('button', { type: 'button', onclick: () => dlg.close() }, 'Close')]);
      return;
    }
    const confirm = h('button', { type: 'button', class: 'danger' }, `Reprocess ${fmtNum(dry.matched)}`);
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const status = h('p', { role: 'status' });
    const dlg = modal('Reprocess failed messages?', [
      h('p', {}, `Dry run: ${fmtNum(dry.matched)} failed ${dry.matched === 1 ? 'message matches' : 'messages match'} `,
        described.length ? 'these filters:' : 'with no filter (the whole log).'),
      described.length ? h('ul', {}, described) : null,
      h('p', {}, 'Each is sent again with its stored input; its new attempts are added to it.'),
      status,
    ], [cancel, confirm]);
    cancel.focus();
    cancel.addEventListener('click', () => dlg.close());
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      cancel.disabled = true;
      status.textContent = 'Reprocessing…';
      try {
        const res = await call('POST', '/v1/messages/reprocess', { body: { ...body, dry_run: false } });
        const msg = `Queued ${fmtNum(res.reprocessed)} of ${fmtNum(res.matched)} again` +
          (res.skipped ? `, ${fmtNum(res.skipped)} skipped` : '') + (res.errors ? `, ${fmtNum(res.errors)} errors` : '') + '.';
        status.textContent = msg;
        announce(msg);
        cancel.textContent = 'Close';
        cancel.disabled = false;
        cancel.focus();
        confirm.remove();
        load({});
      } catch (err) {
        status.textContent = err.message;
        cancel.disabled = false;
      }
    });
  }

  load({});
  return () => { gone = true; clearTimeout(timer); };
}
