/**
 * Typed errors. Every error the SDK throws on purpose is a {@link VesperError}: it carries a
 * stable machine `code`, and, when it comes from the gateway, the HTTP `status` and the
 * gateway's request id (`X-Request-Id`) to quote in a support request.
 *
 * | Class | When | `code` |
 * |---|---|---|
 * | {@link VesperApiError} and subclasses | the gateway answered an error | the API's code (`unknown_key_id`, `unauthorized`, …) |
 * | {@link VerificationError} | a key list, receipt or result failed a check | what failed (`receipt_signature`, `result_hash_mismatch`, …) |
 * | {@link JobFailedError} | the job ended `failed` or `cancelled` | the job's failure code (`fuel_exhausted`, …) or `job_cancelled` |
 * | {@link NetworkError} | the gateway could not be reached | `network_error` |
 * | {@link TimeoutError} | a request or a wait ran out of time | `timeout` |
 * | {@link ProtocolError} | the gateway's answer is malformed or too large | `malformed_response`, `response_too_large` |
 * | {@link VesperError} itself | bad arguments, key files, … | `invalid_argument`, … |
 *
 * @module
 */

/** Base class of every error the SDK throws on purpose. */
export class VesperError extends Error {
  /** Stable machine code: the API's error code, or one of the SDK's own. */
  readonly code: string;
  /** HTTP status of the gateway's answer, when there was one. */
  readonly status: number | undefined;
  /** The gateway's request id (`X-Request-Id`), when there was an answer. */
  readonly requestId: string | undefined;

  constructor(
    code: string,
    message: string,
    opts: { status?: number; requestId?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.status = opts.status;
    this.requestId = opts.requestId;
  }
}

/** What the gateway said in an error answer (`{"error": {"code", "message"}, ...}`). */
export interface ApiErrorInit {
  status: number;
  code: string;
  message: string;
  requestId?: string;
  /** The job's status, on errors about an existing job (`result_not_ready`, `job_failed`, …). */
  jobStatus?: string;
  /** The job an `idempotency_conflict` is about. */
  jobId?: string;
  /** Seconds to wait before retrying (`Retry-After`), on 429 and some 503 answers. */
  retryAfter?: number;
}

/** The gateway refused a request. Subclasses group the codes by what the caller can do. */
export class VesperApiError extends VesperError {
  /** The job's status, on errors about an existing job. */
  readonly jobStatus: string | undefined;
  /** The job the error names (`idempotency_conflict`: the job that key belongs to). */
  readonly jobId: string | undefined;
  /** `Retry-After` in seconds, when the gateway sent one. */
  readonly retryAfter: number | undefined;

  constructor(init: ApiErrorInit) {
    super(init.code, `gateway answered ${init.status}: ${init.code}: ${init.message}`, {
      status: init.status,
      ...(init.requestId !== undefined ? { requestId: init.requestId } : {}),
    });
    this.jobStatus = init.jobStatus;
    this.jobId = init.jobId;
    this.retryAfter = init.retryAfter;
  }
}

/** 400: the request is malformed (`invalid_json`, `invalid_envelope`, `invalid_key_id`, …). */
export class BadRequestError extends VesperApiError {}
/** 401: credentials missing or refused (`unauthorized`, `signature_invalid`, `stale_request`, …). */
export class AuthenticationError extends VesperApiError {}
/** 403: the credential lacks the scope (`forbidden`). */
export class PermissionDeniedError extends VesperApiError {}
/** 404: no such job for this tenant (`job_not_found`) or route. */
export class NotFoundError extends VesperApiError {}
/** 409 / 410: no result to hand out (`result_not_ready`, `job_failed`, `job_cancelled`, `result_expired`, `p2p_disabled`). */
export class ConflictError extends VesperApiError {}
/** 413: the body is over a size limit (`payload_too_large`). */
export class PayloadTooLargeError extends VesperApiError {}
/** 422: well-formed but naming something unknown or refused (`unknown_key_id`, `program_not_found`, `idempotency_conflict`, …). */
export class UnprocessableError extends VesperApiError {}
/** 429: rate limited or over quota (`rate_limited`, `ip_rate_limited`, `quota_exceeded`); see `retryAfter`. */
export class RateLimitError extends VesperApiError {}
/** 5xx: the gateway cannot answer now (`unavailable`, `too_many_streams`, …). */
export class ServerError extends VesperApiError {}

/** Build the right {@link VesperApiError} subclass for an HTTP status. */
export function apiError(init: ApiErrorInit): VesperApiError {
  const s = init.status;
  if (s === 400) return new BadRequestError(init);
  if (s === 401) return new AuthenticationError(init);
  if (s === 403) return new PermissionDeniedError(init);
  if (s === 404) return new NotFoundError(init);
  if (s === 409 || s === 410) return new ConflictError(init);
  if (s === 413) return new PayloadTooLargeError(init);
  if (s === 422) return new UnprocessableError(init);
  if (s === 429) return new RateLimitError(init);
  if (s >= 500) return new ServerError(init);
  return new VesperApiError(init);
}

/**
 * A key list, receipt or result did not verify: it must not be trusted. `code` names the
 * check (`keyset_signature`, `receipt_signature`, `unknown_worker_key`, `result_digest_mismatch`,
 * `program_id_mismatch`, `workload_type_mismatch`, `payload_digest_mismatch`, `decrypt_failed`,
 * `result_hash_mismatch`, `malformed_receipt`, `job_id_mismatch`, …).
 */
export class VerificationError extends VesperError {}

/** The job ended without a result: `failed` (code: the job's failure code) or `cancelled`. */
export class JobFailedError extends VesperError {
  readonly jobId: string;
  /** The job's final status: `failed` or `cancelled`. */
  readonly jobStatus: string;
  constructor(jobId: string, jobStatus: string, code: string, message: string) {
    super(code, `job ${jobId} ${jobStatus}: ${code}: ${message}`);
    this.jobId = jobId;
    this.jobStatus = jobStatus;
  }
}

/** The gateway could not be reached (DNS, connection, TLS, reset). */
export class NetworkError extends VesperError {
  constructor(message: string, cause?: unknown) {
    super("network_error", message, { cause });
  }
}

/** A request or a wait ran past its deadline. */
export class TimeoutError extends VesperError {
  constructor(message: string) {
    super("timeout", message);
  }
}

/** The gateway's answer was not what the API promises (shape, size, encoding). */
export class ProtocolError extends VesperError {}
