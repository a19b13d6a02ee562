//! Ed25519 keys: the writer's signing key, the verifier's public key, and the short id a
//! digest names its signer by.
//!
//! Both read the forms operators already have: PKCS#8 / SPKI PEM (what `openssl genpkey
//! -algorithm ed25519` and `openssl pkey -pubout` write) or the 32 raw bytes in hex. A signing
//! key is never printed, compared in reports or put in an error.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sha2::{Digest as _, Sha256};

use super::digest::{hex, unhex};

/// The environment variable holding the signing key itself (PEM or 64 hex digits).
pub const KEY_ENV: &str = "ACTIONLOG_AUDIT_KEY";
/// The environment variable naming a file that holds the signing key.
pub const KEY_FILE_ENV: &str = "ACTIONLOG_AUDIT_KEY_FILE";

/// Why a key cannot be used. The key's text is never part of it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read the key file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not a key of this kind.
    #[error("{0} is not an Ed25519 {1} (PKCS#8 PEM or 64 hex digits)")]
    Format(String, &'static str),
    /// No randomness for a new key.
    #[error("the operating system gave no randomness for a new key")]
    NoRandom,
}

/// The short id of a public key: the first 8 bytes of its SHA-256, in hex.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl FromStr for KeyId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        unhex::<8>(s).map(KeyId).ok_or(())
    }
}

/// The key digests are signed with. Its `Debug` shows only its [`KeyId`].
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SigningKey").field(&self.id()).finish()
    }
}

/// The key digests are checked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl SigningKey {
    /// A new key from the operating system's random source.
    ///
    /// # Errors
    /// [`KeyError::NoRandom`].
    pub fn generate() -> Result<SigningKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| KeyError::NoRandom)?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Reads a key from text: PKCS#8 PEM, or the 32-byte seed as 64 hex digits. `what` names
    /// where it came from in the error.
    ///
    /// # Errors
    /// [`KeyError::Format`].
    pub fn from_text(text: &str, what: &str) -> Result<SigningKey, KeyError> {
        let t = text.trim();
        if t.starts_with("-----BEGIN") {
            return ed25519_dalek::SigningKey::from_pkcs8_pem(t)
                .map(SigningKey)
                .map_err(|_| KeyError::Format(what.to_owned(), "private key"));
        }
        unhex::<32>(t)
            .map(|b| SigningKey(ed25519_dalek::SigningKey::from_bytes(&b)))
            .ok_or_else(|| KeyError::Format(what.to_owned(), "private key"))
    }

    /// Reads a key file (see [`Self::from_text`]).
    ///
    /// # Errors
    /// [`KeyError`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<SigningKey, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// The key named by the environment: [`KEY_ENV`] holding the key, or [`KEY_FILE_ENV`]
    /// naming its file; `None` when neither is set.
    ///
    /// ```
    /// // SAFETY: a doctest runs alone in its process.
    /// unsafe { std::env::remove_var("ACTIONLOG_AUDIT_KEY") };
    /// unsafe { std::env::remove_var("ACTIONLOG_AUDIT_KEY_FILE") };
    /// assert!(actionlog::audit::SigningKey::from_env().unwrap().is_none());
    /// ```
    ///
    /// # Errors
    /// [`KeyError`] naming the variable (never its value).
    pub fn from_env() -> Result<Option<SigningKey>, KeyError> {
        if let Some(v) = std::env::var_os(KEY_ENV).filter(|v| !v.is_empty()) {
            let text = v
                .into_string()
                .map_err(|_| KeyError::Format(KEY_ENV.to_owned(), "private key"))?;
            return Self::from_text(&text, KEY_ENV).map(Some);
        }
        match std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty()) {
            Some(p) => Self::from_file(p).map(Some),
            None => Ok(None),
        }
    }

    /// Its public key.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The id digests name it by.
    #[must_use]
    pub fn id(&self) -> KeyId {
        self.public().id()
    }

    /// The key as PKCS#8 PEM, for a key file.
    ///
    /// # Errors
    /// [`KeyError::Format`] (not expected for a valid key).
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_pkcs8_pem(Default::default())
            .map(|p| p.to_string())
            .map_err(|_| KeyError::Format("the key".into(), "private key"))
    }

    pub(crate) fn inner(&self) -> &ed25519_dalek::SigningKey {
        &self.0
    }
}

impl PublicKey {
    /// Reads a public key: SPKI PEM, or its 32 bytes as 64 hex digits.
    ///
    /// # Errors
    /// [`KeyError::Format`].
    pub fn from_text(text: &str, what: &str) -> Result<PublicKey, KeyError> {
        let t = text.trim();
        let k = if t.starts_with("-----BEGIN") {
            ed25519_dalek::VerifyingKey::from_public_key_pem(t).ok()
        } else {
            unhex::<32>(t).and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
        };
        k.map(PublicKey)
            .ok_or_else(|| KeyError::Format(what.to_owned(), "public key"))
    }

    /// Reads a public key file (see [`Self::from_text`]).
    ///
    /// # Errors
    /// [`KeyError`].
    pub fn from_file(path: impl AsRef<Path>) -> Result<PublicKey, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// The key as SPKI PEM.
    ///
    /// # Errors
    /// [`KeyError::Format`] (not expected for a valid key).
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_public_key_pem(Default::default())
            .map_err(|_| KeyError::Format("the key".into(), "public key"))
    }

    /// Its id.
    #[must_use]
    pub fn id(&self) -> KeyId {
        let h = Sha256::digest(self.0.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&h[..8]);
        KeyId(id)
    }

    pub(crate) fn inner(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_from_pem_and_hex_and_never_show() {
        let k = SigningKey::generate().unwrap();
        let pem = k.to_pem().unwrap();
        let back = SigningKey::from_text(&pem, "test").unwrap();
        assert_eq!(back.id(), k.id());
        let hex_seed = hex(&k.inner().to_bytes());
        assert_eq!(SigningKey::from_text(&hex_seed, "t").unwrap().id(), k.id());
        let p = PublicKey::from_text(&k.public().to_pem().unwrap(), "p").unwrap();
        assert_eq!(p, k.public());
        assert!(!format!("{k:?}").contains(&hex_seed));
        let e = SigningKey::from_text("not a key", "ACTIONLOG_AUDIT_KEY").unwrap_err();
        assert!(
            e.to_string().contains("ACTIONLOG_AUDIT_KEY") && !e.to_string().contains("not a key")
        );
    }
}
