/**
 * `@vesper/sdk`: the TypeScript client of Vesper (private, verifiable compute).
 *
 * Seal a WebAssembly workload to the pool key (HPKE), submit it, follow it, then verify the
 * worker's signed receipt and open the result sealed back to your X25519 key. Runs unchanged
 * in browsers and in Node 20+: it needs only `fetch`, WebCrypto (`crypto.subtle`, X25519
 * included), `TextEncoder`/`TextDecoder` and streams.
 *
 * ```ts
 * import { ClientIdentity, VesperClient } from "@vesper/sdk";
 * const client = new VesperClient({ gateway: "http://127.0.0.1:8080", auth: "vsk_…" });
 * const identity = await ClientIdentity.generate();           // non-extractable key
 * const r = await client.run({ module, input: "hello\n", identity });
 * console.log(new TextDecoder().decode(r.stdout));
 * ```
 *
 * @module
 */
export { type Authenticator, type Ed25519Signer, type Eip191Signer, type RequestToSign, type SignOptions, apiKeyAuth, canonicalRequest, ed25519SignerFromSeed, ed25519WalletAuth, ed25519WalletId, eip191Digest, eip191SignerFromSecretKey, eip191WalletAuth, eip191WalletId, ethereumAddress, freshNonce, signEd25519Request, signEip191Request, } from "./auth.js";
export { fromBase64, fromHex, toBase64, toHex } from "./bytes.js";
export { type ClientOptions, type FetchedResult, type HealthResponse, type JobList, type JobResult, type JobStatus, type JobStatusName, type ProgramResponse, type ProgressEvent, type RunParams, type SubmitOptions, type SubmitResponse, type Submitted, type WaitOptions, VesperClient, isTerminal, } from "./client.js";
export { type JobFacts, type JobMetadata, type Program, type ResultPlaintext, type SealParams, type SealedJob, type SubmitRequest, type Workload, type WorkloadType, MAX_INLINE_MODULE, MAX_INPUT, POOL_KEY_SUITE, WORKLOAD_TYPES, decodeResult, decodeWorkload, encodeWorkload, jobAad, jobFacts, keyIdOf, openResult, payloadDigestOf, payloadDigestOfRequest, programIdOf, resultAad, resultHashOf, sealJob, } from "./envelope.js";
export { type ApiErrorInit, AuthenticationError, BadRequestError, ConflictError, JobFailedError, NetworkError, NotFoundError, PayloadTooLargeError, PermissionDeniedError, ProtocolError, RateLimitError, ServerError, TimeoutError, UnprocessableError, VerificationError, VesperApiError, VesperError, } from "./errors.js";
export type { components, operations, paths } from "./generated/openapi.js";
export { type IdentityOptions, ClientIdentity, formatIdentityFile, parseApiKeyFile, parseIdentityFile, } from "./identity.js";
export { type JsonValue, type ParseOptions, parseJsonExact } from "./json.js";
export { type PoolKey, type PublishedKeys, type Receipt, type SubmissionField, type VerifiedResult, type VerifyOptions, type WorkerKey, currentPoolKey, encodeReceipt, keysetMessage, receiptFromJson, receiptMessage, verifyEd25519Strict, verifyKeys, verifyReceiptSignature, verifyResultBody, } from "./receipt.js";
export { type SseEvent, SseParser } from "./sse.js";
