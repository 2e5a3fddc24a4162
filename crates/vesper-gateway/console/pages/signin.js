// Sign in with an API key (kept in this tab's memory only) or with an Ed25519 wallet
// (docs/AUTH.md §3): a key pair made here (private key non-extractable) or a 32-byte seed
// typed in. Every request is then signed in the browser; the gateway never sees the key.
import { h, fill, field, hex, toast } from '../lib/dom.js';

const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

async function walletFromKeyPair(privateKey, publicKey) {
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', publicKey));
  return { kind: 'wallet', walletId: `ed25519:${hex(raw)}`, privateKey };
}

export async function render(ctx, root) {
  const keyInput = h('input', { type: 'password', id: 'api-key', autocomplete: 'off', spellcheck: 'false', size: 72, 'aria-describedby': 'key-help' });
  const keyForm = h('form', { class: 'panel', 'aria-labelledby': 'key-h' },
    h('h2', { id: 'key-h' }, 'API key'),
    h('p', { id: 'key-help', class: 'muted' }, 'The key stays in this tab’s memory; reloading forgets it. `vesper dev` prints its dev key and writes it to .vesper/dev-api-key.'),
    h('div', { class: 'row' }, field('API key', keyInput), h('button', { type: 'submit' }, 'Sign in')));
  keyForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await ctx.signIn({ kind: 'key', key: keyInput.value.trim() });
      keyInput.value = '';
    } catch (e) {
      toast(`Sign-in refused: ${e.code}`, 'error');
    }
  });

  let generated = null;
  const walletOut = h('div', { 'aria-live': 'polite' });
  const genButton = h('button', { type: 'button', class: 'secondary', id: 'wallet-generate' }, 'Make a wallet in this browser');
  genButton.addEventListener('click', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']);
    generated = await walletFromKeyPair(pair.privateKey, pair.publicKey);
    fill(walletOut,
      h('p', {}, 'Wallet id (an operator maps it to a tenant: Operator page, or `vesper key add-wallet`):'),
      h('p', {}, h('code', { 'data-testid': 'wallet-id' }, generated.walletId)),
      h('button', { type: 'button', id: 'wallet-signin', onclick: async () => {
        try { await ctx.signIn(generated); } catch (e) { toast(`Sign-in refused: ${e.code}`, 'error'); }
      } }, 'Sign in with this wallet'));
  });
  const seedInput = h('input', { type: 'password', id: 'wallet-seed', autocomplete: 'off', size: 72, pattern: '[0-9a-f]{64}' });
  const seedForm = h('form', { class: 'row' }, field('Ed25519 seed (64 hex digits)', seedInput), h('button', { type: 'submit', class: 'secondary' }, 'Sign in with seed'));
  seedForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const s = seedInput.value.trim();
    if (!/^[0-9a-f]{64}$/.test(s)) return toast('A seed is 64 lowercase hex digits', 'error');
    const seed = new Uint8Array(s.match(/../g).map((x) => parseInt(x, 16)));
    const pkcs8 = new Uint8Array([...PKCS8_ED25519_PREFIX, ...seed]);
    seed.fill(0);
    const privateKey = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    pkcs8.fill(0);
    seedInput.value = '';
    // The public key, from the private one (JWK `x`), then the private key made non-extractable.
    const jwk = await crypto.subtle.exportKey('jwk', privateKey);
    const pub = Uint8Array.from(atob(jwk.x.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
    const sealed = await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']);
    try { await ctx.signIn({ kind: 'wallet', walletId: `ed25519:${hex(pub)}`, privateKey: sealed }); } catch (e) { toast(`Sign-in refused: ${e.code}`, 'error'); }
  });
  const walletPanel = h('section', { class: 'panel', 'aria-labelledby': 'wallet-h' },
    h('h2', { id: 'wallet-h' }, 'Wallet signature (Ed25519)'),
    h('p', { class: 'muted' }, 'Each request is signed in this browser (docs/AUTH.md §3).'),
    genButton, walletOut, seedForm);
  fill(root, h('h1', {}, 'Sign in'), keyForm, walletPanel);
  keyInput.focus();
}
