// One job: its timeline (queued → processing → completed), worker, fuel and times, live from
// the status stream; its receipt verified in this browser against the gateway's signed key
// list (docs/RECEIPT.md §6); and, for a job sealed in this tab, the result opened here.
import { h, fill, fmtTime, msBetween, statusBadge, toast } from '../lib/dom.js';
import { api, followEvents } from '../lib/api.js';
import * as sdk from '../vendor/vesper-sdk.js';

const TERMINAL = ['completed', 'failed', 'cancelled'];

export async function render(ctx, root, params) {
  const jobId = params[0];
  const abort = new AbortController();
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Timeline' });
  const facts = h('dl', { class: 'facts' });
  const receiptBox = h('section', { class: 'panel', 'aria-labelledby': 'receipt-h', 'aria-live': 'polite' }, h('h2', { id: 'receipt-h' }, 'Receipt'), h('p', { class: 'muted' }, 'When the job completes.'));
  const resultBox = h('section', { class: 'panel', 'aria-labelledby': 'result-h', 'aria-live': 'polite' }, h('h2', { id: 'result-h' }, 'Result'), h('p', { class: 'muted' }, 'When the job completes.'));
  let shownResult = false;

  fill(root, h('h1', {}, 'Job ', h('code', {}, jobId)), timeline, h('section', { class: 'panel' }, facts), receiptBox, resultBox);

  function draw(s) {
    const steps = ['queued', 'processing', s.status === 'failed' || s.status === 'cancelled' ? s.status : 'completed'];
    const reached = { queued: 0, processing: 1, completed: 2, failed: 2, cancelled: 2 }[s.status];
    const at = [s.created_at, s.started_at, s.completed_at];
    fill(timeline, steps.map((st, i) => h('li', { class: i <= reached ? (st === 'failed' || st === 'cancelled' ? 'failed' : 'done') : '', 'aria-current': i === reached ? 'step' : null },
      `${st} ${i <= reached && at[i] ? fmtTime(at[i]) : ''}`)));
    const wait = msBetween(s.created_at, s.started_at);
    const run = msBetween(s.started_at, s.completed_at);
    fill(facts,
      h('dt', {}, 'Status'), h('dd', { 'data-testid': 'job-status' }, statusBadge(s.status)),
      h('dt', {}, 'Worker'), h('dd', { class: 'mono' }, s.worker_id || '—'),
      h('dt', {}, 'Program'), h('dd', { class: 'mono' }, s.program_id || 'inline (secret)'),
      h('dt', {}, 'Workload type'), h('dd', {}, s.workload_type),
      h('dt', {}, 'Priority'), h('dd', {}, s.priority),
      h('dt', {}, 'Retries'), h('dd', {}, s.retry_count),
      h('dt', {}, 'Waited / ran'), h('dd', {}, `${wait === null ? '—' : wait + ' ms'} / ${run === null ? '—' : run + ' ms'}`),
      s.error ? [h('dt', {}, 'Error'), h('dd', { class: 'bad' }, `${s.error.code}: ${s.error.message}`)] : null);
    if (s.status === 'completed' && !shownResult) {
      shownResult = true;
      showResult().catch((e) => toast(`${e.code || 'error'}: ${e.message}`, 'error'));
    }
  }

  async function showResult() {
    const body = await api('GET', `/api/result/${jobId}`);
    const keys = sdk.verifyKeys(await api('GET', '/api/keys'));
    const mine = ctx.session.sealed.get(jobId);
    let v;
    try {
      v = await sdk.verifyResultBody(body, {
        workerKeys: keys.workerKeys.map((k) => k.publicKey),
        identity: mine ? mine.identity : undefined,
        expected: mine ? mine.facts : { jobId },
      });
    } catch (e) {
      fill(receiptBox, h('h2', { id: 'receipt-h' }, 'Receipt'),
        h('p', { class: 'bad', 'data-testid': 'receipt-verdict' }, `Receipt INVALID: ${e.message}`));
      fill(resultBox, h('h2', { id: 'result-h' }, 'Result'), h('p', { class: 'bad' }, 'Not shown: the receipt did not verify.'));
      return;
    }
    const r = v.receipt;
    fill(receiptBox, h('h2', { id: 'receipt-h' }, 'Receipt'),
      h('p', { class: 'ok', 'data-testid': 'receipt-verdict' }, 'Receipt verified in this browser'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Signed by'), h('dd', { class: 'mono' }, `${r.workerId} (${r.workerPubkey})`),
        h('dt', {}, 'Gateway key list signed by'), h('dd', { class: 'mono' }, keys.gatewayKey),
        h('dt', {}, 'Program'), h('dd', { class: 'mono' }, r.programId),
        h('dt', {}, 'Fuel used'), h('dd', { 'data-testid': 'fuel' }, r.fuelUsed.toString()),
        h('dt', {}, 'Run time'), h('dd', {}, `${r.executionTimeMs} ms`),
        h('dt', {}, 'Payload digest'), h('dd', { class: 'mono' }, r.payloadDigest),
        h('dt', {}, 'Checked against this tab’s submission'), h('dd', {}, v.unchecked.length ? `no (${v.unchecked.join(', ')} not checked: not sealed in this tab)` : 'yes')));
    if (v.result) {
      const text = new TextDecoder().decode(v.result.stdout);
      fill(resultBox, h('h2', { id: 'result-h' }, 'Result'),
        h('p', {}, `Decrypted in this browser · exit code ${v.result.exitCode}`),
        h('pre', { class: 'output', 'data-testid': 'stdout', tabindex: 0 }, text),
        v.result.stderr.length ? h('pre', { class: 'output' }, new TextDecoder().decode(v.result.stderr)) : null,
        mine.identity.extractable ? h('button', { type: 'button', class: 'secondary', id: 'export-key', onclick: async () => {
          const sk = await mine.identity.exportSecretKey();
          fill(exportBox, h('p', {}, 'This tab’s result key (vesper keygen format). Anyone holding it can read this tab’s results:'),
            h('code', { 'data-testid': 'exported-key' }, `vesper-x25519-secret:${sdk.toHex(sk)}`),
            h('p', {}, 'Payload digest: ', h('code', { 'data-testid': 'payload-digest' }, mine.facts.payloadDigest)));
          sk.fill(0);
        } }, 'Export the result key') : null,
        exportBox);
    } else {
      fill(resultBox, h('h2', { id: 'result-h' }, 'Result'),
        h('p', { class: 'muted' }, 'Sealed to another key: this job was not submitted from this tab, so it cannot be opened here.'));
    }
  }
  const exportBox = h('div', { 'aria-live': 'polite' });

  let current = await api('GET', `/api/status/${jobId}`);
  draw(current);
  if (!TERMINAL.includes(current.status)) {
    const refresh = async () => {
      current = await api('GET', `/api/status/${jobId}`, undefined, { signal: abort.signal });
      draw(current);
      if (TERMINAL.includes(current.status)) abort.abort();
    };
    followEvents(`/api/events?job_id=${jobId}`, (ev) => { if (ev.job_id === jobId) refresh().catch(() => {}); }, () => refresh().catch(() => {}), abort.signal);
  }
  return () => abort.abort();
}
