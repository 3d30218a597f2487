// detail.js: one message: its fields, a timeline of its status changes,
// every attempt, its input (credentials hidden), and Reprocess.
import { call } from './api.js';
import { h, set, announce, timeEl, badge, errorBox, redactInput, fmtTime, ago } from './dom.js';
import { lastSearch } from './explorer.js';

const POLL_MS = 1000;
const POLL_FOR_MS = 10 * 60 * 1000;
const SETTLED = ['sent', 'failed'];

export function render(root, ctx, id) {
  let gone = false;
  let timer = null;
  let polling = false;
  let pollUntil = 0;

  const heading = h('h1', { tabindex: '-1' }, 'Message ', h('code', { class: 'mono id' }, id));
  const statusLine = h('div', { class: 'status-line', 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions' });
  const error = h('div');
  const body = h('div', { class: 'detail' });
  root.append(h('p', { class: 'crumbs' }, h('a', { href: lastSearch }, '← Back to messages')), heading, statusLine, actions, error, body);

  async function fetchAll() {
    const entry = await call('GET', '/v1/messages/' + encodeURIComponent(id));
    const attempts = [];
    let after = '';
    // Every attempt, 200 at a time (the store keeps at most 1,000).
    for (let i = 0; i < 10; i++) {
      const page = await call('GET', `/v1/messages/${encodeURIComponent(id)}/attempts`, { query: { per_page: 200, after } });
      attempts.push(...page.data);
      if (!page.meta.pagination.has_more || page.data.length === 0) break;
      after = page.data[page.data.length - 1].id;
    }
    return { entry, attempts };
  }

  async function load() {
    clearTimeout(timer);
    let data;
    try {
      data = await fetchAll();
    } catch (err) {
      if (gone) return;
      if (err.status === 404) error.replaceChildren(h('div', { class: 'error', role: 'alert' }, 'No such message in this workspace.'));
      else if (err.status === 410) error.replaceChildren(h('div', { class: 'error', role: 'alert' }, 'This message is older than the retention window and was deleted.'));
      else error.replaceChildren(errorBox(err));
      if (polling) timer = setTimeout(load, POLL_MS * 3);
      return;
    }
    if (gone) return;
    error.replaceChildren();
    let said = '';
    if (polling && SETTLED.includes(data.entry.status)) {
      polling = false;
      said = `Reprocessed: the message is now ${data.entry.status}`;
    } else if (polling && Date.now() > pollUntil) {
      polling = false;
      said = `Still ${data.entry.status}; stopped waiting. Use Refresh to check again.`;
    }
    show(data.entry, data.attempts);
    renderActions(data.entry);
    if (said) announce(said);
    if (polling) timer = setTimeout(load, POLL_MS);
  }

  function show(m, attempts) {
    set(statusLine,
      h('span', { class: 'label' }, 'Status '), badge(m.status),
      m.error_code ? h('span', { class: 'err-code' }, ' ', m.error_code) : null,
      m.status === 'pending' && m.next_attempt_at ? h('span', { class: 'muted' }, ` · next attempt ${ago(m.next_attempt_at)}`) : null,
      polling ? h('span', { class: 'muted' }, ' · waiting for the result…') : null);
    set(body,
      section('Timeline', timeline(m, attempts)),
      section(`Attempts (${attempts.length})`, attemptsTable(attempts)),
      section('Fields', fields(m)),
      section('Input', inputView(m)));
  }

  function renderActions(m) {
    actions.replaceChildren();
    if (ctx.can('notifications:reprocess')) {
      const eligible = SETTLED.includes(m.status);
      const btn = h('button', { type: 'button', disabled: !eligible || polling, 'aria-describedby': eligible ? null : 'rp-why' }, 'Reprocess');
      btn.addEventListener('click', () => reprocess(btn));
      actions.append(btn);
      if (!eligible) actions.append(h('span', { id: 'rp-why', class: 'muted' }, ` Only failed or sent messages can be reprocessed; this one is ${m.status}.`));
    }
    const refresh = h('button', { type: 'button', class: 'secondary', onclick: () => { load(); announce('Refreshed'); } }, 'Refresh');
    actions.append(refresh);
  }

  async function reprocess(btn) {
    btn.disabled = true;
    try {
      const res = await call('POST', `/v1/messages/${encodeURIComponent(id)}/reprocess`);
      announce(`Reprocess requested; the message is ${res.status}. Waiting for the result.`);
      polling = true;
      pollUntil = Date.now() + POLL_FOR_MS;
      load();
    } catch (err) {
      error.replaceChildren(errorBox(err));
      btn.disabled = false;
    }
  }

  load();
  return () => { gone = true; clearTimeout(timer); };
}

function section(title, content) {
  const id = 'sec-' + title.toLowerCase().replace(/[^a-z]+/g, '-');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), content);
}

