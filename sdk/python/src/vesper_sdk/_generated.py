# Generated from sdk/openapi.json by datamodel-code-generator; do not edit.
# Regenerate with sdk/python/scripts/gen_types.sh.
"""Request and response bodies of the Vesper API as TypedDicts (generated from OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from typing_extensions import NotRequired, TypedDict


class AddWalletBody(TypedDict, closed=True):
    """
    `POST /api/admin/tenants/{name}/wallets`: let a wallet sign requests for a tenant.
    """

    scopes: NotRequired[str | None]
    """
    Comma list of `submit`, `read`, `admin`; `submit,read` when absent.
    """
    wallet: str
    """
    `ed25519:<64 hex>` or `eip191:0x<40 hex>` (docs/AUTH.md §3.1).
    """


class CompileResponse(TypedDict):
    """
    `POST /api/compile`: the circuit's size, without keys.
    """

    circuit_id: str
    """
    SHA-256 of the canonical DSL document: names the circuit. The image id also covers the
    keys, so it is fixed at deploy (docs/DSL.md §7).
    """
    constraints: int
    public_inputs: list[str]
    """
    Names of the public inputs, in the order a verifier passes them.
    """
    use_case: str
    witnesses: int


class CreateKeyBody(TypedDict, closed=True):
    """
    `POST /api/admin/tenants/{name}/keys`: create an API key for a tenant.
    """

    scopes: NotRequired[str | None]
    """
    Comma list of `submit`, `read`, `admin`; `submit,read` when absent.
    """


class CreateTenantBody(TypedDict, closed=True):
    """
    `POST /api/admin/tenants`: create a tenant.
    """

    name: str
    """
    1–64 characters of `[A-Za-z0-9._-]`.
    """


class CreatedKeyResponse(TypedDict):
    """
    A new API key. The key itself is in this answer only: the store keeps its hash.
    """

    key: str
    """
    The bearer token (`vsk_` and 64 hex digits). Shown once.
    """
    key_id: str
    """
    The first 12 hex digits of the key's hash: what revoking names.
    """
    scopes: str
    """
    The key's scopes, e.g. `submit,read`.
    """
    tenant: str


class CreditsResponse(TypedDict):
    """
    A tenant's prepaid credits.
    """

    balance: int
    proof_price: int
    """
    Credits one proof costs (0: no payment check).
    """
    tenant: str


class DegradedTask(TypedDict):
    """
    A supervised task that is down, or was restarted after a failure less than a minute ago.
    """

    restarts: int
    """
    Restarts after a failure so far.
    """
    state: str
    """
    `restarting` (waiting out its backoff), `failed` (for good), or `running` (restarted
    after a failure less than a minute ago).
    """
    task: str
    """
    The task's name: `worker/w0`, `http`, `sweep`, `callbacks`, `gateway/events`, `p2p/…`.
    """


class DeployBody(TypedDict, closed=True):
    """
    `POST /api/deploy`: validate, compile, make keys, register.
    """

    customer_id: NotRequired[str | None]
    """
    Default `customer-{use_case}-{unix seconds}`.
    """
    dsl: dict[str, Any]
    metadata: NotRequired[dict[str, Any]]
    """
    Free-form JSON kept with the deployment (at most 4 KiB).
    """


class DeployResponse(TypedDict):
    """
    The seed's deploy response.
    """

    api_endpoint: str
    """
    Where to ask for proofs.
    """
    constraints: int
    customer_id: str
    image_id: str
    success: bool
    version: int


class DeploymentDto(TypedDict):
    """
    One version of a deployment (the seed's registry record).
    """

    constraints: int
    created_at: str
    """
    RFC 3339, UTC, milliseconds.
    """
    customer_id: str
    dsl: dict[str, Any]
    """
    The DSL document.
    """
    image_id: str
    metadata: dict[str, Any]
    verifying_key: dict[str, Any]
    """
    The verifying key, snarkjs's format.
    """
    version: int


class DeploymentVersion(TypedDict):
    created_at: str
    image_id: str
    version: int


class DslBody(TypedDict, closed=True):
    """
    `POST /api/validate` and `POST /api/compile`: a DSL document.
    """

    dsl: dict[str, Any]
    """
    The DSL document (docs/DSL.md, docs/dsl.schema.json).
    """


class DslErrorDto(TypedDict):
    """
    One error in a DSL document or a request's values.
    """

    message: str
    path: str
    """
    JSON path, e.g. `validation_rules[0].check.gte[1].ref`.
    """


class ErrorDetail(TypedDict):
    """
    A stable machine code and a sentence for people.
    """

    code: str
    message: str


class ErrorInfo(TypedDict):
    """
    Why a job failed: a stable code and a fixed sentence (never derived from the workload).
    """

    code: str
    message: str


class GrantCreditsBody(TypedDict, closed=True):
    """
    `POST /api/admin/tenants/{name}/credits`: credits to add to a tenant's balance.
    """

    amount: int


class HealthResponse(TypedDict):
    """
    Liveness and queue figures. `status` is `ok`, or `degraded` while one of the node's
    supervised tasks is down or was restarted after a failure less than a minute ago; `degraded`
    then names them (docs/OBSERVABILITY.md, "Supervision").
    """

    degraded: NotRequired[list[DegradedTask]]
    """
    The degraded tasks; present only when `status` is `degraded`.
    """
    queue_depth: int
    status: str
    worker_count: int


JobStatusName: TypeAlias = Literal['queued', 'processing', 'completed', 'failed', 'cancelled']
"""
A job's status, as it appears on the wire.
"""


class KeyGrantBody(TypedDict, closed=True):
    """
    The body of `POST /api/admin/key-grants`: pool keys sealed to one pending request.
    """

    key_ids: list[str]
    """
    Hex ids of the keys inside, oldest epoch first.
    """
    kx_pubkey: str
    """
    The announced key the grant is sealed to (hex); must match the pending request.
    """
    peer_id: str
    sealed: str
    """
    Standard base64 of `seal_pool_grant`'s output (docs/PROTOCOL.md).
    """


class KeyRequestInfo(TypedDict):
    """
    A remote worker's pending request for the pool keys: its key-exchange key, signed by its
    identity (docs/PROTOCOL.md, "Pool keys"). Whoever grants checks the signature against the
    PeerId; the gateway only relays.
    """

    kx_pubkey: str
    """
    Hex X25519 public key to seal the grant to.
    """
    peer_id: str
    signature: str
    """
    Hex Ed25519 signature by the peer over `"vesper/v1/kx-announce\\0" ‖ PeerId ‖ kx_pubkey`.
    """


class KeyRequestList(TypedDict):
    """
    The response of `GET /api/admin/key-requests`.
    """

    requests: list[KeyRequestInfo]


class LoadProgramBody(TypedDict, closed=True):
    """
    `POST /api/load-program`: the seed's preload, by customer id.
    """

    customer_id: str


class LoadProgramResponse(TypedDict):
    """
    The answer to `POST /api/load-program`: the ask is recorded; provers load it within a few
    seconds (`GET /api/status` shows which hold it).
    """

    customer_id: str
    image_id: str
    loaded_by: int
    """
    Provers that reported holding it already.
    """


class LoadedProgram(TypedDict):
    """
    One of the caller's programs held loaded by provers.
    """

    customer_id: str
    image_id: str
    loaded_by: int
    """
    How many provers hold it.
    """


class PoolKeyDto(TypedDict):
    """
    A pool public key: seal workloads to it.
    """

    key_id: str
    public_key: str
    """
    Base64 of the 32-byte X25519 public key.
    """
    suite: str


class ProgramResponse(TypedDict):
    """
    A registered program.
    """

    created: bool
    """
    `false` when the same module was already registered.
    """
    program_id: str
    """
    SHA-256 of the module, hex.
    """
    size: int
    """
    Module size in bytes.
    """


class ProveBody(TypedDict, closed=True):
    """
    `POST /api/prove`, the seed's plaintext form: the gateway seals the request to the pool on
    arrival and a worker proves it (docs/DSL.md §9 says what each form trusts).
    """

    binding: NotRequired[str | None]
    """
    The binding public input (decimal field element); 0 when absent.
    """
    customer_id: str
    private_inputs: dict[str, Any]
    public_params: NotRequired[dict[str, Any]]


class ProveResponse(TypedDict):
    """
    The seed's prove response, with the job that made it.
    """

    errors: NotRequired[list[DslErrorDto] | None]
    """
    The request's values that do not fit the program.
    """
    failed_rule: NotRequired[str | None]
    """
    The enforced rule that does not hold (no proof was made).
    """
    image_id: str
    job_id: str
    """
    The job that proved it (its receipt is at `GET /api/result/{job_id}`).
    """
    outputs: NotRequired[dict[str, Any]]
    """
    The named outputs, e.g. `{"compliance_result": true}`.
    """
    proof: NotRequired[str | None]
    """
    Hex of the 128-byte compressed Groth16 proof.
    """
    public_inputs: NotRequired[list[str] | None]
    """
    Every public input, decimal, in the order a verifier passes them.
    """
    success: bool
    today: NotRequired[str | None]
    """
    The date `today` took (YYYY-MM-DD).
    """


class ProverStatus(TypedDict):
    """
    `GET /api/status`: the seed's service status with its loaded programs.
    """

    credits: int
    loaded_programs: int
    """
    How many of the caller's programs some prover holds loaded.
    """
    programs: list[LoadedProgram]
    proof_price: int
    """
    Credits one proof costs (0: no payment check), and the caller's balance.
    """
    provers: int
    """
    Prover processes that reported within the last 10 s.
    """
    status: str
    """
    `ok` when at least one prover reported within the last 10 s, else `no_provers`.
    """


class RegisterBody(TypedDict, closed=True):
    """
    `POST /api/deployments`: register keys made elsewhere (a ceremony the tenant trusts) for a
    DSL document.
    """

    customer_id: str
    dsl: dict[str, Any]
    metadata: NotRequired[dict[str, Any]]
    proving_key: str
    """
    The Groth16 proving key (which holds the verifying key), arkworks' compressed encoding,
    base64.
    """


class RevokedResponse(TypedDict):
    """
    The answer to a revocation.
    """

    revoked: int
    """
    How many credentials stopped working (1 for a key id; keys whose hash shares a
    12-digit prefix are revoked together).
    """


class SeriesSample(TypedDict):
    """
    One sample of the gateway's own metrics, taken every `interval_ms`.
    """

    completed_per_sec: float
    """
    Jobs completed per second since the previous sample (this process's workers).
    """
    failed_per_sec: float
    """
    Jobs failed for good per second since the previous sample.
    """
    http_5xx_per_sec: float
    http_per_sec: float
    """
    HTTP answers per second since the previous sample, and how many of them were 5xx.
    """
    queue_depth: int
    """
    Jobs queued, not yet started.
    """
    run_ms_p50: float | None
    """
    Run time of the jobs finished since the previous sample, median and 99th percentile,
    milliseconds, estimated from the histogram's buckets; `null` when none finished.
    """
    run_ms_p99: float | None
    submitted_per_sec: float
    """
    Jobs accepted per second since the previous sample.
    """
    t_ms: int
    """
    When it was taken, ms since the epoch.
    """


class StatusEvent(TypedDict):
    """
    The data of an `event: status` on the live stream.
    """

    job_id: str
    status: JobStatusName


class SubmitResponse(TypedDict):
    """
    An accepted submission (or, with `Idempotent-Replayed: true`, the job an earlier request
    with the same `Idempotency-Key` created).
    """

    created_at: str
    estimated_wait: int
    """
    Rough seconds until the job starts.
    """
    job_id: str
    status: JobStatusName


class TenantDto(TypedDict):
    """
    A tenant, its queue and its settings (`null`: the gateway's default applies).
    """

    burst: int | None
    created_at: str
    """
    RFC 3339, UTC, milliseconds.
    """
    disabled: bool
    id: int
    jobs_per_day: int | None
    max_fuel: int | None
    max_payload_bytes: int | None
    max_queued: int | None
    name: str
    queued: int
    rate_per_sec: int | None
    weight: int


class TenantListResponse(TypedDict):
    """
    All tenants, by id.
    """

    tenants: list[TenantDto]


class TenantSettingsBody(TypedDict, closed=True):
    """
    `PUT /api/admin/tenants/{name}/settings`: a tenant's weight, quotas and rate limit, whole.
    A quota or limit that is absent or `null` takes the gateway's default.
    """

    burst: NotRequired[int | None]
    """
    Requests allowed in a burst above the sustained rate.
    """
    jobs_per_day: NotRequired[int | None]
    """
    Most jobs accepted per UTC day.
    """
    max_fuel: NotRequired[int | None]
    """
    Most fuel one job may ask for.
    """
    max_payload_bytes: NotRequired[int | None]
    """
    Largest submit body, bytes.
    """
    max_queued: NotRequired[int | None]
    """
    Most jobs queued (not yet started) at once.
    """
    rate_per_sec: NotRequired[int | None]
    """
    Sustained requests per second.
    """
    weight: int
    """
    Share of the workers relative to other tenants (fair scheduling), 1–1000.
    """


class UpdateDeploymentBody(TypedDict, closed=True):
    """
    `PUT /api/deployments/{customer_id}`: a new version.
    """

    dsl: dict[str, Any]
    metadata: NotRequired[dict[str, Any]]


class ValidateResponse(TypedDict):
    """
    `POST /api/validate`: every error, with its path.
    """

    errors: list[DslErrorDto]
    valid: bool


class VerifyBody(TypedDict, closed=True):
    """
    `POST /api/verify`: check a proof for an image id.
    """

    image_id: str
    proof: dict[str, Any]
    """
    The proof: hex of the 128-byte compressed encoding (`proof` of `/api/prove`), or
    snarkjs's `proof.json` object.
    """
    public_inputs: list[str]
    """
    The public inputs, decimal strings, in the program's order.
    """


class VerifyResponse(TypedDict):
    image_id: str
    valid: bool


class WalletResponse(TypedDict):
    """
    A wallet mapped to a tenant.
    """

    scopes: str
    tenant: str
    wallet: str
    """
    The wallet in its canonical form.
    """


class WhoAmIResponse(TypedDict):
    """
    `GET /api/whoami`: whom the presented credential acts for.
    """

    scopes: list[str]
    """
    e.g. `["submit", "read"]`.
    """
    tenant: str
    tenant_id: int


class WorkerInfo(TypedDict):
    """
    One worker: what it offers, how loaded and how reliable it is, and whether it is alive.
    """

    active_leases: int
    """
    Jobs it holds leases on now.
    """
    completed: int
    connected: NotRequired[bool | None]
    """
    Whether its connection is up; `null` for local workers, whose liveness the gateway
    does not track (their leases expire if they die).
    """
    cores: int
    declared_name: NotRequired[str | None]
    """
    The label a remote worker declared for itself (`hello.worker_id`, e.g. its host name):
    self-declared and unverified, shown for convenience only; `null` for local workers.
    """
    executors: list[str]
    """
    Executors, e.g. `["wasm"]`.
    """
    expired: int
    """
    Leases it let run out (or lost with its connection), and results that came too late.
    """
    failed: int
    gpus: list[str]
    """
    GPUs detected with NVML, by model name.
    """
    id: str
    """
    Worker id: the node's PeerId for remote workers, `<node>/<incarnation>/w<N>` for local
    ones.
    """
    key_granted: bool
    """
    Whether it holds the pool keys (granted by a custodian that trusts it); local workers
    load them from their own key file.
    """
    kind: str
    """
    `remote` (over libp2p) or `local` (in-process or sharing the store).
    """
    last_seen_ms: int
    """
    Last time it was heard from, ms since the epoch.
    """
    memory_mb: int
    ms_per_job: NotRequired[float | None]
    """
    Measured mean execution time per job, ms (`null` until it has finished one, and for
    local workers); the scored placement's speed term.
    """
    name: str
    """
    A display name the gateway derived, never one a worker chose: `peer-` and the last 8
    characters of a remote worker's PeerId; a local worker's id.
    """
    price_per_mfuel: int
    """
    Asking price per million units of fuel.
    """
    region: str
    """
    Locality label.
    """
    reputation: float
    """
    0.0–1.0, an exponentially weighted average of outcomes (docs/SCHEDULING.md).
    """


class WorkerKeyDto(TypedDict):
    """
    A worker's receipt-signing key.
    """

    public_key: str
    """
    Hex of the 32-byte Ed25519 public key.
    """
    worker_id: str


class WorkerListResponse(TypedDict):
    """
    The response of `GET /api/workers`.
    """

    workers: list[WorkerInfo]


WorkloadTypeName: TypeAlias = Literal['general', 'ai_inference', 'pos_validation', 'zk_proof']
"""
The kind of workload; informs scheduling and metrics, not execution.
"""


class BatchResponse(TypedDict):
    """
    The accepted batch: one entry per submission, in order.
    """

    jobs: list[SubmitResponse]


class DeploymentResponse(DeploymentDto):
    """
    `GET /api/deployments/{customer_id}`: the current version, and every version's image id.
    """

    versions: list[DeploymentVersion]
    """
    `[{version, image_id, created_at}]`, oldest first.
    """


class ErrorBody(TypedDict):
    """
    The body of every error response.
    """

    error: ErrorDetail
    job_id: NotRequired[str]
    """
    The job an `idempotency_conflict` is about: the one the key already belongs to (keys
    are per tenant, so it is always the caller's own job).
    """
    job_status: NotRequired[JobStatusName]
    """
    The job's status, on errors about a job that exists (`result_not_ready`, `job_failed`, …).
    """


class ExecutionProof(TypedDict):
    """
    The seed's `execution_proof`, extended (docs/RECEIPT.md): the worker's signed receipt.
    """

    completed_at: int
    """
    Unix milliseconds.
    """
    execution_time_ms: int
    fuel_used: int
    job_id: str
    payload_digest: str
    """
    SHA-256(encrypted_key || encrypted_payload), hex.
    """
    program_id: str
    """
    Hex, 32 bytes.
    """
    result_digest: str
    """
    SHA-256 of the sealed result, hex.
    """
    result_hash: str
    """
    Salted commitment to the plaintext result, hex.
    """
    started_at: int
    """
    Unix milliseconds.
    """
    version: int
    """
    Receipt format version: 1.
    """
    worker_id: str
    worker_pubkey: str
    """
    Hex of the worker's Ed25519 public key.
    """
    worker_signature: str
    """
    Hex of the Ed25519 signature over the receipt (docs/RECEIPT.md §2).
    """
    workload_type: WorkloadTypeName


class KeysResponse(TypedDict):
    """
    The key list, signed by the gateway (docs/RECEIPT.md, "key set").
    """

    gateway_key: str
    """
    Hex of the gateway's Ed25519 public key.
    """
    pool_keys: list[PoolKeyDto]
    """
    Current key first.
    """
    signature: str
    """
    Hex of the Ed25519 signature over the encoded key set.
    """
    worker_keys: list[WorkerKeyDto]


class ResultResponse(TypedDict):
    """
    A completed job's sealed result and receipt.
    """

    completed_at: str
    encrypted_result: str
    """
    Base64 of the result sealed to the job's `client_pubkey` (docs/ENVELOPE.md).
    """
    execution_proof: ExecutionProof
    job_id: str
    status: JobStatusName
    """
    Always `completed`.
    """


class SeriesResponse(TypedDict):
    """
    `GET /api/metrics/series`: the last minutes of the gateway's metrics, oldest first.
    """

    interval_ms: int
    samples: list[SeriesSample]


class StatusResponse(TypedDict):
    """
    A job's status.
    """

    attempts: int
    """
    Attempts started so far: `retry_count`, plus one while a job runs or once it has
    finished (a job cancelled while queued started `retry_count`).
    """
    completed_at: str | None
    created_at: str
    error: ErrorInfo | None
    job_id: str
    max_retries: int
    priority: int
    program_id: str | None
    progress: NotRequired[int | None]
    """
    0 while queued, 100 when completed; absent otherwise.
    """
    retry_count: int
    """
    Retries made so far: attempts after the first (the seed's `retry_count`). A job that
    gives up keeps the count it had, so it never exceeds `max_retries`.
    """
    started_at: str | None
    status: JobStatusName
    worker_id: str | None
    workload_type: WorkloadTypeName


class SubmitRequest(TypedDict, closed=True):
    """
    A sealed workload (docs/ENVELOPE.md): HPKE to the pool key named by `key_id`.
    """

    callback_url: NotRequired[str | None]
    """
    `http(s)://` URL that receives signed status events (docs/CALLBACKS.md): a DNS name or
    a dotted-quad IPv4 address (an IPv6 literal in brackets is accepted too; the pattern
    leaves it out), an optional port, a path and query of URL characters, no userinfo, no
    fragment. At most 2000 characters here (the gateway's own limit, 2048 bytes, applies to
    the normalised URL). A host the callback policy refuses is `422 callback_address_refused`.
    """
    client_pubkey: str
    """
    Base64 of the client's X25519 public key (32 bytes): results are sealed to it.
    """
    encrypted_key: str
    """
    Base64 of the 32-byte HPKE encapsulated key.
    """
    encrypted_payload: str
    """
    Base64 (standard, padded) of the AES-256-GCM ciphertext of the workload plaintext
    ("VWL1"); at least 16 bytes once decoded.
    """
    key_id: str
    """
    The pool key the payload is sealed to: 16 lowercase hex digits, from `GET /api/keys`
    (a well-formed id of no current pool key: `422 unknown_key_id`).
    """
    max_fuel: NotRequired[int | None]
    """
    Fuel ceiling for this job (at most the tenant's `max_fuel` quota).
    """
    max_retries: NotRequired[int | None]
    """
    Retries after transient failures; the gateway's default when absent, at most its cap
    (10 by default).
    """
    priority: NotRequired[int | None]
    """
    1 (lowest) to 10 (highest); 5 when absent.
    """
    program_id: NotRequired[str | None]
    """
    A registered program (`POST /api/programs`): 64 lowercase hex digits (uppercase is
    refused, never normalised; an unregistered one: `422 program_not_found`). Absent or null
    when the module travels inside the sealed payload.
    """
    workload_type: WorkloadTypeName


class BatchRequest(TypedDict, closed=True):
    """
    `POST /api/submit/batch`: up to `max_batch` submissions, stored all or none.
    """

    jobs: list[SubmitRequest]
    """
    Each item is a `SubmitRequest` (validated one by one, with its index in errors).
    """


class JobListResponse(TypedDict):
    """
    One page of the caller's jobs, newest first.
    """

    jobs: list[StatusResponse]
    next_cursor: NotRequired[str | None]
    """
    Pass as `?cursor=` for the next (older) page; absent on the last page.
    """
