// The pool's workers (`GET /api/workers`): capabilities, load, reputation, liveness,
// re-read every 2 s while the page is open.
import { h, fill } from '../lib/dom.js';
import { api } from '../lib/api.js';

export async function render(ctx, root) {
  const tbody = h('tbody', {});
  const stamp = h('p', { class: 'muted', 'aria-live': 'off' });
  fill(root, h('h1', {}, 'Workers'), stamp,
    h('table', { 'aria-label': 'Workers' },
      h('thead', {}, h('tr', {}, ['Worker', 'Kind', 'Executors', 'Cores', 'Memory', 'Active', 'Done', 'Failed', 'Reputation', 'Alive', 'Last seen'].map((t) => h('th', { scope: 'col' }, t)))),
      tbody));
  async function load() {
    const { workers } = await api('GET', '/api/workers');
    const now = Date.now();
    fill(tbody, workers.map((w) => h('tr', {},
      h('td', { class: 'mono' }, w.name),
      h('td', {}, w.kind),
      h('td', {}, w.executors.join(', ') + (w.gpus.length ? ` · GPU ${w.gpus.join(', ')}` : '')),
      h('td', {}, w.cores || '—'),
      h('td', {}, w.memory_mb ? `${w.memory_mb} MB` : '—'),
      h('td', {}, w.active_leases),
      h('td', {}, w.completed),
      h('td', {}, w.failed),
      h('td', {}, String(w.reputation)),
      h('td', {}, w.connected === null ? 'lease-tracked' : (w.connected ? 'connected' : 'gone')),
      h('td', {}, `${Math.max(0, Math.round((now - w.last_seen_ms) / 1000))} s ago`))));
    if (!workers.length) fill(tbody, h('tr', {}, h('td', { colspan: 11, class: 'muted' }, 'No workers.')));
    stamp.textContent = `Updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 2000);
  return () => clearInterval(timer);
}
