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
/** `Authorization: Bearer vsk_…` (AUTH.md §2). The key is checked for its shape only. */
export declare function apiKeyAuth(apiKey: string): Authenticator;
/**
 * The canonical request a wallet signs (AUTH.md §3.2): seven lines joined by `\n`, no
 * trailing newline.
 */
export declare function canonicalRequest(method: string, pathAndQuery: string, body: Uint8Array, timestamp: number | string, nonce: string, walletId: string): string;
/** 16 random bytes as 32 hex digits: a valid, fresh `X-Vesper-Nonce`. */
export declare function freshNonce(): string;
/** Timestamp and nonce of a signed request; fresh ones by default. Fixed only for vectors. */
export interface SignOptions {
    timestamp?: number;
    nonce?: string;
}
/** An Ed25519 signer: a raw key, or a wallet (e.g. a Solana adapter's `signMessage`). */
export interface Ed25519Signer {
    /** The 32-byte Ed25519 public key. */
    publicKey: Uint8Array;
    /** Pure Ed25519 over `message` (no prehash, no prefix): 64 bytes. */
    signMessage(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}
/** An {@link Ed25519Signer} over a 32-byte secret seed (RFC 8032). */
export declare function ed25519SignerFromSeed(seed: Uint8Array): Ed25519Signer;
/** The canonical wallet id of an Ed25519 key: `ed25519:<64 lowercase hex>`. */
export declare function ed25519WalletId(publicKey: Uint8Array): string;
/** Sign one request with Ed25519 (AUTH.md §3.3) and return its four `X-Vesper-*` headers. */
export declare function signEd25519Request(signer: Ed25519Signer, req: RequestToSign, opts?: SignOptions): Promise<Record<string, string>>;
/** Authenticate with an Ed25519 wallet: a 32-byte seed or an {@link Ed25519Signer}. */
export declare function ed25519WalletAuth(key: Uint8Array | Ed25519Signer): Authenticator;
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
export declare function eip191Digest(message: Uint8Array): Uint8Array;
/** The Ethereum address (`0x` + 40 lowercase hex) of a secp256k1 public key. */
export declare function ethereumAddress(publicKey: Uint8Array): string;
/** An {@link Eip191Signer} over a 32-byte secp256k1 secret key (deterministic RFC 6979, low s). */
export declare function eip191SignerFromSecretKey(secretKey: Uint8Array): Eip191Signer;
/** The canonical wallet id of an Ethereum address: `eip191:0x<40 lowercase hex>`. */
export declare function eip191WalletId(address: string): string;
/** Sign one request with EIP-191 `personal_sign` (AUTH.md §3.3) and return its headers. */
export declare function signEip191Request(signer: Eip191Signer, req: RequestToSign, opts?: SignOptions): Promise<Record<string, string>>;
/** Authenticate with an Ethereum account: a 32-byte secret key or an {@link Eip191Signer}. */
export declare function eip191WalletAuth(key: Uint8Array | Eip191Signer): Authenticator;
