// jobs.js: dispatch jobs (GET /v1/jobs) with a status filter, cursor
// paging, and pause / resume / cancel for keys with jobs:write.
import { call } from './api.js';
import { h, set, announce, fmtNum, timeEl, badge, field, select, errorBox, modal, ago } from './dom.js';

const JOB_STATUSES = ['queued', 'active', 'paused', 'completed', 'cancelled'];

export function render(root, ctx) {
  const heading = h('h1', { tabindex: '-1' }, 'Jobs');
  root.append(heading);
  if (!ctx.can('jobs:read')) {
    root.append(h('p', { class: 'notice' }, 'This key lacks the jobs:read scope, so it cannot list jobs.'));
    return null;
  }
  const canWrite = ctx.can('jobs:write');
  let status = new URLSearchParams(location.hash.split('?')[1] || '').get('status') || '';
  if (!JOB_STATUSES.includes(status)) status = '';
  let stack = [''];
  let gone = false;

  const statusSel = select('j-status', 'status', [['', 'Any status'], ...JOB_STATUSES.map((s) => [s, s])], status);
  const form = h('form', { class: 'filters inline', 'aria-label': 'Job filters' },
    field('Status', statusSel), h('div', { class: 'form-actions' }, h('button', { type: 'submit' }, 'Apply')));
  const total = h('p', { class: 'total', 'aria-live': 'polite' }, 'Loading…');
  const error = h('div');
  const tbody = h('tbody');
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'jobs responsive' },
    h('caption', { class: 'visually-hidden' }, 'Dispatch jobs, newest first'),
    h('thead', {}, h('tr', {}, ['Job', 'Status', 'Schedule', 'Runs', 'Next run', 'Last run', 'Sends', canWrite ? 'Actions' : null]
      .filter(Boolean).map((c) => h('th', { scope: 'col' }, c)))),
    tbody));
  const prev = h('button', { type: 'button', class: 'secondary', onclick: () => { stack.pop(); load(); } }, '← Newer');
  const next = h('button', { type: 'button', class: 'secondary', onclick: () => { stack.push(next.dataset.cursor); load(); } }, 'Older →');
  const pageInfo = h('span', { class: 'page-info', tabindex: '-1' });
  root.append(form, total, h('p', { class: 'muted', hidden: canWrite }, 'This key lacks jobs:write: jobs are shown read-only.'),
    error, table, h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageInfo, next));

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    status = statusSel.value;
    stack = [''];
    history.replaceState(null, '', '#/jobs' + (status ? '?status=' + status : ''));
    load(true);
  });

  async function load(say) {
    let list;
    try {
      list = await call('GET', '/v1/jobs', { query: { status, limit: 20, cursor: stack[stack.length - 1] } });
    } catch (err) {
      if (!gone) error.replaceChildren(errorBox(err));
      return;
    }
    if (gone) return;
    error.replaceChildren();
    total.textContent = `${fmtNum(list.total)} ${list.total === 1 ? 'job' : 'jobs'}`;
    tbody.replaceChildren(...list.items.map(row));
    if (list.items.length === 0) tbody.append(h('tr', {}, h('td', { colspan: canWrite ? '8' : '7', class: 'empty' }, 'No job.')));
    const pages = Math.max(1, Math.ceil(list.total / (list.limit || 20)));
    pageInfo.textContent = `Page ${stack.length} of ${pages}`;
    prev.disabled = stack.length <= 1;
    next.disabled = !list.hasMore || !list.next_cursor;
    next.dataset.cursor = list.next_cursor || '';
    if (document.activeElement && document.activeElement.disabled) pageInfo.focus();
    if (say) announce(total.textContent);
  }

  function row(j) {
    const cell = (label, ...c) => h('td', { 'data-label': label }, h('div', {}, ...c));
    const tr = h('tr', { id: 'job-' + j.job_id });
    const fill = (j) => {
      set(tr,
        cell('Job', h('span', { class: 'mono' }, j.job_id), h('div', { class: 'muted small' }, `${j.product} · ${j.env} · ${j.notification || j.event || ''}`)),
        cell('Status', badge(j.status, 'job'), j.last_error ? h('div', { class: 'small err-code' }, j.last_error) : null),
        cell('Schedule', scheduleText(j.schedule)),
        cell('Runs', j.schedule && j.schedule.limit ? `${fmtNum(j.runs)} of ${fmtNum(j.schedule.limit)}` : fmtNum(j.runs)),
        cell('Next run', j.next_run_at ? [timeEl(j.next_run_at), h('div', { class: 'muted small' }, ago(j.next_run_at))] : h('span', { class: 'muted' }, '—')),
        cell('Last run', timeEl(j.last_run_at)),
        cell('Sends', h('a', { href: '#/messages?campaign_id=' + encodeURIComponent(j.job_id), 'aria-label': `Messages sent by job ${j.job_id}` }, 'Messages')),
        canWrite ? cell('Actions', actions(j)) : null);
    };
    const act = async (verb, method, path, btn) => {
      btn.disabled = true;
      try {
        const updated = await call(method, path);
        fill(updated);
        announce(`Job ${j.job_id} is now ${updated.status}`);
        tr.querySelector('.job-actions button:not([disabled])')?.focus();
      } catch (err) {
        error.replaceChildren(errorBox(err));
        btn.disabled = false;
      }
    };
    const actions = (j) => {
      const base = '/v1/jobs/' + encodeURIComponent(j.job_id);
      const live = j.status === 'queued' || j.status === 'active';
      const done = j.status === 'completed' || j.status === 'cancelled';
      const pause = h('button', { type: 'button', class: 'secondary', disabled: !live, 'aria-label': `Pause job ${j.job_id}` }, 'Pause');
      const resume = h('button', { type: 'button', class: 'secondary', disabled: j.status !== 'paused', 'aria-label': `Resume job ${j.job_id}` }, 'Resume');
      const cancel = h('button', { type: 'button', class: 'danger', disabled: done, 'aria-label': `Cancel job ${j.job_id}` }, 'Cancel');
      pause.addEventListener('click', () => act('pause', 'POST', base + '/pause', pause));
      resume.addEventListener('click', () => act('resume', 'POST', base + '/resume', resume));
      cancel.addEventListener('click', () => {
        const no = h('button', { type: 'button', class: 'secondary' }, 'Keep it');
        const yes = h('button', { type: 'button', class: 'danger' }, 'Cancel job');
        const dlg = modal('Cancel this job for good?', h('p', {}, `Job ${j.job_id} will never fire again; a cancelled job cannot be resumed.`), [no, yes]);
        no.focus();
        no.addEventListener('click', () => dlg.close());
        yes.addEventListener('click', () => { dlg.close(); act('cancel', 'DELETE', base, cancel); });
      });
      return h('div', { class: 'job-actions' }, pause, resume, cancel);
    };
    fill(j);
    return tr;
  }

  load();
  return () => { gone = true; };
}

function scheduleText(s) {
  if (!s) return '—';
  const parts = [];
  if (s.cron) parts.push(`cron ${s.cron} (${s.tz || 'UTC'})`);
  if (s.every) parts.push(`every ${everyText(s.every)}`);
  if (s.start_at) parts.push(`from ${new Date(s.start_at).toLocaleString()}`);
  if (s.endDate) parts.push(`until ${new Date(s.endDate).toLocaleString()}`);
  return parts.join(', ') || 'once';
}

function everyText(ms) {
  const units = [[86400000, 'd'], [3600000, 'h'], [60000, 'min'], [1000, 's']];
  for (const [n, u] of units) if (ms % n === 0) return `${ms / n} ${u}`;
  return `${ms} ms`;
}
