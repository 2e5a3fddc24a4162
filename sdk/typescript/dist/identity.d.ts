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
/** Import a raw 32-byte X25519 public key as a WebCrypto key. */
export declare function importX25519PublicKey(raw: Uint8Array): Promise<CryptoKey>;
/** Options for creating or importing an identity. */
export interface IdentityOptions {
    /**
     * Whether the secret key may be exported again ({@link ClientIdentity.exportSecretKey}).
     * Default `false`: the key can be used but never read back out of WebCrypto.
     */
    extractable?: boolean;
}
/** An X25519 key pair for receiving sealed results. */
export declare class ClientIdentity {
    /** The raw 32-byte public key (`client_pubkey` on the wire). */
    readonly publicKey: Uint8Array;
    /** The WebCrypto key pair (private key usable for `deriveBits` only). */
    readonly keyPair: CryptoKeyPair;
    private constructor();
    /** Generate a fresh key pair; non-extractable unless `extractable: true`. */
    static generate(opts?: IdentityOptions): Promise<ClientIdentity>;
    /**
     * Import a raw 32-byte X25519 secret key (clamped by X25519 itself, as RFC 7748 says).
     * The caller should zero its copy of `secret` afterwards.
     */
    static fromSecretKey(secret: Uint8Array, opts?: IdentityOptions): Promise<ClientIdentity>;
    /**
     * Wrap an existing X25519 private `CryptoKey` (e.g. one kept in IndexedDB). Its public key
     * is computed with WebCrypto, which works for non-extractable keys too.
     */
    static fromCryptoKey(privateKey: CryptoKey): Promise<ClientIdentity>;
    /** Whether {@link exportSecretKey} can work. */
    get extractable(): boolean;
    /** The public key as base64 (`client_pubkey`). */
    get publicKeyBase64(): string;
    /** The raw 32-byte secret key; only for identities created with `extractable: true`. */
    exportSecretKey(): Promise<Uint8Array>;
}
/**
 * Parse the text of an identity file (`vesper-x25519-secret:<64 lowercase hex>\n`, as
 * `vesper keygen` writes it) into the 32-byte secret. Zero the result after use.
 */
export declare function parseIdentityFile(text: string): Uint8Array;
/** The text of an identity file for `secret` (one line, as `vesper keygen` writes). */
export declare function formatIdentityFile(secret: Uint8Array): string;
/**
 * Parse an API key file (`vesper-api-key:vsk_<64 hex>\n`, as `vesper dev` and
 * `vesper key create --out` write it): the text after the first colon, without the newline.
 */
export declare function parseApiKeyFile(text: string): string;
