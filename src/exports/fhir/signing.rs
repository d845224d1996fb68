//! The key that signs FHIR exports: Ed25519, from configuration
//! (`HS_FHIR_SIGNING_KEY`, Base64 of a 32-byte seed) or from the file
//! `fhir-signing.key` in the data directory, which the first use creates
//! readable by its owner only. Several app servers behind one database
//! must share the configured key, or each would sign with its own.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::config::Config;

/// The key file's name inside the data directory.
pub const KEY_FILE: &str = "fhir-signing.key";

/// The private signing key. It cannot be printed.
pub struct ExportKey {
    signing: SigningKey,
}

impl std::fmt::Debug for ExportKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExportKey({}, ****)", self.public().key_id())
    }
}

impl ExportKey {
    /// A key from Base64 of its 32-byte seed. A visibly patterned seed
    /// (all zeros, a counter) is refused: it is not a secret.
    pub fn from_base64(text: &str) -> anyhow::Result<ExportKey> {
        let bytes = decode_base64(text.trim())
            .context("the FHIR signing key must be Base64 of 32 random bytes")?;
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("the FHIR signing key must be 32 bytes"))?;
        let mut distinct = seed.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 16 {
            bail!(
                "the FHIR signing key is too regular to be random; make one with `openssl rand -base64 32`"
            );
        }
        Ok(ExportKey {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// The configured key, or the data directory's key file, created on
    /// first use. Blocking: call it off the async executor.
    pub fn load_or_create(config: &Config) -> anyhow::Result<ExportKey> {
        if let Some(key) = ExportKey::configured(config)? {
            return Ok(key);
        }
        let path = key_path(config);
        match read_key_file(&path)? {
            Some(key) => Ok(key),
            None => create_key_file(&path),
        }
    }

    /// The configured key or an existing key file; never creates one.
    pub fn load_existing(config: &Config) -> anyhow::Result<Option<ExportKey>> {
        if let Some(key) = ExportKey::configured(config)? {
            return Ok(Some(key));
        }
        read_key_file(&key_path(config))
    }

    fn configured(config: &Config) -> anyhow::Result<Option<ExportKey>> {
        config
            .fhir_signing_key
            .as_ref()
            .map(|text| ExportKey::from_base64(&text.0).context("reading HS_FHIR_SIGNING_KEY"))
            .transpose()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key())
    }

    /// The raw 64-byte Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }
}

/// The public half, as published at `GET /api/export/fhir/public-key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Reads a public key given as Base64 (standard or URL-safe, padded
    /// or not) of its 32 bytes, or as the JSON the public-key route
    /// answers (its `public_key`, or a JWK's `x`).
    pub fn parse(text: &str) -> Result<PublicKey, String> {
        let text = text.trim();
        let encoded = if text.starts_with('{') {
            let value: Value = serde_json::from_str(text)
                .map_err(|_| "the public key file is not valid JSON".to_owned())?;
            ["/public_key", "/jwk/x", "/x"]
                .iter()
                .find_map(|p| value.pointer(p).and_then(Value::as_str))
                .ok_or("the JSON holds no `public_key` or JWK `x`")?
                .to_owned()
        } else {
            text.to_owned()
        };
        let bytes = decode_base64(&encoded).map_err(|_| "the public key is not Base64")?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "an Ed25519 public key is 32 bytes".to_owned())?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| "the bytes are not an Ed25519 public key".to_owned())
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Standard Base64 of the 32 raw bytes.
    pub fn to_base64(&self) -> String {
        BASE64.encode(&self.to_bytes())
    }

    /// The JWK thumbprint (RFC 7638, SHA-256): a short, stable name for
    /// the key that a verifier can compare with the published one.
    pub fn key_id(&self) -> String {
        let x = BASE64URL_NOPAD.encode(&self.to_bytes());
        // RFC 7638 fixes the members and their order for an OKP key.
        let members = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        BASE64URL_NOPAD.encode(&Sha256::digest(members.as_bytes()))
    }

    /// The key as a JSON Web Key (RFC 8037).
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": BASE64URL_NOPAD.encode(&self.to_bytes()),
            "kid": self.key_id(),
            "use": "sig",
            "alg": "EdDSA",
        })
    }

    /// Checks a raw 64-byte signature. Strict verification refuses the
    /// malleable and small-order forms that plain Ed25519 lets through.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.0
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, data_encoding::DecodeError> {
    let bytes = text.as_bytes();
    BASE64
        .decode(bytes)
        .or_else(|_| BASE64_NOPAD.decode(bytes))
        .or_else(|_| BASE64URL.decode(bytes))
        .or_else(|_| BASE64URL_NOPAD.decode(bytes))
}

fn key_path(config: &Config) -> PathBuf {
    config.data_dir.join(KEY_FILE)
}

/// The key in `path`, if the file exists. A key file that others can read
/// is refused rather than used: the key may already have leaked.
fn read_key_file(path: &Path) -> anyhow::Result<Option<ExportKey>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| format!("reading {}", path.display()));
        }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("reading the permissions of {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by others (mode {:o}); make it owner-only with chmod 600",
                path.display(),
                mode & 0o777
            );
        }
    }
    ExportKey::from_base64(&text)
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

/// Writes a fresh key to `path` without ever exposing a partly written
/// file: the key goes to a private temporary file first, which is then
/// hard-linked into place. Linking fails if another process created the
/// key meanwhile, and then that key is used.
fn create_key_file(path: &Path) -> anyhow::Result<ExportKey> {
    let seed = crate::crypto::random_bytes(32);
    let key = ExportKey::from_base64(&BASE64.encode(&seed))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let temp = dir.join(format!(
        ".{KEY_FILE}.{}",
        crate::crypto::random_token(9).replace(['-', '_'], "x")
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(format!("{}\n", BASE64.encode(&seed)).as_bytes())?;
            file.sync_all()
        })
        .with_context(|| format!("writing a new key file in {}", dir.display()));
    let linked = written.and_then(|()| match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    });
    let _ = std::fs::remove_file(&temp);
    if !linked? {
        return read_key_file(path)?
            .with_context(|| format!("{} vanished while it was read", path.display()));
    }
    // The new name must survive a crash as well as the content.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(key_id = %key.public().key_id(), "created the FHIR export signing key");
    Ok(key)
}
