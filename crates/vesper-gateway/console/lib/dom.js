// Building the page: elements from data, never from HTML strings (no innerHTML anywhere),
// so nothing a job, a tenant or a server says can become markup.

/** h('a', {href: '#/jobs', class: 'x'}, 'text', child) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A short message at the bottom right; errors stay longer. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toast');
  const p = h('p', { class: kind === 'error' ? 'error' : '' }, message);
  box.append(p);
  setTimeout(() => p.remove(), kind === 'error' ? 8000 : 4000);
}

/** RFC 3339 → local time with milliseconds, or an em dash. */
export function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

/** Milliseconds between two RFC 3339 times, or null. */
export function msBetween(a, b) {
  if (!a || !b) return null;
  return new Date(b).getTime() - new Date(a).getTime();
}

export function statusBadge(status) {
  return h('span', { class: `status status-${status}` }, status);
}

/** A labelled form field. */
export function field(label, input) {
  return h('label', {}, label, input);
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
