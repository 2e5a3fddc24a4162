// Submit a job sealed in this browser: the workload (module and input) is encrypted here with
// HPKE to the pool key (docs/ENVELOPE.md) and only ciphertext is sent. The result will be
// sealed to this tab's X25519 key, generated here as a non-extractable WebCrypto key unless
// the user asks for an exportable one.
import { h, fill, field, toast } from '../lib/dom.js';
import { api } from '../lib/api.js';
import * as sdk from '../vendor/vesper-sdk.js';

/** This tab's result key: made on first use. */
export async function tabIdentity(session, exportable = false) {
  if (!session.identity || (exportable && !session.identity.extractable)) {
    session.identity = await sdk.ClientIdentity.generate({ extractable: exportable });
  }
  return session.identity;
}

/** The current pool key, from the signed key list. */
export async function poolKey() {
  const keys = sdk.verifyKeys(await api('GET', '/api/keys'));
  return { keys, pool: sdk.currentPoolKey(keys) };
}

export async function render(ctx, root) {
  const { session } = ctx;
  const file = h('input', { type: 'file', id: 'module-file', accept: '.wasm,application/wasm' });
  const how = h('select', { id: 'program-mode' },
    h('option', { value: 'register' }, 'Register the module (its hash is public), run by id'),
    h('option', { value: 'inline' }, 'Send the module inside the sealed payload (secret program)'),
    h('option', { value: 'id' }, 'Run a registered program by id'));
  const programId = h('input', { id: 'program-id', size: 70, pattern: '[0-9a-f]{64}', list: 'known-programs', placeholder: '64 hex digits' });
  const known = h('datalist', { id: 'known-programs' }, session.programs.map((p) => h('option', { value: p })));
  const input = h('textarea', { id: 'job-input', rows: 5, spellcheck: 'false' });
  const type = h('select', { id: 'workload-type' }, ['general', 'ai_inference', 'pos_validation'].map((t) => h('option', { value: t }, t)));
  const priority = h('input', { id: 'priority', type: 'number', min: 1, max: 10, value: 5 });
  const exportable = h('input', { id: 'exportable', type: 'checkbox' });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', id: 'submit-job' }, 'Seal and submit');

  const form = h('form', { class: 'panel', 'aria-labelledby': 'submit-h' },
    h('h2', { id: 'submit-h' }, 'Workload'),
    h('div', { class: 'row' }, field('WebAssembly module (.wasm)', file), field('How to send it', how)),
    h('div', { class: 'row' }, field('Program id', programId), known),
    field('Input (the program’s stdin)', input),
    h('div', { class: 'row' }, field('Workload type', type), field('Priority (1–10)', priority),
      h('label', {}, h('span', {}, 'Result key exportable'), exportable)),
    h('p', { class: 'muted' }, 'Encrypted in this browser to the pool key; the gateway stores ciphertext only. The result comes back sealed to a key that never leaves this tab (unless you tick “exportable”).'),
    button, out);

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    try {
      const { pool } = await poolKey();
      const identity = await tabIdentity(session, exportable.checked);
      let program;
      if (how.value === 'id') {
        program = { programId: programId.value.trim() };
      } else {
        if (!file.files.length) throw Object.assign(new Error('choose a .wasm file'), { code: 'no_module' });
        const bytes = new Uint8Array(await file.files[0].arrayBuffer());
        if (how.value === 'inline') program = { inline: bytes };
        else {
          const r = await api('POST', '/api/programs', bytes);
          if (!session.programs.includes(r.program_id)) session.programs.push(r.program_id);
          program = { programId: r.program_id };
        }
      }
      const sealed = await sdk.sealJob({
        poolPublicKey: pool.publicKey,
        clientPublicKey: identity.publicKey,
        program,
        input: new TextEncoder().encode(input.value),
        workloadType: type.value,
        priority: Number(priority.value),
      });
      input.value = '';
      const r = await api('POST', '/api/submit', sealed.request);
      session.sealed.set(r.job_id, { identity, facts: sdk.jobFacts(sealed, r.job_id) });
      toast(`Submitted job ${r.job_id}`);
      location.hash = `#/jobs/${r.job_id}`;
    } catch (e) {
      fill(out, h('p', { class: 'bad' }, `${e.code || 'error'}: ${e.message}`));
    } finally {
      button.disabled = false;
    }
  });
  fill(root, h('h1', {}, 'Submit a job'), form);
}
