/**
 * Request authentication (docs/AUTH.md): a Bearer API key, or a wallet signature over the
 * canonical request, by an Ed25519 key (Solana-style wallets) or an Ethereum account with
 * EIP-191 `personal_sign`.
 *
 * An {@link Authenticator} turns a request (method, path and query, exact body bytes) into
 * the headers that authenticate it. Wallets may be raw secret keys (for scripts and tests)
 * or external signers (a browser wallet), through {@link Ed25519Signer} and
 * {@link Eip191Signer}.
 *
 * @module
 */

import { ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { keccak_256 } from "@noble/hashes/sha3.js";

import { concat, fromHex, randomBytes, toHex, utf8 } from "./bytes.js";
import { VesperError } from "./errors.js";

/** What an authenticator signs: the request exactly as it will be sent. */
export interface RequestToSign {
  /** HTTP method, e.g. `GET`. */
  method: string;
  /** Path and query exactly as sent, e.g. `/api/jobs?status=queued`. */
  pathAndQuery: string;
  /** The exact body bytes (empty for `GET`). */
  body: Uint8Array;
}

/** Produces the authentication headers of one request. */
export interface Authenticator {
  headers(req: RequestToSign): Promise<Record<string, string>>;
}

const API_KEY_RE = /^vsk_[0-9a-f]{64}$/;

/** `Authorization: Bearer vsk_…` (AUTH.md §2). The key is checked for its shape only. */
export function apiKeyAuth(apiKey: string): Authenticator {
  if (!API_KEY_RE.test(apiKey)) {
    throw new VesperError("invalid_argument", "an API key is vsk_ followed by 64 lowercase hex digits");
  }
  const header = { Authorization: `Bearer ${apiKey}` };
  return { headers: async () => ({ ...header }) };
}

/**
 * The canonical request a wallet signs (AUTH.md §3.2): seven lines joined by `\n`, no
 * trailing newline.
 */
export function canonicalRequest(
  method: string,
  pathAndQuery: string,
  body: Uint8Array,
  timestamp: number | string,
  nonce: string,
  walletId: string,
): string {
  return [
    "vesper-auth-v1",
    method.toUpperCase(),
    pathAndQuery,
    toHex(sha256(body)),
    String(timestamp),
    nonce,
    walletId,
  ].join("\n");
}

/** Unix time in whole seconds. */
function now(): number {
  return Math.floor(Date.now() / 1000);
}

/** 16 random bytes as 32 hex digits: a valid, fresh `X-Vesper-Nonce`. */
export function freshNonce(): string {
  return toHex(randomBytes(16));
}

const NONCE_RE = /^[A-Za-z0-9_-]{16,64}$/;

function walletHeaders(walletId: string, timestamp: number | string, nonce: string, signatureHex: string) {
  return {
    "X-Vesper-Wallet": walletId,
    "X-Vesper-Timestamp": String(timestamp),
    "X-Vesper-Nonce": nonce,
    "X-Vesper-Signature": signatureHex,
  };
}

/** Timestamp and nonce of a signed request; fresh ones by default. Fixed only for vectors. */
export interface SignOptions {
  timestamp?: number;
  nonce?: string;
}

function checkSignOptions(o: SignOptions): { timestamp: number; nonce: string } {
  const timestamp = o.timestamp ?? now();
  const nonce = o.nonce ?? freshNonce();
  if (!Number.isSafeInteger(timestamp) || timestamp <= 0) throw new VesperError("invalid_argument", "bad timestamp");
  if (!NONCE_RE.test(nonce)) throw new VesperError("invalid_argument", "a nonce is 16-64 characters of A-Z a-z 0-9 _ -");
  return { timestamp, nonce };
}

// ---- Ed25519 --------------------------------------------------------------------------

/** An Ed25519 signer: a raw key, or a wallet (e.g. a Solana adapter's `signMessage`). */
export interface Ed25519Signer {
  /** The 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** Pure Ed25519 over `message` (no prehash, no prefix): 64 bytes. */
  signMessage(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** An {@link Ed25519Signer} over a 32-byte secret seed (RFC 8032). */
export function ed25519SignerFromSeed(seed: Uint8Array): Ed25519Signer {
  if (seed.length !== 32) throw new VesperError("invalid_argument", "an Ed25519 seed is 32 bytes");
  const sk = seed.slice();
  return {
    publicKey: ed25519.getPublicKey(sk),
    signMessage: (m) => ed25519.sign(m, sk),
  };
}

/** The canonical wallet id of an Ed25519 key: `ed25519:<64 lowercase hex>`. */
export function ed25519WalletId(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new VesperError("invalid_argument", "an Ed25519 public key is 32 bytes");
  return `ed25519:${toHex(publicKey)}`;
}

/** Sign one request with Ed25519 (AUTH.md §3.3) and return its four `X-Vesper-*` headers. */
export async function signEd25519Request(
  signer: Ed25519Signer,
  req: RequestToSign,
  opts: SignOptions = {},
): Promise<Record<string, string>> {
  const { timestamp, nonce } = checkSignOptions(opts);
  const walletId = ed25519WalletId(signer.publicKey);
  const msg = canonicalRequest(req.method, req.pathAndQuery, req.body, timestamp, nonce, walletId);
  const sig = await signer.signMessage(utf8(msg));
  if (sig.length !== 64) throw new VesperError("invalid_argument", "an Ed25519 signature is 64 bytes");
  return walletHeaders(walletId, timestamp, nonce, toHex(sig));
}

/** Authenticate with an Ed25519 wallet: a 32-byte seed or an {@link Ed25519Signer}. */
export function ed25519WalletAuth(key: Uint8Array | Ed25519Signer): Authenticator {
  const signer = key instanceof Uint8Array ? ed25519SignerFromSeed(key) : key;
  return { headers: (req) => signEd25519Request(signer, req) };
}

// ---- EIP-191 --------------------------------------------------------------------------

/** An Ethereum `personal_sign` signer: a raw key, or a wallet (ethers, MetaMask, …). */
export interface Eip191Signer {
  /** The account's `0x…` address, any case. */
  address: string;
  /**
   * `personal_sign` over `message`: secp256k1 over keccak256("\x19Ethereum Signed Message:\n"
   * || len || message). Returns 65 bytes `r || s || v`, as bytes or `0x` hex.
   */
  signMessage(message: Uint8Array): Promise<Uint8Array | string> | Uint8Array | string;
}

/** keccak256("\x19Ethereum Signed Message:\n" || decimal len || message): the EIP-191 digest. */
export function eip191Digest(message: Uint8Array): Uint8Array {
  return keccak_256(concat(utf8(`\x19Ethereum Signed Message:\n${message.length}`), message));
}

/** The Ethereum address (`0x` + 40 lowercase hex) of a secp256k1 public key. */
export function ethereumAddress(publicKey: Uint8Array): string {
  const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  return `0x${toHex(keccak_256(uncompressed.subarray(1)).subarray(12))}`;
}

/** An {@link Eip191Signer} over a 32-byte secp256k1 secret key (deterministic RFC 6979, low s). */
export function eip191SignerFromSecretKey(secretKey: Uint8Array): Eip191Signer {
  if (secretKey.length !== 32) throw new VesperError("invalid_argument", "a secp256k1 secret key is 32 bytes");
  const sk = secretKey.slice();
  return {
    address: ethereumAddress(secp256k1.getPublicKey(sk)),
    signMessage: (m) => {
      // noble's "recovered" format is recovery || r || s; Ethereum wants r || s || 27+recovery.
      const rec = secp256k1.sign(eip191Digest(m), sk, { prehash: false, lowS: true, format: "recovered" });
      return concat(rec.subarray(1), Uint8Array.of(27 + rec[0]!));
    },
  };
}

/** The canonical wallet id of an Ethereum address: `eip191:0x<40 lowercase hex>`. */
export function eip191WalletId(address: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) {
    throw new VesperError("invalid_argument", "an Ethereum address is 0x followed by 40 hex digits");
  }
  return `eip191:${address.toLowerCase()}`;
}

/** Sign one request with EIP-191 `personal_sign` (AUTH.md §3.3) and return its headers. */
export async function signEip191Request(
  signer: Eip191Signer,
  req: RequestToSign,
  opts: SignOptions = {},
): Promise<Record<string, string>> {
  const { timestamp, nonce } = checkSignOptions(opts);
  const walletId = eip191WalletId(signer.address);
  const msg = canonicalRequest(req.method, req.pathAndQuery, req.body, timestamp, nonce, walletId);
  const raw = await signer.signMessage(utf8(msg));
  const sig = typeof raw === "string" ? fromHex(raw.replace(/^0x/, "").toLowerCase(), 65, "EIP-191 signature") : raw;
  if (sig.length !== 65) throw new VesperError("invalid_argument", "an EIP-191 signature is 65 bytes r || s || v");
  return walletHeaders(walletId, timestamp, nonce, `0x${toHex(sig)}`);
}

/** Authenticate with an Ethereum account: a 32-byte secret key or an {@link Eip191Signer}. */
export function eip191WalletAuth(key: Uint8Array | Eip191Signer): Authenticator {
  const signer = key instanceof Uint8Array ? eip191SignerFromSecretKey(key) : key;
  return { headers: (req) => signEip191Request(signer, req) };
}
