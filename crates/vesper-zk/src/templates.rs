//! The template gallery (`templates/*.json` in the repository), embedded: for the gateway's
//! console, `vesper zk bench` and tests.

/// (use case, DSL document) of every template.
pub const TEMPLATES: [(&str, &str); 5] = [
    (
        "age_verification",
        include_str!("../../../templates/age_verification.json"),
    ),
    (
        "income_threshold",
        include_str!("../../../templates/income_threshold.json"),
    ),
    (
        "country_allowed",
        include_str!("../../../templates/country_allowed.json"),
    ),
    (
        "credit_score_range",
        include_str!("../../../templates/credit_score_range.json"),
    ),
    (
        "kyc_credential",
        include_str!("../../../templates/kyc_credential.json"),
    ),
];
