// Operator pages (admin scope): tenants with their quotas and rate limits, create a tenant,
// create an API key (shown once), revoke a key, map and unmap wallets, disable/enable.
import { h, fill, field, toast } from '../lib/dom.js';
import { api } from '../lib/api.js';

const fmt = (v) => (v === null || v === undefined ? 'default' : String(v));

export async function render(ctx, root) {
  const tbody = h('tbody', {});
  const secret = h('div', { 'aria-live': 'polite' });
  const tenantSelect = h('select', { id: 'key-tenant' });
  const walletTenant = h('select', { id: 'wallet-tenant' });
  const revokeTenant = h('select', { id: 'revoke-tenant' });
  const settingsTenant = h('select', { id: 'settings-tenant' });
  const SETTINGS = [['weight', 'Weight (1–1000)'], ['max_queued', 'Max queued'], ['jobs_per_day', 'Jobs per day'],
    ['max_payload_bytes', 'Max payload bytes'], ['max_fuel', 'Max fuel per job'], ['rate_per_sec', 'Requests/s'], ['burst', 'Burst']];
  const inputs = Object.fromEntries(SETTINGS.map(([k]) => [k, h('input', { id: `set-${k}`, type: 'number', min: 1, placeholder: 'default' })]));
  let tenantsByName = new Map();
  function prefill() {
    const t = tenantsByName.get(settingsTenant.value);
    if (!t) return;
    for (const [k] of SETTINGS) inputs[k].value = t[k] === null || t[k] === undefined ? '' : String(t[k]);
  }
  settingsTenant.addEventListener('change', prefill);

  async function load() {
    const { tenants } = await api('GET', '/api/admin/tenants');
    fill(tbody, tenants.map((t) => h('tr', { dataset: { tenant: t.name } },
      h('td', {}, t.name),
      h('td', {}, t.disabled ? h('span', { class: 'bad' }, 'disabled') : h('span', { class: 'ok' }, 'active')),
      h('td', {}, t.queued),
      h('td', {}, t.weight),
      h('td', {}, fmt(t.max_queued)),
      h('td', {}, fmt(t.jobs_per_day)),
      h('td', {}, fmt(t.max_fuel)),
      h('td', {}, `${fmt(t.rate_per_sec)} / ${fmt(t.burst)}`),
      h('td', {}, h('button', { type: 'button', class: 'secondary', onclick: async () => {
        await api('POST', `/api/admin/tenants/${encodeURIComponent(t.name)}/${t.disabled ? 'enable' : 'disable'}`);
        toast(`Tenant ${t.name} ${t.disabled ? 'enabled' : 'disabled'}`);
        load();
      } }, t.disabled ? 'Enable' : 'Disable')))));
    tenantsByName = new Map(tenants.map((t) => [t.name, t]));
    for (const sel of [tenantSelect, walletTenant, revokeTenant, settingsTenant]) {
      const keep = sel.value;
      fill(sel, tenants.map((t) => h('option', { value: t.name }, t.name)));
      if (keep) sel.value = keep;
    }
    prefill();
  }

  const nameInput = h('input', { id: 'tenant-name', pattern: '[A-Za-z0-9._-]{1,64}', required: true });
  const createTenant = h('form', { class: 'row' }, field('New tenant name', nameInput), h('button', { type: 'submit' }, 'Create tenant'));
  createTenant.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const t = await api('POST', '/api/admin/tenants', { name: nameInput.value });
      toast(`Tenant ${t.name} created`);
      nameInput.value = '';
      await load();
      tenantSelect.value = t.name;
    } catch (e) { toast(`${e.code}: ${e.message}`, 'error'); }
  });

  const settingsForm = h('form', {},
    h('div', { class: 'row' }, field('Tenant', settingsTenant), SETTINGS.map(([k, label]) => field(label, inputs[k]))),
    h('button', { type: 'submit', id: 'save-settings' }, 'Save settings'));
  settingsForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const [k] of SETTINGS) body[k] = inputs[k].value === '' ? null : Number(inputs[k].value);
    if (body.weight === null) body.weight = 1;
    try {
      const t = await api('PUT', `/api/admin/tenants/${encodeURIComponent(settingsTenant.value)}/settings`, body);
      toast(`Settings of ${t.name} saved`);
      await load();
    } catch (e) { toast(`${e.code}: ${e.message}`, 'error'); }
  });

  const scopes = h('select', { id: 'key-scopes' }, ['submit,read', 'read', 'submit', 'submit,read,admin'].map((s) => h('option', { value: s }, s)));
  const createKey = h('form', { class: 'row' }, field('Tenant', tenantSelect), field('Scopes', scopes), h('button', { type: 'submit' }, 'Create API key'));
  createKey.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const k = await api('POST', `/api/admin/tenants/${encodeURIComponent(tenantSelect.value)}/keys`, { scopes: scopes.value });
      fill(secret, h('div', { class: 'secret' },
        h('p', {}, `New key for ${k.tenant} (${k.scopes}), id ${k.key_id}. Copy it now: it is not shown again.`),
        h('code', { 'data-testid': 'new-key' }, k.key)));
    } catch (e) { toast(`${e.code}: ${e.message}`, 'error'); }
  });

  const keyId = h('input', { id: 'revoke-key-id', pattern: '[0-9a-f]{12,64}', required: true });
  const revoke = h('form', { class: 'row' }, field('Tenant', revokeTenant), field('Key id', keyId), h('button', { type: 'submit', class: 'secondary' }, 'Revoke key'));
  revoke.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await api('DELETE', `/api/admin/tenants/${encodeURIComponent(revokeTenant.value)}/keys/${encodeURIComponent(keyId.value)}`);
      toast(`Revoked ${r.revoked} key(s)`);
      keyId.value = '';
    } catch (e) { toast(`${e.code}: ${e.message}`, 'error'); }
  });

  const walletId = h('input', { id: 'wallet-id', size: 72, required: true });
  const addWallet = h('form', { class: 'row' }, field('Tenant', walletTenant), field('Wallet (ed25519:… or eip191:0x…)', walletId), h('button', { type: 'submit' }, 'Map wallet'));
  addWallet.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const w = await api('POST', `/api/admin/tenants/${encodeURIComponent(walletTenant.value)}/wallets`, { wallet: walletId.value.trim() });
      toast(`Wallet ${w.wallet} signs for ${w.tenant}`);
    } catch (e) { toast(`${e.code}: ${e.message}`, 'error'); }
  });
  const removeWallet = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      await api('DELETE', `/api/admin/wallets/${encodeURIComponent(walletId.value.trim())}`);
      toast('Wallet removed');
    } catch (e) { toast(`${e.code}: ${e.message}`, 'error'); }
  } }, 'Remove wallet');

  fill(root,
    h('h1', {}, 'Operator'),
    h('h2', {}, 'Tenants'),
    h('table', { 'aria-label': 'Tenants' },
      h('thead', {}, h('tr', {}, ['Tenant', 'State', 'Queued', 'Weight', 'Max queued', 'Jobs/day', 'Max fuel', 'Rate/s / burst', ''].map((t) => h('th', { scope: 'col' }, t)))),
      tbody),
    h('section', { class: 'panel', 'aria-labelledby': 'ops-tenant' }, h('h2', { id: 'ops-tenant' }, 'Create a tenant'), createTenant),
    h('section', { class: 'panel', 'aria-labelledby': 'ops-settings' }, h('h2', { id: 'ops-settings' }, 'Weight, quotas and rate limit'),
      h('p', { class: 'muted' }, 'Empty means the gateway’s default. Takes effect within 5 s.'), settingsForm),
    h('section', { class: 'panel', 'aria-labelledby': 'ops-keys' }, h('h2', { id: 'ops-keys' }, 'API keys'), createKey, secret, revoke),
    h('section', { class: 'panel', 'aria-labelledby': 'ops-wallets' }, h('h2', { id: 'ops-wallets' }, 'Wallets'), addWallet, removeWallet),
    h('p', { class: 'muted' }, '“default” means the gateway’s default applies.'));
  await load();
}
