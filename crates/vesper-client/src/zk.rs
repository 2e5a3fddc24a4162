//! The proof gateway's routes (docs/DSL.md §9): deploy a rule program, read a deployment,
//! prove in the seed's plaintext form, verify. The sealed form is an ordinary job
//! ([`crate::seal_job`] with [`vesper_core::WorkloadType::ZkProof`]).

use vesper_api::{
    DeployBody, DeployResponse, DeploymentResponse, ProveBody, ProveResponse, VerifyBody,
    VerifyResponse,
};

use crate::{Client, ClientError};

impl Client {
    /// `POST /api/deploy`: validate, compile, make keys and register.
    pub async fn deploy(
        &self,
        dsl: serde_json::Value,
        customer_id: Option<String>,
    ) -> Result<DeployResponse, ClientError> {
        let body = DeployBody {
            dsl,
            customer_id,
            metadata: None,
        };
        Self::parse(
            self.req(reqwest::Method::POST, "/api/deploy")
                .json(&body)
                .send()
                .await?,
        )
        .await
    }

    /// `GET /api/deployments/{customer_id}`.
    pub async fn deployment(&self, customer_id: &str) -> Result<DeploymentResponse, ClientError> {
        if customer_id.is_empty()
            || !customer_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(ClientError::Malformed("customer id"));
        }
        Self::parse(
            self.req(
                reqwest::Method::GET,
                &format!("/api/deployments/{customer_id}"),
            )
            .send()
            .await?,
        )
        .await
    }

    /// `POST /api/prove`, the seed's plaintext form (the gateway sees the private inputs).
    pub async fn prove_plain(&self, body: &ProveBody) -> Result<ProveResponse, ClientError> {
        Self::parse(
            self.req(reqwest::Method::POST, "/api/prove")
                .json(body)
                .send()
                .await?,
        )
        .await
    }

    /// `POST /api/verify`.
    pub async fn verify_proof(&self, body: &VerifyBody) -> Result<VerifyResponse, ClientError> {
        Self::parse(
            self.req(reqwest::Method::POST, "/api/verify")
                .json(body)
                .send()
                .await?,
        )
        .await
    }
}
