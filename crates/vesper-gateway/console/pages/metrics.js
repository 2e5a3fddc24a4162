// Charts of the gateway's own metrics over the last minutes (`GET /api/metrics/series`,
// a sample every 2 s): jobs/s, queue depth, run-time percentiles, failures.
import { h, fill } from '../lib/dom.js';
import { api } from '../lib/api.js';
import { chartFigure } from '../lib/chart.js';

export async function render(ctx, root) {
  const grid = h('div', { class: 'charts' });
  const summary = h('p', { class: 'muted', 'data-testid': 'metrics-summary' });
  fill(root, h('h1', {}, 'Metrics'), summary, grid);
  async function load() {
    const { samples, interval_ms } = await api('GET', '/api/metrics/series');
    const pts = (fa, fb) => samples.map((x) => ({ t: x.t_ms, a: fa(x), b: fb ? fb(x) : null }));
    fill(grid,
      chartFigure('Jobs per second (blue: completed, red: submitted)', 'Jobs per second', pts((x) => x.completed_per_sec, (x) => x.submitted_per_sec), 'jobs/s'),
      chartFigure('Queue depth', 'Queue depth', pts((x) => x.queue_depth), 'jobs'),
      chartFigure('Run time, ms (blue: p50, red: p99)', 'Run time percentiles', pts((x) => x.run_ms_p50, (x) => x.run_ms_p99), 'ms'),
      chartFigure('Failures per second (blue: jobs, red: HTTP 5xx)', 'Failures per second', pts((x) => x.failed_per_sec, (x) => x.http_5xx_per_sec), 'per s'));
    const last = samples[samples.length - 1];
    summary.textContent = last
      ? `${samples.length} samples every ${interval_ms / 1000} s · now ${last.completed_per_sec.toFixed(1)} jobs/s completed, ${last.queue_depth} queued`
      : 'Collecting: the first sample comes within a few seconds.';
  }
  await load();
  const timer = setInterval(() => load().catch(() => {}), 2000);
  return () => clearInterval(timer);
}
