// overview.js: sent / failed / pending per channel over the last hour and
// the last day (exact totals of GET /v1/messages), queue lag and circuit
// breakers (GET /v1/overview, the caller's workspace only).
import { call } from './api.js';
import { h, fmtNum, timeEl, badge, errorBox, duration, CHANNELS } from './dom.js';

const REFRESH_MS = 15000;
const SERIES = ['sent', 'failed', 'pending'];
const WINDOWS = [{ id: 'hour', title: 'Last hour', ms: 3600e3 }, { id: 'day', title: 'Last 24 hours', ms: 86400e3 }];

export function render(root) {
  let gone = false;
  let timer = null;
  const updated = h('span', { class: 'muted' });
  const refresh = h('button', { type: 'button', class: 'secondary', onclick: () => load() }, 'Refresh');
  const error = h('div');
  const charts = h('div', { class: 'charts' });
  const queues = h('div');
  const breakers = h('div');
  root.append(h('h1', { tabindex: '-1' }, 'Overview'),
    h('div', { class: 'toolbar' }, updated, refresh), error, charts,
    h('section', { 'aria-labelledby': 'h-queues' }, h('h2', { id: 'h-queues' }, 'Queue lag'), queues),
    h('section', { 'aria-labelledby': 'h-breakers' }, h('h2', { id: 'h-breakers' }, 'Circuit breakers'), breakers));

  async function counts(win, now) {
    const start = new Date(now - win.ms).toISOString();
    const jobs = [];
    for (const ch of CHANNELS) for (const st of SERIES) {
      jobs.push(call('GET', '/v1/messages', { query: { type: ch, status: st, start_date: start, limit: 1 } }).then((r) => [ch, st, r.total]));
    }
    const out = {};
    for (const [ch, st, n] of await Promise.all(jobs)) (out[ch] ||= {})[st] = n;
    return { start, out };
  }

  async function load() {
    clearTimeout(timer);
    const now = Date.now();
    try {
      const [ov, ...wins] = await Promise.all([call('GET', '/v1/overview'), ...WINDOWS.map((w) => counts(w, now))]);
      if (gone) return;
      error.replaceChildren();
      charts.replaceChildren(...WINDOWS.map((w, i) => chart(w, wins[i])));
      queues.replaceChildren(queueTable(ov.queues));
      breakers.replaceChildren(breakerTable(ov));
      updated.replaceChildren('Updated ', timeEl(ov.generated_at), ` · refreshes every ${REFRESH_MS / 1000} s`);
    } catch (err) {
      if (gone) return;
      error.replaceChildren(errorBox(err));
    }
    timer = setTimeout(() => { if (!document.hidden) load(); else timer = setTimeout(load, REFRESH_MS); }, REFRESH_MS);
  }

  load();
  return () => { gone = true; clearTimeout(timer); };
}

// chart is a table of the counts with a stacked bar per channel: the
// numbers are the accessible form, the bars (aria-hidden) the picture.
function chart(win, { start, out }) {
  const max = Math.max(1, ...CHANNELS.map((ch) => SERIES.reduce((s, st) => s + out[ch][st], 0)));
  const id = 'chart-' + win.id;
  const link = (ch, st, n) => h('a', { href: `#/messages?type=${ch}&status=${st}&start_date=${encodeURIComponent(start)}`,
    'aria-label': `${fmtNum(n)} ${st} ${ch} messages, ${win.title.toLowerCase()}` }, fmtNum(n));
  return h('section', { class: 'chart', 'aria-labelledby': id },
    h('h2', { id }, win.title),
    h('table', { class: 'chart-table' },
      h('caption', { class: 'visually-hidden' }, `Messages per channel, ${win.title.toLowerCase()}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Channel'), SERIES.map((st) => h('th', { scope: 'col', class: 'num' }, st)),
        h('th', { scope: 'col', class: 'bar-col' }, h('span', { class: 'visually-hidden' }, 'Chart')))),
      h('tbody', {}, CHANNELS.map((ch) => {
        const bar = h('div', { class: 'bar', 'aria-hidden': 'true' });
        for (const st of SERIES) {
          const n = out[ch][st];
          if (!n) continue;
          const seg = h('span', { class: 'seg seg-' + st, title: `${n} ${st}` });
          seg.style.width = `${(100 * n) / max}%`; // CSSOM, allowed by the CSP
          bar.append(seg);
        }
        return h('tr', {}, h('th', { scope: 'row' }, ch),
          SERIES.map((st) => h('td', { class: 'num' }, out[ch][st] ? link(ch, st, out[ch][st]) : h('span', { class: 'muted' }, '0'))),
          h('td', { class: 'bar-col' }, bar));
      }))),
    h('p', { class: 'legend', 'aria-hidden': 'true' }, SERIES.map((st) => h('span', {}, h('span', { class: 'swatch seg-' + st }), st))));
}

function queueTable(queues) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'responsive' },
    h('caption', { class: 'visually-hidden' }, 'Messages waiting for delivery per channel'),
    h('thead', {}, h('tr', {}, ['Channel', 'Pending', 'Reprocessing', 'Oldest pending since', 'Lag'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, queues.map((q) => h('tr', {},
      h('td', { 'data-label': 'Channel' }, q.channel),
      h('td', { 'data-label': 'Pending' }, q.pending ? h('a', { href: `#/messages?type=${q.channel}&status=pending` }, fmtNum(q.pending)) : '0'),
      h('td', { 'data-label': 'Reprocessing' }, fmtNum(q.reprocessing)),
      h('td', { 'data-label': 'Oldest pending since' }, timeEl(q.oldest_pending_at)),
      h('td', { 'data-label': 'Lag' }, q.oldest_pending_at ? duration(q.lag_seconds) : h('span', { class: 'muted' }, 'none'))))),
    h('p', { class: 'muted small' }, 'Lag is the age of the oldest message of this workspace not yet delivered (queued, or waiting for a retry).')));
}

function breakerTable(ov) {
  if (!ov.breakers_reported) {
    return h('p', { class: 'notice' }, 'This process runs no worker, so it knows no breaker state. Each worker reports its breakers on /metrics (herald_worker_breaker_state).');
  }
  if (ov.breakers.length === 0) return h('p', { class: 'muted' }, 'No endpoint of this workspace has been delivered to since the worker started: every breaker is closed.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'responsive' },
    h('caption', { class: 'visually-hidden' }, 'Circuit breakers of this workspace'),
    h('thead', {}, h('tr', {}, ['Channel', 'Endpoint', 'State'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, ov.breakers.map((b) => h('tr', {},
      h('td', { 'data-label': 'Channel' }, b.channel),
      h('td', { 'data-label': 'Endpoint', class: 'mono' }, b.endpoint),
      h('td', { 'data-label': 'State' }, badge(b.state, 'breaker')))))));
}
