//! What a credential may do. Stored as a comma-separated list (`submit,read`).

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// One permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Submit and cancel jobs, upload programs.
    Submit,
    /// Read job status, results, listings and the live stream.
    Read,
    /// Tenant and credential administration.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Submit, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Submit => "submit",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
    fn bit(self) -> u8 {
        match self {
            Scope::Submit => 1,
            Scope::Read => 2,
            Scope::Admin => 4,
        }
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// What a new key gets unless told otherwise: everything but administration.
    pub const DEFAULT: Scopes = Scopes(1 | 2);
    pub const ALL: Scopes = Scopes(1 | 2 | 4);

    pub fn contains(self, s: Scope) -> bool {
        self.0 & s.bit() != 0
    }
    pub fn with(self, s: Scope) -> Scopes {
        Scopes(self.0 | s.bit())
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::ALL
            .iter()
            .filter(|s| self.contains(**s))
            .map(|s| s.as_str())
            .collect();
        f.write_str(&names.join(","))
    }
}
impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scopes({self})")
    }
}

impl FromStr for Scopes {
    type Err = CoreError;
    /// `submit,read,admin` in any order; unknown names and empty lists are errors.
    fn from_str(s: &str) -> Result<Self, CoreError> {
        let mut out = Scopes(0);
        for name in s.split(',').map(str::trim) {
            let scope = Scope::ALL
                .into_iter()
                .find(|x| x.as_str() == name)
                .ok_or(CoreError::Invalid { what: "scope" })?;
            out = out.with(scope);
        }
        if out.is_empty() {
            return Err(CoreError::Invalid { what: "scope" });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_membership() {
        let s: Scopes = "read, admin".parse().unwrap();
        assert!(s.contains(Scope::Read) && s.contains(Scope::Admin));
        assert!(!s.contains(Scope::Submit));
        assert_eq!(s.to_string(), "read,admin");
        assert_eq!(Scopes::DEFAULT.to_string(), "submit,read");
        assert_eq!(
            Scopes::ALL.to_string().parse::<Scopes>().unwrap(),
            Scopes::ALL
        );
    }

    #[test]
    fn rejects_unknown_and_empty() {
        assert!("".parse::<Scopes>().is_err());
        assert!("read,root".parse::<Scopes>().is_err());
        assert!("Submit".parse::<Scopes>().is_err());
    }
}
