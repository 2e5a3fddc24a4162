// A small SVG line chart: no library, no inline style (the CSP forbids it).
import { h } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/**
 * A chart of one or two series over time. `points`: [{t, a, b?}] (b drawn in the second
 * colour). `label`: accessible description.
 */
export function lineChart(label, points, unit) {
  const W = 360, H = 160, L = 40, B = 18, T = 8;
  const ys = points.flatMap((p) => [p.a, p.b]).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1, ...ys) * 1.1;
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? points[points.length - 1].t : 1;
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - 4);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const path = (key) => points.filter((p) => p[key] !== null && p[key] !== undefined)
    .map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ');
  const last = points.length ? points[points.length - 1] : null;
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${label}; latest ${last && last.a !== null ? last.a.toFixed(2) : 'none'} ${unit}` },
    s('line', { x1: L, y1: H - B, x2: W, y2: H - B, stroke: '#d0d7de' }),
    s('text', { x: 2, y: T + 8 }, `${max.toFixed(max < 10 ? 1 : 0)}`),
    s('text', { x: 2, y: H - B }, '0'),
    s('text', { x: L, y: H - 4 }, points.length ? `${Math.round((t1 - t0) / 1000)} s` : 'no data yet'),
    s('path', { class: 'line', d: path('a') || 'M0,0' }),
    s('path', { class: 'line2', d: path('b') || 'M0,0' }));
  return svg;
}

export function chartFigure(title, label, points, unit) {
  return h('figure', {}, h('figcaption', {}, title), lineChart(label, points, unit));
}
