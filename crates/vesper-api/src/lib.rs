//! The HTTP API's wire vocabulary: request and response bodies, the typed error codes with
//! their HTTP statuses, metric names, and the interfaces the gateway reads the worker pool
//! through. One definition per wire type, used by the gateway (server side), `vesper-client`
//! and the OpenAPI document.
//!
//! **Boundary:** no HTTP stack, no runtime, no store: serde and `utoipa`'s derives only, so
//! that `vesper-node` and future SDK crates can depend on it cheaply.

mod dto;
mod error;
pub mod metrics;
mod operator;
pub mod workers;
mod zk;

pub use dto::*;
pub use error::{ApiErrorCode, ErrorBody, ErrorDetail};
pub use operator::*;
pub use zk::*;
