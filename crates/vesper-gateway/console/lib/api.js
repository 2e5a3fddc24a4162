// The console's HTTP client: every call to the gateway goes through `api()`, which adds the
// credential (a Bearer API key, or an Ed25519 wallet signature per docs/AUTH.md §3 made with a
// WebCrypto key) and turns error bodies into `ApiError`s carrying the stable `code`.
//
// The credential lives in this module's memory only: never in a URL, a cookie or storage.
// Closing or reloading the tab forgets it.

let credential = null; // {kind: 'key', key} | {kind: 'wallet', walletId, privateKey: CryptoKey}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export function setCredential(c) { credential = c; }
export function hasCredential() { return credential !== null; }
export function credentialKind() { return credential && credential.kind; }

const enc = new TextEncoder();

async function sha256Hex(bytes) {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

function nonce() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** The four X-Vesper-* headers for one request (docs/AUTH.md §3.2, §3.3). */
async function walletHeaders(method, target, body) {
  const ts = String(Math.floor(Date.now() / 1000));
  const n = nonce();
  const canonical = ['vesper-auth-v1', method, target, await sha256Hex(body), ts, n, credential.walletId].join('\n');
  const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', credential.privateKey, enc.encode(canonical)));
  return {
    'X-Vesper-Wallet': credential.walletId,
    'X-Vesper-Timestamp': ts,
    'X-Vesper-Nonce': n,
    'X-Vesper-Signature': Array.from(sig, (x) => x.toString(16).padStart(2, '0')).join(''),
  };
}

async function authHeaders(method, target, body) {
  if (!credential) return {};
  if (credential.kind === 'key') return { Authorization: `Bearer ${credential.key}` };
  return walletHeaders(method, target, body);
}

/**
 * Call the API. `body`: an object (sent as JSON), a Uint8Array (sent as
 * application/octet-stream) or undefined. Returns the parsed JSON (or null for 204).
 */
export async function api(method, target, body, { signal, headers: extra } = {}) {
  let bytes = new Uint8Array(0);
  const headers = { ...(extra || {}) };
  if (body instanceof Uint8Array) {
    bytes = body;
    headers['Content-Type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    bytes = enc.encode(JSON.stringify(body));
    headers['Content-Type'] = 'application/json';
  }
  Object.assign(headers, await authHeaders(method, target, bytes));
  const resp = await fetch(target, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : bytes,
    signal,
    credentials: 'omit',
    cache: 'no-store',
  });
  if (resp.status === 204) return null;
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok) {
    const e = json && json.error;
    throw new ApiError(resp.status, e ? e.code : 'http_' + resp.status, e ? e.message : text.slice(0, 200));
  }
  return json;
}

/**
 * A file the console serves itself (`/console/NAME`, e.g. a rule template), as text. No
 * credential: the console's files are public.
 */
export async function consoleFile(name, { signal } = {}) {
  const resp = await fetch(`/console/${name}`, { signal, credentials: 'omit' });
  if (!resp.ok) throw new ApiError(resp.status, 'http_' + resp.status, `/console/${name}: ${resp.status}`);
  return resp.text();
}

/**
 * Follow the caller's job events (`target`: `/api/events`, or `/api/events?job_id=…` for one
 * job) as Server-Sent Events until `signal` aborts. fetch, not EventSource: EventSource cannot send the credential headers. Reconnects
 * after a drop (and calls `onResync`, since events may have been missed meanwhile).
 */
export async function followEvents(target, onStatus, onResync, signal) {
  while (!signal.aborted) {
    try {
      const resp = await fetch(target, {
        headers: { Accept: 'text/event-stream', ...(await authHeaders('GET', target, new Uint8Array(0))) },
        signal,
        credentials: 'omit',
        cache: 'no-store',
      });
      if (!resp.ok) throw new ApiError(resp.status, 'http_' + resp.status, 'event stream refused');
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      let event = 'message';
      let data = [];
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        if (buf.length > 1 << 20) throw new Error('event stream line too long');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, '');
          buf = buf.slice(i + 1);
          if (line === '') {
            if (data.length) {
              if (event === 'status') onStatus(JSON.parse(data.join('\n')));
              else if (event === 'resync') onResync();
            }
            event = 'message';
            data = [];
          } else if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    onResync();
    await new Promise((r) => setTimeout(r, 1000));
  }
}
