//! API tokens: scopes, generation (256 random bits, `avad_` + base64url), SHA-256 hashes and constant-time checks.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do; each scope includes the ones before it (`read` < `submit` < `admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read jobs, reports and metrics.
    Read,
    /// `read`, plus submit and delete jobs.
    Submit,
    /// Everything.
    Admin,
}

impl Scope {
    /// The scope's name as stored and typed (`read`, `submit`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Submit => "submit",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "submit" => Ok(Self::Submit),
            "admin" => Ok(Self::Admin),
            _ => Err(format!(
                "unknown scope `{s}` (expected read, submit or admin)"
            )),
        }
    }
}

/// The prefix of every token (lets secret scanners recognise them).
pub const PREFIX: &str = "avad_";

/// A new random token: `avad_` followed by 32 bytes from rand's thread generator (ChaCha seeded by the operating
/// system), base64url without padding.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a token: its SHA-256 in lowercase hex (enough for 256-bit random secrets, which need no salt
/// or slow hash).
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `presented_hash` equals `stored_hash`, compared in constant time.
pub fn hashes_match(presented_hash: &str, stored_hash: &str) -> bool {
    presented_hash
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_hash_to_hex() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        // 32 bytes → 43 base64url characters without padding.
        assert_eq!(a.len(), PREFIX.len() + 43);
        let h = hash(&a);
        assert_eq!(h.len(), 64);
        assert!(hashes_match(&h, &hash(&a)));
        assert!(!hashes_match(&h, &hash(&b)));
        assert!(!hashes_match(&h, ""));
    }

    #[test]
    fn scopes_are_ordered_and_parse() {
        assert!(Scope::Read < Scope::Submit && Scope::Submit < Scope::Admin);
        for s in [Scope::Read, Scope::Submit, Scope::Admin] {
            assert_eq!(s.as_str().parse::<Scope>().unwrap(), s);
        }
        assert!("root".parse::<Scope>().is_err());
    }
}
