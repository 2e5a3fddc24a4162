//! Wire types of the proof gateway (seed 004, docs/DSL.md): validating, compiling and
//! deploying rule programs, the deployment registry, and verifying proofs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/validate` and `POST /api/compile`: a DSL document.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DslBody {
    /// The DSL document (docs/DSL.md, docs/dsl.schema.json).
    #[schema(value_type = Object)]
    pub dsl: serde_json::Value,
}

/// One error in a DSL document or a request's values.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DslErrorDto {
    /// JSON path, e.g. `validation_rules[0].check.gte[1].ref`.
    pub path: String,
    pub message: String,
}

/// `POST /api/validate`: every error, with its path.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidateResponse {
    pub valid: bool,
    pub errors: Vec<DslErrorDto>,
}

/// `POST /api/compile`: the circuit's size, without keys.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CompileResponse {
    pub use_case: String,
    pub constraints: u64,
    pub witnesses: u64,
    /// Names of the public inputs, in the order a verifier passes them.
    pub public_inputs: Vec<String>,
    /// SHA-256 of the canonical DSL document: names the circuit. The image id also covers the
    /// keys, so it is fixed at deploy (docs/DSL.md §7).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub circuit_id: String,
}

/// `POST /api/deploy`: validate, compile, make keys, register.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    #[schema(value_type = Object)]
    pub dsl: serde_json::Value,
    /// Default `customer-{use_case}-{unix seconds}`.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub customer_id: Option<String>,
    /// Free-form JSON kept with the deployment (at most 4 KiB).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

/// `POST /api/deployments`: register keys made elsewhere (a ceremony the tenant trusts) for a
/// DSL document.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub customer_id: String,
    #[schema(value_type = Object)]
    pub dsl: serde_json::Value,
    /// The Groth16 proving key (which holds the verifying key), arkworks' compressed encoding,
    /// base64.
    pub proving_key: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

/// The seed's deploy response.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeployResponse {
    pub success: bool,
    pub customer_id: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_id: String,
    /// Where to ask for proofs.
    pub api_endpoint: String,
    pub version: u32,
    pub constraints: u64,
}

/// `PUT /api/deployments/{customer_id}`: a new version.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDeploymentBody {
    #[schema(value_type = Object)]
    pub dsl: serde_json::Value,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Value>,
}

/// One version of a deployment (the seed's registry record).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentDto {
    pub customer_id: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_id: String,
    pub version: u32,
    /// RFC 3339, UTC, milliseconds.
    pub created_at: String,
    pub constraints: u64,
    /// The DSL document.
    #[schema(value_type = Object)]
    pub dsl: serde_json::Value,
    /// The verifying key, snarkjs's format.
    #[schema(value_type = Object)]
    pub verifying_key: serde_json::Value,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// `GET /api/deployments/{customer_id}`: the current version, and every version's image id.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentResponse {
    #[serde(flatten)]
    pub current: DeploymentDto,
    /// `[{version, image_id, created_at}]`, oldest first.
    pub versions: Vec<DeploymentVersion>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentVersion {
    pub version: u32,
    pub image_id: String,
    pub created_at: String,
}

/// `POST /api/verify`: check a proof for an image id.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_id: String,
    /// The proof: hex of the 128-byte compressed encoding (`proof` of `/api/prove`), or
    /// snarkjs's `proof.json` object.
    #[schema(value_type = Object)]
    pub proof: serde_json::Value,
    /// The public inputs, decimal strings, in the program's order.
    pub public_inputs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VerifyResponse {
    pub valid: bool,
    pub image_id: String,
}

/// `POST /api/prove`, the seed's plaintext form: the gateway seals the request to the pool on
/// arrival and a worker proves it (docs/DSL.md §9 says what each form trusts).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProveBody {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub customer_id: String,
    #[schema(value_type = Object)]
    pub private_inputs: serde_json::Value,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub public_params: serde_json::Value,
    /// The binding public input (decimal field element); 0 when absent.
    #[serde(default)]
    pub binding: Option<String>,
}

/// The seed's prove response, with the job that made it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProveResponse {
    pub success: bool,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_id: String,
    /// The job that proved it (its receipt is at `GET /api/result/{job_id}`).
    #[schema(format = "uuid")]
    pub job_id: String,
    /// Hex of the 128-byte compressed Groth16 proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
    /// The named outputs, e.g. `{"compliance_result": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub outputs: Option<serde_json::Value>,
    /// Every public input, decimal, in the order a verifier passes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_inputs: Option<Vec<String>>,
    /// The date `today` took (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today: Option<String>,
    /// The enforced rule that does not hold (no proof was made).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_rule: Option<String>,
    /// The request's values that do not fit the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<DslErrorDto>>,
}

/// `POST /api/load-program`: the seed's preload, by customer id.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadProgramBody {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,128}$")]
    pub customer_id: String,
}

/// The answer to `POST /api/load-program`: the ask is recorded; provers load it within a few
/// seconds (`GET /api/status` shows which hold it).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoadProgramResponse {
    pub customer_id: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_id: String,
    /// Provers that reported holding it already.
    pub loaded_by: u32,
}

/// One of the caller's programs held loaded by provers.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LoadedProgram {
    pub customer_id: String,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub image_id: String,
    /// How many provers hold it.
    pub loaded_by: u32,
}

/// `GET /api/status`: the seed's service status with its loaded programs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProverStatus {
    /// `ok` when at least one prover reported within the last 10 s, else `no_provers`.
    pub status: String,
    /// Prover processes that reported within the last 10 s.
    pub provers: u32,
    /// How many of the caller's programs some prover holds loaded.
    pub loaded_programs: u32,
    pub programs: Vec<LoadedProgram>,
    /// Credits one proof costs (0: no payment check), and the caller's balance.
    pub proof_price: u64,
    pub credits: u64,
}

/// `POST /api/admin/tenants/{name}/credits`: credits to add to a tenant's balance.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCreditsBody {
    #[schema(minimum = 1, maximum = 1000000000000_u64)]
    pub amount: u64,
}

/// A tenant's prepaid credits.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CreditsResponse {
    pub tenant: String,
    pub balance: u64,
    /// Credits one proof costs (0: no payment check).
    pub proof_price: u64,
}
