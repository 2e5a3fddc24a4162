/**
 * The client's X25519 key pair: results are sealed to its public key.
 *
 * The secret key lives in a WebCrypto `CryptoKey`. {@link ClientIdentity.generate} makes it
 * **non-extractable** by default, so that script in a page cannot read it out (it can still be
 * stored in IndexedDB as a `CryptoKey` and used with {@link ClientIdentity.fromCryptoKey}).
 * {@link ClientIdentity.fromSecretKey} imports raw bytes, e.g. from the Rust CLI's key file
 * ({@link parseIdentityFile}); it too yields a non-extractable key unless asked otherwise.
 *
 * @module
 */
import { concat, fromHex, toBase64, toHex } from "./bytes.js";
import { VesperError } from "./errors.js";
const X25519 = { name: "X25519" };
/** PKCS#8 header of a raw 32-byte X25519 private key (RFC 8410): pure encoding, no crypto. */
const PKCS8_X25519_PREFIX = fromHex("302e020100300506032b656e04220420");
/** The X25519 base point u = 9: X25519(sk, 9) is the public key of sk. */
const BASE_POINT = (() => {
    const p = new Uint8Array(32);
    p[0] = 9;
    return p;
})();
function subtle() {
    const s = globalThis.crypto?.subtle;
    if (!s)
        throw new VesperError("unsupported", "WebCrypto (crypto.subtle) is not available");
    return s;
}
/** Import a raw 32-byte X25519 public key as a WebCrypto key. */
export async function importX25519PublicKey(raw) {
    if (raw.length !== 32)
        throw new VesperError("invalid_argument", "X25519 public key must be 32 bytes");
    return subtle().importKey("raw", raw, X25519, true, []);
}
/** The raw public key of an X25519 private `CryptoKey`, extractable or not (X25519(sk, 9)). */
async function derivePublicKey(privateKey) {
    const base = await importX25519PublicKey(BASE_POINT);
    const bits = await subtle().deriveBits({ name: "X25519", public: base }, privateKey, 256);
    return new Uint8Array(bits);
}
/** An X25519 key pair for receiving sealed results. */
export class ClientIdentity {
    /** The raw 32-byte public key (`client_pubkey` on the wire). */
    publicKey;
    /** The WebCrypto key pair (private key usable for `deriveBits` only). */
    keyPair;
    constructor(keyPair, publicKey) {
        this.keyPair = keyPair;
        this.publicKey = publicKey;
    }
    /** Generate a fresh key pair; non-extractable unless `extractable: true`. */
    static async generate(opts = {}) {
        const pair = (await subtle().generateKey(X25519, opts.extractable ?? false, [
            "deriveBits",
        ]));
        const raw = new Uint8Array(await subtle().exportKey("raw", pair.publicKey));
        return new ClientIdentity(pair, raw);
    }
    /**
     * Import a raw 32-byte X25519 secret key (clamped by X25519 itself, as RFC 7748 says).
     * The caller should zero its copy of `secret` afterwards.
     */
    static async fromSecretKey(secret, opts = {}) {
        if (!(secret instanceof Uint8Array) || secret.length !== 32) {
            throw new VesperError("invalid_argument", "X25519 secret key must be 32 bytes");
        }
        const pkcs8 = concat(PKCS8_X25519_PREFIX, secret);
        try {
            const privateKey = await subtle().importKey("pkcs8", pkcs8, X25519, opts.extractable ?? false, [
                "deriveBits",
            ]);
            return await ClientIdentity.fromCryptoKey(privateKey);
        }
        finally {
            pkcs8.fill(0);
        }
    }
    /**
     * Wrap an existing X25519 private `CryptoKey` (e.g. one kept in IndexedDB). Its public key
     * is computed with WebCrypto, which works for non-extractable keys too.
     */
    static async fromCryptoKey(privateKey) {
        if (privateKey.type !== "private" || privateKey.algorithm.name !== "X25519") {
            throw new VesperError("invalid_argument", "expected an X25519 private CryptoKey");
        }
        const raw = await derivePublicKey(privateKey);
        const publicKey = await importX25519PublicKey(raw);
        return new ClientIdentity({ privateKey, publicKey }, raw);
    }
    /** Whether {@link exportSecretKey} can work. */
    get extractable() {
        return this.keyPair.privateKey.extractable;
    }
    /** The public key as base64 (`client_pubkey`). */
    get publicKeyBase64() {
        return toBase64(this.publicKey);
    }
    /** The raw 32-byte secret key; only for identities created with `extractable: true`. */
    async exportSecretKey() {
        if (!this.extractable) {
            throw new VesperError("not_extractable", "this identity's secret key is not extractable");
        }
        const pkcs8 = new Uint8Array(await subtle().exportKey("pkcs8", this.keyPair.privateKey));
        const prefix = pkcs8.subarray(0, PKCS8_X25519_PREFIX.length);
        if (pkcs8.length !== 48 || toHex(prefix) !== toHex(PKCS8_X25519_PREFIX)) {
            pkcs8.fill(0);
            throw new VesperError("unsupported", "unexpected PKCS#8 encoding of an X25519 key");
        }
        const out = pkcs8.slice(16);
        pkcs8.fill(0);
        return out;
    }
}
const IDENTITY_LABEL = "vesper-x25519-secret";
const API_KEY_LABEL = "vesper-api-key";
/** Split a key file's text into label and value, as the Rust CLI does (`label:value`). */
function splitKeyFile(text, label) {
    const line = text.replace(/\s+$/, "");
    const i = line.indexOf(":");
    if (i < 0 || line.slice(0, i) !== label) {
        throw new VesperError("invalid_key_file", `not a ${label} key file`);
    }
    return line.slice(i + 1);
}
/**
 * Parse the text of an identity file (`vesper-x25519-secret:<64 lowercase hex>\n`, as
 * `vesper keygen` writes it) into the 32-byte secret. Zero the result after use.
 */
export function parseIdentityFile(text) {
    const value = splitKeyFile(text, IDENTITY_LABEL);
    if (!/^[0-9a-f]{64}$/.test(value)) {
        throw new VesperError("invalid_key_file", `${IDENTITY_LABEL} must be 64 lowercase hex digits`);
    }
    return fromHex(value, 32);
}
/** The text of an identity file for `secret` (one line, as `vesper keygen` writes). */
export function formatIdentityFile(secret) {
    if (secret.length !== 32)
        throw new VesperError("invalid_argument", "X25519 secret key must be 32 bytes");
    return `${IDENTITY_LABEL}:${toHex(secret)}\n`;
}
/**
 * Parse an API key file (`vesper-api-key:vsk_<64 hex>\n`, as `vesper dev` and
 * `vesper key create --out` write it): the text after the first colon, without the newline.
 */
export function parseApiKeyFile(text) {
    const key = splitKeyFile(text, API_KEY_LABEL);
    if (key.length === 0)
        throw new VesperError("invalid_key_file", "empty API key");
    return key;
}