function fields(m) {
  const link = (name, value) => value ? h('a', { href: `#/messages?${name}=${encodeURIComponent(value)}`, class: 'mono' }, value) : h('span', { class: 'muted' }, '—');
  const rows = [
    ['Message id', h('span', { class: 'mono' }, m._id)],
    ['Status', badge(m.status)],
    ['Channel', m.type],
    ['Product', `${m.product_tag}${m.product_id ? ` (${m.product_id})` : ''}`],
    ['Env', m.env],
    ['Notification', m.notification || m.notification_tag],
    ['Triggered by', m.triggered_by],
    ['Process id', link('process_id', m.process_id)],
    ['Campaign id', m.campaign_id ? h('span', {}, link('campaign_id', m.campaign_id), ' ', h('a', { href: '#/jobs' }, '(jobs)')) : link('campaign_id', '')],
    ['Error code', m.error_code || '—'],
    ['Error', m.error || '—'],
    ['Attempts', String(m.attempts)],
    ['Retries allowed', String(m.retries)],
    ['Reprocessed', `${m.reprocess_count} ${m.reprocess_count === 1 ? 'time' : 'times'}`],
    ['Next attempt', m.next_attempt_at ? timeEl(m.next_attempt_at) : '—'],
    ['Session tag', m.session || '—'],
    ['Cache tag', m.cache || '—'],
    ['Created', timeEl(m.created_at)],
    ['Updated', timeEl(m.updated_at)],
  ];
  return h('dl', { class: 'fields' }, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

const OUTCOME = { sent: 'delivered', retry: 'retryable failure', failed: 'permanent failure' };

// timeline derives the status changes from the entry and its attempts:
// created (pending) → each attempt and what it led to → each reprocess
// (an attempt of a new generation) → the current status.
export function timeline(m, attempts) {
  // triggered_by says "reprocess" once a message was reprocessed.
  const via = m.reprocess_count === 0 ? ` via ${m.triggered_by}` : '';
  const items = [{ at: m.created_at, status: 'pending', text: `Created${via}; queued as pending` }];
  let gen = 0;
  let n = 0;
  let last = null;
  // A reprocess starts from failed or sent: a generation whose last
  // attempt was a retryable failure ended failed when its retries ran out.
  const ended = () => {
    if (last && last.outcome === 'retry') items.push({ at: last.attempted_at, status: 'failed', text: 'Failed: no retry left' });
  };
  for (const a of attempts) {
    const g = a.reprocess_generation || 0;
    if (g > gen) {
      ended();
      items.push({ status: 'reprocessing', text: `Reprocess #${g} requested; status reprocessing` });
      gen = g;
      n = 0;
    }
    n++;
    const answer = a.response_code ? `HTTP ${a.response_code}` : (a.error_code || 'no answer');
    const outcome = OUTCOME[a.outcome] || a.outcome || 'recorded';
    const status = a.outcome === 'sent' ? 'sent' : a.outcome === 'failed' ? 'failed' : null;
    items.push({ at: a.attempted_at, status, text: `Attempt ${n}${g ? ` of reprocess #${g}` : ''}: ${answer} in ${a.duration_ms} ms, ${outcome}${a.error ? ` (${a.error})` : ''}` });
    last = a;
  }
  if (m.reprocess_count > gen) {
    ended();
    items.push({ status: 'reprocessing', text: `Reprocess #${m.reprocess_count} requested; no attempt yet` });
  }
  const now = { at: m.updated_at, status: m.status, text: `Now ${m.status}`, current: true };
  if (m.error_code && m.status !== 'sent') now.text += ` (${m.error_code})`;
  if (m.status === 'pending' && m.next_attempt_at) now.text += `; next attempt at ${fmtTime(m.next_attempt_at)}`;
  items.push(now);
  return h('ol', { class: 'timeline' }, items.map((it) => h('li', { class: it.current ? 'current' : null },
    h('span', { class: 'dot ' + (it.status ? 'status-' + it.status : 'status-none') , 'aria-hidden': 'true' }),
    h('div', {}, it.at ? timeEl(it.at) : h('span', { class: 'muted' }, 'time not recorded'), ' ',
      it.status ? badge(it.status) : null, ' ', h('span', {}, it.text)))));
}

function attemptsTable(attempts) {
  if (attempts.length === 0) return h('p', { class: 'muted' }, 'No attempt yet.');
  const cell = (label, ...c) => h('td', { 'data-label': label }, h('div', {}, ...c));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'attempts responsive' },
    h('caption', { class: 'visually-hidden' }, 'Delivery attempts, oldest first'),
    h('thead', {}, h('tr', {}, ['#', 'When', 'Outcome', 'Response code', 'Duration', 'Error', 'Response body'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, attempts.map((a, i) => h('tr', {},
      cell('#', String(i + 1) + (a.reprocess_generation ? ` (reprocess #${a.reprocess_generation})` : '')),
      cell('When', timeEl(a.attempted_at)),
      cell('Outcome', badge(a.outcome || 'unknown', 'outcome')),
      cell('Response code', a.response_code ? String(a.response_code) : h('span', { class: 'muted' }, 'none')),
      cell('Duration', `${a.duration_ms} ms`),
      cell('Error', a.error_code || a.error ? [a.error_code ? h('strong', {}, a.error_code) : null, a.error ? ' ' + a.error : null] : h('span', { class: 'muted' }, '—')),
      cell('Response body', responseBody(a)),
    )))));
}

// responseBody shows a short body as it is and a long one folded.
function responseBody(a) {
  if (!a.response_body) return h('span', { class: 'muted' }, 'empty');
  const type = h('div', { class: 'muted small' }, `${a.response_content_type || 'unknown type'} · ${a.response_body.length} bytes`);
  if (a.response_body.length <= 300) return [type, h('pre', { class: 'body' }, a.response_body)];
  return h('details', {}, h('summary', {}, type.textContent), h('pre', { class: 'body' }, a.response_body));
}

function inputView(m) {
  const shown = redactInput(m.input);
  return h('div', {},
    h('p', { class: 'muted' }, 'As stored for reprocessing. Values of credential headers (Authorization, Cookie, X-Api-Key, …) and fields named like secrets are shown as [redacted]; a session is stored as its tag only, never its token.'),
    h('pre', { class: 'json', tabindex: '0', 'aria-label': 'Input JSON' }, JSON.stringify(shown, null, 2)));
}
