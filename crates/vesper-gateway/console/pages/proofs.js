// The proof gateway (docs/DSL.md): pick a rule template, edit the document with live
// validation (every error with its JSON path), deploy it (compile, Groth16 keys, register),
// try a proof with an example request, and verify the proof the gateway returned.
//
// Proving here uses the plaintext form (`POST /api/prove`): the gateway sees the private
// inputs for the time of the request (docs/DSL.md §9). The templates are the repository's
// templates/*.json, served by the console at /console/templates/NAME.json.
import { h, fill, field, toast } from '../lib/dom.js';
import { api, consoleFile } from '../lib/api.js';

/** Milliseconds of quiet typing before the document is validated. */
const DEBOUNCE_MS = 300;

const FIELD = '<field element: decimal, or 0x + hex>';

/**
 * The templates, in gallery order, with an example request each. `needs`: what the example
 * cannot supply (a Merkle path from whoever publishes the tree): the example is then the
 * request's shape, with placeholders to replace.
 */
const TEMPLATES = [
  {
    name: 'age_verification',
    example: { private_inputs: { user_data: { date_of_birth: '1990-01-01' } }, public_params: { min_age: 18 } },
  },
  {
    name: 'income_threshold',
    example: { private_inputs: { financial: { annual_income: '75000.50' } }, public_params: { min_income: '50000.00' } },
  },
  {
    name: 'credit_score_range',
    example: { private_inputs: { credit: { score: 720 } }, public_params: { min_score: 650, max_score: 850 } },
  },
  {
    name: 'country_allowed',
    needs: 'the country’s authentication path in the allow-list tree (8 siblings, bottom-up) and the tree’s root, from whoever publishes the list',
    example: {
      private_inputs: { identity: { country: 'DE', country_path: { siblings: Array(8).fill(FIELD), index: 0 } } },
      public_params: { allowed_countries_root: FIELD },
    },
  },
  {
    name: 'kyc_credential',
    needs: 'the credential (subject id, date of birth, salt) and its authentication path in the issuer’s tree (16 siblings, bottom-up) with the tree’s root, from the issuer',
    example: {
      private_inputs: {
        credential: {
          subject_id: '<subject id, as issued>',
          date_of_birth: '1990-01-01',
          salt: FIELD,
          path: { siblings: Array(16).fill(FIELD), index: 0 },
        },
      },
      public_params: { issuer_root: FIELD, min_age: 18 },
    },
  },
];

/** The seed's default customer id. */
const defaultCustomerId = (useCase) => `customer-${useCase || 'program'}-${Math.floor(Date.now() / 1000)}`;

/** `abcd…wxyz (N bytes)` for a long hex string. */
function shortHex(hexText) {
  if (hexText.length <= 40) return hexText;
  return `${hexText.slice(0, 16)}…${hexText.slice(-16)} (${hexText.length / 2} bytes)`;
}

function errorText(e) {
  return `${e.code || 'error'}: ${e.message}`;
}

function jsonError(e) {
  return `Not valid JSON: ${e.message}`;
}

