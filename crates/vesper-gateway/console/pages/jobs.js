// The tenant's jobs, newest first, a page at a time (`GET /api/jobs`), kept live by the
// status stream (`GET /api/events`): a row changes status in place; a new job appears on the
// first page without a reload.
import { h, fill, fmtTime, statusBadge } from '../lib/dom.js';
import { api, followEvents } from '../lib/api.js';

const STATUSES = ['', 'queued', 'processing', 'completed', 'failed', 'cancelled'];
const PAGE = 50;

export async function render(ctx, root) {
  const abort = new AbortController();
  let status = '';
  let cursors = [null]; // cursor of each page seen; the last is the current page's
  let rows = new Map(); // job_id → <tr>
  let refetch = null;

  const filter = h('select', { id: 'status-filter' }, STATUSES.map((s) => h('option', { value: s }, s || 'all')));
  const info = h('span', { class: 'muted', 'aria-live': 'polite' });
  const newer = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Newer');
  const older = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Older →');
  const tbody = h('tbody', {});
  const table = h('table', { 'aria-label': 'Jobs' },
    h('thead', {}, h('tr', {}, ['Job', 'Status', 'Priority', 'Type', 'Worker', 'Created', 'Finished'].map((t) => h('th', { scope: 'col' }, t)))),
    tbody);

  function row(j) {
    return h('tr', { dataset: { job: j.job_id } },
      h('td', {}, h('a', { href: `#/jobs/${j.job_id}`, class: 'mono' }, j.job_id)),
      h('td', { class: 'st' }, statusBadge(j.status)),
      h('td', {}, j.priority),
      h('td', {}, j.workload_type),
      h('td', { class: 'mono' }, j.worker_id || '—'),
      h('td', {}, fmtTime(j.created_at)),
      h('td', {}, fmtTime(j.completed_at)));
  }

  async function load() {
    const cursor = cursors[cursors.length - 1];
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (status) q.set('status', status);
    if (cursor) q.set('cursor', cursor);
    const t0 = performance.now();
    const page = await api('GET', `/api/jobs?${q}`, undefined, { signal: abort.signal });
    rows = new Map();
    fill(tbody, page.jobs.map((j) => { const r = row(j); rows.set(j.job_id, r); return r; }));
    if (!page.jobs.length) fill(tbody, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No jobs.')));
    older.disabled = !page.next_cursor;
    older.onclick = () => { cursors.push(page.next_cursor); load(); };
    newer.disabled = cursors.length === 1;
    info.textContent = `page ${cursors.length} · ${page.jobs.length} jobs · ${Math.round(performance.now() - t0)} ms`;
    root.dataset.loadedMs = String(Math.round(performance.now() - t0));
  }
  newer.onclick = () => { cursors.pop(); load(); };
  filter.addEventListener('change', () => { status = filter.value; cursors = [null]; load(); });

  function onStatus(ev) {
    const tr = rows.get(ev.job_id);
    if (tr) {
      fill(tr.querySelector('.st'), statusBadge(ev.status));
      if (status && ev.status !== status) scheduleRefetch();
    } else if (cursors.length === 1 && (!status || ev.status === status)) {
      scheduleRefetch();
    }
  }
  function scheduleRefetch() {
    if (refetch) return;
    refetch = setTimeout(() => { refetch = null; load().catch(() => {}); }, 250);
  }

  fill(root,
    h('h1', {}, 'Jobs'),
    h('div', { class: 'row' }, h('label', {}, 'Status', filter), newer, older, info),
    table);
  await load();
  followEvents('/api/events', onStatus, scheduleRefetch, abort.signal);
  return () => { abort.abort(); if (refetch) clearTimeout(refetch); };
}
