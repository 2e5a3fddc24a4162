// The console's shell: sign-in gate, menu, hash routing (`#/jobs`, `#/jobs/<id>`, ...), and
// the session state the pages share. Pages are modules in pages/ listed in pages/index.js;
// each exports `render(ctx, root, params)` and may return a cleanup function.
import { PAGES } from './pages/index.js';
import { h, fill, toast } from './lib/dom.js';
import { api, setCredential, hasCredential, credentialKind } from './lib/api.js';

/** What the pages share for this tab: who we are, and the jobs this tab sealed. */
export const session = {
  whoami: null,
  /** job_id → {clientKey: CryptoKeyPair, payloadDigest: Uint8Array, programId, workloadType} */
  sealed: new Map(),
  /** program ids uploaded from this tab, for the submit page's picker */
  programs: [],
};

let cleanup = null;

export async function signIn(credential) {
  setCredential(credential);
  try {
    session.whoami = await api('GET', '/api/whoami');
  } catch (e) {
    setCredential(null);
    session.whoami = null;
    throw e;
  }
  renderIdentity();
  if (!location.hash || location.hash === '#/signin') location.hash = '#/jobs';
  else route();
}

export function signOut() {
  setCredential(null);
  session.whoami = null;
  session.sealed.clear();
  renderIdentity();
  location.hash = '#/signin';
  route();
}

export function can(scope) {
  return !!session.whoami && session.whoami.scopes.includes(scope);
}

function renderIdentity() {
  const box = document.getElementById('identity');
  if (!session.whoami) return fill(box, 'Not signed in');
  const w = session.whoami;
  fill(box,
    h('span', { 'data-testid': 'whoami' }, `Tenant ${w.tenant} · scopes ${w.scopes.join(', ')} · ${credentialKind() === 'wallet' ? 'wallet' : 'API key'}`),
    h('button', { class: 'secondary', type: 'button', onclick: signOut }, 'Sign out'));
}

function renderNav(current) {
  const items = PAGES.filter((p) => p.nav !== false && can(p.scope)).map((p) =>
    h('li', {}, h('a', { href: `#/${p.id}`, 'aria-current': p.id === current ? 'page' : null }, p.title)));
  fill(document.getElementById('nav'), items);
}

async function route() {
  if (cleanup) { try { cleanup(); } catch { /* page already gone */ } cleanup = null; }
  const main = document.getElementById('main');
  const parts = (location.hash.replace(/^#\/?/, '') || 'jobs').split('/').map(decodeURIComponent);
  if (!hasCredential() || parts[0] === 'signin') {
    renderNav(null);
    const m = await import('./pages/signin.js');
    cleanup = await m.render({ session, signIn }, fill(main));
    document.title = 'Sign in · Vesper console';
    return;
  }
  // `#/jobs/<id>` is the job page.
  const id = parts[0] === 'jobs' && parts[1] ? 'job' : parts[0];
  const page = PAGES.find((p) => p.id === id) || PAGES[0];
  renderNav(page.id === 'job' ? 'jobs' : page.id);
  document.title = `${page.title} · Vesper console`;
  if (!can(page.scope)) {
    fill(main, h('h1', {}, page.title), h('p', {}, `This page needs the ${page.scope} scope.`));
    return;
  }
  try {
    const m = await page.load();
    cleanup = (await m.render({ session, can, signOut }, fill(main), parts.slice(1))) || null;
  } catch (e) {
    toast(`${e.code || 'error'}: ${e.message}`, 'error');
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (ev) => {
  const e = ev.reason || {};
  toast(`${e.code || 'error'}: ${e.message || e}`, 'error');
});
renderIdentity();
route();