export async function render(ctx, root) {
  const abort = new AbortController();
  let timer = null;
  let validating = null; // AbortController of the validation in flight
  let seq = 0;
  const texts = new Map(); // template name → its file's text
  let customerTouched = false;
  let deployment = null; // the last deploy's answer
  let proved = null; // the last successful prove's answer

  // 1. Gallery.
  const gallery = h('ul', { class: 'gallery', 'aria-label': 'Rule templates' });

  // 2. Editor.
  const editor = h('textarea', { id: 'dsl-editor', class: 'code', rows: 24, wrap: 'off', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'dsl-status' });
  const status = h('p', { id: 'dsl-status', 'data-testid': 'dsl-status', class: 'muted' }, 'Pick a template, or write a document.');
  const errorList = h('ul', { class: 'errors', 'data-testid': 'dsl-errors', 'aria-label': 'Errors in the document' });

  // 3. Deploy.
  const customerId = h('input', { id: 'customer-id', size: 48, pattern: '[A-Za-z0-9._-]{1,128}', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'customer-help' });
  const deployButton = h('button', { type: 'submit', id: 'deploy', disabled: true }, 'Deploy');
  const deployOut = h('div', { 'aria-live': 'polite', 'data-testid': 'deploy-result' });

  // 4. Try a proof; 5. verify it.
  const request = h('textarea', { id: 'prove-request', class: 'code', rows: 12, wrap: 'off', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'prove-help' });
  const proveNote = h('div', { id: 'prove-help' });
  const proveButton = h('button', { type: 'submit', id: 'prove', disabled: true }, 'Prove');
  const proveHint = h('p', { class: 'muted', 'data-testid': 'prove-target' }, 'Deploy a document first.');
  const proveOut = h('div', { 'aria-live': 'polite', 'data-testid': 'prove-result' });
  const verifyButton = h('button', { type: 'button', id: 'verify-proof', class: 'secondary', disabled: true }, 'Verify this proof');
  const verifyOut = h('div', { 'aria-live': 'polite', 'data-testid': 'verify-result' });

  function setStatus(text, cls) {
    status.className = cls;
    status.textContent = text;
  }

  function showErrors(errors) {
    fill(errorList, errors.map((e) => h('li', { dataset: { path: e.path } }, h('code', {}, e.path || '(document)'), ': ', e.message)));
  }

  /** Validate the editor's text now: locally as JSON, then by the gateway. */
  async function validate() {
    const n = ++seq;
    if (validating) validating.abort();
    validating = null;
    let dsl;
    try {
      dsl = JSON.parse(editor.value);
    } catch (e) {
      setStatus(jsonError(e), 'bad');
      showErrors([]);
      deployButton.disabled = true;
      return;
    }
    const ctl = new AbortController();
    validating = ctl;
    setStatus('Checking…', 'muted');
    try {
      const r = await api('POST', '/api/validate', { dsl }, { signal: ctl.signal });
      if (n !== seq) return;
      showErrors(r.errors);
      if (r.valid) {
        setStatus('The document is valid.', 'ok');
        if (!customerTouched && dsl && typeof dsl.use_case === 'string' && !customerId.value.startsWith(`customer-${dsl.use_case}-`)) {
          customerId.value = defaultCustomerId(dsl.use_case);
        }
      } else {
        setStatus(`${r.errors.length} ${r.errors.length === 1 ? 'error' : 'errors'} in the document:`, 'bad');
      }
      deployButton.disabled = !r.valid;
    } catch (e) {
      if (ctl.signal.aborted || n !== seq) return;
      setStatus(`Could not check the document: ${errorText(e)}`, 'bad');
      deployButton.disabled = false; // the gateway checks again on deploy
    } finally {
      if (validating === ctl) validating = null;
    }
  }

  function scheduleValidate() {
    clearTimeout(timer);
    timer = setTimeout(validate, DEBOUNCE_MS);
  }
  editor.addEventListener('input', scheduleValidate);
  customerId.addEventListener('input', () => { customerTouched = true; });

  function describeRequest(t) {
    if (!t) {
      fill(proveNote, h('p', { class: 'muted' }, 'The request’s private_inputs and public_params, as JSON. Omitted public values with a default (today) are filled in by the prover.'));
    } else if (t.needs) {
      fill(proveNote, h('p', { class: 'warn', 'data-testid': 'prove-shape-note' },
        `This is the shape of a ${t.name} request, not a working example: it needs ${t.needs}. Replace the placeholders before proving.`));
    } else {
      fill(proveNote, h('p', { class: 'muted' }, `An example ${t.name} request; edit it to try other values. Omitted public values with a default (today) are filled in by the prover.`));
    }
  }

  function clearProof() {
    proved = null;
    verifyButton.disabled = true;
    fill(proveOut);
    fill(verifyOut);
  }

  async function choose(t) {
    let text = texts.get(t.name);
    try {
      text ??= await consoleFile(`templates/${t.name}.json`, { signal: abort.signal });
    } catch (e) {
      if (!abort.signal.aborted) toast(errorText(e), 'error');
      return;
    }
    for (const b of gallery.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.template === t.name));
    editor.value = text.trimEnd() + '\n';
    customerTouched = false;
    customerId.value = defaultCustomerId(t.name);
    request.value = JSON.stringify(t.example, null, 2);
    describeRequest(t);
    clearProof();
    clearTimeout(timer);
    await validate();
  }

  // The gallery: each template's own description.
  const cards = await Promise.all(TEMPLATES.map(async (t) => {
    let doc = {};
    try {
      const text = await consoleFile(`templates/${t.name}.json`, { signal: abort.signal });
      texts.set(t.name, text);
      doc = JSON.parse(text);
    } catch { /* shown without its description; choosing it tries again */ }
    const rules = Array.isArray(doc.validation_rules) ? doc.validation_rules.length : 0;
    const params = doc.public_params ? Object.keys(doc.public_params) : [];
    return h('li', {},
      h('h3', { id: `tpl-${t.name}` }, t.name),
      h('p', {}, doc.description || ''),
      h('p', { class: 'muted' }, `${rules} ${rules === 1 ? 'rule' : 'rules'} · public: ${params.join(', ') || 'none'}`),
      h('button', { type: 'button', class: 'secondary', id: `template-${t.name}`, 'aria-pressed': 'false', 'aria-describedby': `tpl-${t.name}`, dataset: { template: t.name }, onclick: () => choose(t) }, 'Use this template'));
  }));
  fill(gallery, cards);

  const deployForm = h('form', { 'aria-labelledby': 'deploy-h' },
    h('div', { class: 'row' }, field('Customer id', customerId), deployButton),
    h('p', { id: 'customer-help', class: 'muted' }, 'The name requests are proved under (1–128 of A–Z a–z 0–9 . _ -). Deploying again under the same id makes a new version with new keys.'),
    deployOut);
  deployForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let dsl;
    try {
      dsl = JSON.parse(editor.value);
    } catch (e) {
      fill(deployOut, h('p', { class: 'bad' }, jsonError(e)));
      return;
    }
    deployButton.disabled = true;
    fill(deployOut, h('p', { class: 'muted' }, 'Compiling and making keys…'));
    try {
      const body = { dsl };
      if (customerId.value.trim()) body.customer_id = customerId.value.trim();
      const d = await api('POST', '/api/deploy', body);
      deployment = d;
      customerId.value = d.customer_id;
      fill(deployOut,
        h('p', { class: 'ok', 'data-testid': 'deploy-verdict' }, `Deployed ${d.customer_id}, version ${d.version}.`),
        h('dl', { class: 'facts', 'data-testid': 'deployment' },
          h('dt', {}, 'Customer id'), h('dd', { class: 'mono', 'data-testid': 'deployed-customer-id' }, d.customer_id),
          h('dt', {}, 'Image id'), h('dd', { class: 'mono', 'data-testid': 'image-id' }, d.image_id),
          h('dt', {}, 'Version'), h('dd', { 'data-testid': 'version' }, d.version),
          h('dt', {}, 'API endpoint'), h('dd', { class: 'mono', 'data-testid': 'api-endpoint' }, d.api_endpoint),
          h('dt', {}, 'Constraints'), h('dd', { 'data-testid': 'constraints' }, d.constraints)));
      proveButton.disabled = false;
      fill(proveHint, 'Proving with ', h('code', {}, d.customer_id), `, version ${d.version}.`);
      clearProof();
    } catch (e) {
      fill(deployOut, h('p', { class: 'bad' }, errorText(e)));
    } finally {
      deployButton.disabled = false;
    }
  });

  const proveForm = h('form', { 'aria-labelledby': 'prove-h' },
    field('Request (JSON: private_inputs, public_params)', request), proveNote,
    h('div', { class: 'row' }, proveButton, h('span', { class: 'muted' }, 'Proved by a worker as a job; the gateway sees these values for the time of the request.')),
    proveOut);
  proveForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!deployment) return;
    let req;
    try {
      req = JSON.parse(request.value);
    } catch (e) {
      fill(proveOut, h('p', { class: 'bad' }, jsonError(e)));
      return;
    }
    if (!req || typeof req !== 'object' || Array.isArray(req)) {
      fill(proveOut, h('p', { class: 'bad' }, 'The request is a JSON object with private_inputs and public_params.'));
      return;
    }
    clearProof();
    proveButton.disabled = true;
    fill(proveOut, h('p', { class: 'muted' }, 'Proving…'));
    try {
      const body = { customer_id: deployment.customer_id, private_inputs: req.private_inputs ?? {}, public_params: req.public_params ?? {} };
      if (req.binding !== undefined) body.binding = req.binding;
      const r = await api('POST', '/api/prove', body);
      if (r.success) {
        proved = r;
        const outputs = Object.entries(r.outputs || {});
        fill(proveOut,
          h('p', { class: 'ok', 'data-testid': 'prove-verdict' }, 'success: true — a proof was made.'),
          h('dl', { class: 'facts', 'data-testid': 'outputs', 'aria-label': 'Outputs' },
            outputs.map(([k, v]) => [h('dt', {}, k), h('dd', { class: v === true ? 'ok' : 'bad', 'data-testid': `output-${k}` }, String(v))])),
          h('dl', { class: 'facts' },
            h('dt', {}, 'Proof'), h('dd', { class: 'mono', 'data-testid': 'proof-short' }, shortHex(r.proof || '')),
            h('dt', {}, 'Image id'), h('dd', { class: 'mono' }, r.image_id),
            r.today ? [h('dt', {}, 'Today (public)'), h('dd', {}, r.today)] : null,
            h('dt', {}, 'Public inputs'), h('dd', {}, h('ol', { class: 'plain mono', 'data-testid': 'public-inputs' }, (r.public_inputs || []).map((x) => h('li', {}, shortHex(x))))),
            h('dt', {}, 'Job'), h('dd', { class: 'mono' }, h('a', { href: `#/jobs/${r.job_id}` }, r.job_id))),
          h('details', {}, h('summary', {}, 'The full proof (hex)'), h('code', { 'data-testid': 'proof-hex' }, r.proof || '')));
        verifyButton.disabled = false;
      } else if (r.failed_rule) {
        fill(proveOut,
          h('p', { class: 'bad', 'data-testid': 'prove-verdict' }, 'success: false — the rule ',
            h('code', { 'data-testid': 'failed-rule' }, r.failed_rule), ' does not hold, so no proof exists.'));
      } else {
        const errors = r.errors || [];
        fill(proveOut,
          h('p', { class: 'bad', 'data-testid': 'prove-verdict' }, 'success: false — the values do not fit the program:'),
          h('ul', { class: 'errors', 'aria-label': 'Errors in the request' },
            errors.map((e) => h('li', { dataset: { path: e.path } }, h('code', {}, e.path), ': ', e.message))));
      }
    } catch (e) {
      fill(proveOut, h('p', { class: 'bad' }, errorText(e)));
    } finally {
      proveButton.disabled = false;
    }
  });

  verifyButton.addEventListener('click', async () => {
    if (!proved) return;
    const p = proved;
    verifyButton.disabled = true;
    fill(verifyOut, h('p', { class: 'muted' }, 'Verifying…'));
    try {
      const r = await api('POST', '/api/verify', { image_id: p.image_id, proof: p.proof, public_inputs: p.public_inputs });
      if (p !== proved) return;
      fill(verifyOut, r.valid
        ? h('p', { class: 'ok', 'data-testid': 'verify-verdict' }, 'valid: true — the proof verifies with the deployment’s key for these public inputs.')
        : h('p', { class: 'bad', 'data-testid': 'verify-verdict' }, 'valid: false — the proof does NOT verify.'));
    } catch (e) {
      fill(verifyOut, h('p', { class: 'bad' }, errorText(e)));
    } finally {
      verifyButton.disabled = !proved;
    }
  });

  describeRequest(null);
  fill(root,
    h('h1', {}, 'Proofs'),
    h('p', { class: 'muted' }, 'Write validation rules as a JSON document (docs/DSL.md), deploy them as a Groth16 circuit with its own keys, and prove that private data satisfies them without revealing it.'),
    h('section', { class: 'panel', 'aria-labelledby': 'gallery-h' }, h('h2', { id: 'gallery-h' }, '1. Choose a template'), gallery),
    h('section', { class: 'panel', 'aria-labelledby': 'editor-h' }, h('h2', { id: 'editor-h' }, '2. Edit the rules'),
      field('Rule document (JSON)', editor), status, errorList),
    h('section', { class: 'panel', 'aria-labelledby': 'deploy-h' }, h('h2', { id: 'deploy-h' }, '3. Deploy'), deployForm),
    h('section', { class: 'panel', 'aria-labelledby': 'prove-h' }, h('h2', { id: 'prove-h' }, '4. Try a proof'),
      proveHint, proveForm),
    h('section', { class: 'panel', 'aria-labelledby': 'verify-h' }, h('h2', { id: 'verify-h' }, '5. Verify'),
      h('p', { class: 'muted' }, 'Checks the proof above against the deployment’s verifying key (POST /api/verify); anyone with the key can do the same, e.g. with snarkjs.'),
      verifyButton, verifyOut));

  return () => {
    abort.abort();
    clearTimeout(timer);
    if (validating) validating.abort();
  };
}
