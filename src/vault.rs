//! Encryption at rest of patients' free text (SPEC §14).
//!
//! Each patient has a random 256-bit data key. It is stored only wrapped
//! (encrypted) under the master key, which comes from configuration or
//! from a key file the first start creates with owner-only permissions.
//! Free text is sealed with ChaCha20-Poly1305 under the patient's key, with
//! the patient id and the field name as associated data, so a ciphertext
//! moved to another row or another patient fails to open. Deleting the
//! wrapped key (erasure) makes all of that patient's text unreadable at
//! once, backups included.

use std::path::Path;

use anyhow::{Context, bail};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use data_encoding::BASE64;

use crate::crypto::random_bytes;
use crate::db::Db;
use crate::error::{AppError, AppResult};

/// Marks a sealed value; anything else in a text column is legacy plain text.
const PREFIX: &str = "enc:v1:";
const KEY_FILE: &str = "master.key";

/// The master key, able to wrap and unwrap patients' keys.
#[derive(Clone)]
pub struct Vault {
    master: ChaCha20Poly1305,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(****)")
    }
}

/// Decodes a Base64 master key and refuses a weak one: it must be 32
/// bytes, and not a visibly patterned value such as all zeros.
pub fn parse_master_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = BASE64
        .decode(text.trim().as_bytes())
        .context("the master key must be Base64")?;
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the master key must be 32 bytes (44 Base64 characters)"))?;
    let mut distinct = key.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 16 {
        bail!(
            "the master key is too regular to be random; make one with `openssl rand -base64 32`"
        );
    }
    Ok(key)
}

impl Vault {
    /// The master key from configuration, or from the key file in the data
    /// directory, created (mode 0600) when missing. With `require_configured`
    /// (production mode) only a configured, strong key is accepted.
    pub fn load(
        configured: Option<&str>,
        data_dir: &Path,
        require_configured: bool,
    ) -> anyhow::Result<Vault> {
        let key = match configured {
            Some(text) => parse_master_key(text)?,
            None if require_configured => {
                bail!(
                    "production mode needs a master key in HS_MASTER_KEY (32 random bytes, Base64)"
                )
            }
            None => load_or_create_key_file(&data_dir.join(KEY_FILE))?,
        };
        Ok(Vault {
            master: ChaCha20Poly1305::new(Key::from_slice(&key)),
        })
    }

    /// The patient's data key, made on first use.
    pub async fn key(&self, db: &Db, patient_id: i64) -> AppResult<PatientKey> {
        let wrapped = self.wrapped(db, patient_id).await?;
        self.key_from(db, patient_id, wrapped).await
    }

    /// The patient's data key from its wrapped form, already read by the
    /// caller's own query (or made now when there is none yet).
    pub async fn key_from(
        &self,
        db: &Db,
        patient_id: i64,
        wrapped: Option<String>,
    ) -> AppResult<PatientKey> {
        let wrapped = match wrapped {
            Some(w) => w,
            None => {
                let fresh = random_bytes(32);
                let wrapped = seal_raw(&self.master, &wrap_aad(patient_id), &fresh);
                sqlx::query(
                    "INSERT INTO patient_keys (patient_id, wrapped_key, created_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (patient_id) DO NOTHING",
                )
                .bind(patient_id)
                .bind(&wrapped)
                .bind(jiff::Timestamp::now().as_second())
                .execute(db.pool())
                .await?;
                // Another request may have won the race: use whatever is stored.
                self.wrapped(db, patient_id)
                    .await?
                    .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a patient key vanished")))?
            }
        };
        let raw = open_raw(&self.master, &wrap_aad(patient_id), &wrapped).ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "a patient key does not open with this master key"
            ))
        })?;
        Ok(PatientKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&raw)),
            patient_id,
        })
    }

    async fn wrapped(&self, db: &Db, patient_id: i64) -> AppResult<Option<String>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT wrapped_key FROM patient_keys WHERE patient_id = $1")
                .bind(patient_id)
                .fetch_optional(db.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }
}

fn wrap_aad(patient_id: i64) -> String {
    format!("patient-key:{patient_id}")
}

fn load_or_create_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the master key file {}", path.display()))?;
        return parse_master_key(&text)
            .with_context(|| format!("reading the master key file {}", path.display()));
    }
    let key: [u8; 32] = random_bytes(32)
        .try_into()
        .map_err(|_| anyhow::anyhow!("the random source gave a short key"))?;
    write_private(path, &BASE64.encode(&key))?;
    Ok(key)
}

/// Writes a new file readable by its owner only, failing if it exists.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn seal_raw(cipher: &ChaCha20Poly1305, aad: &str, plain: &[u8]) -> String {
    let nonce_bytes = random_bytes(12);
    let nonce = Nonce::from_slice(&nonce_bytes);
    let sealed = cipher
        .encrypt(
            nonce,
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        .expect("ChaCha20-Poly1305 encryption does not fail for in-memory input");
    let mut out = nonce_bytes;
    out.extend_from_slice(&sealed);
    BASE64.encode(&out)
}

fn open_raw(cipher: &ChaCha20Poly1305, aad: &str, stored: &str) -> Option<Vec<u8>> {
    let bytes = BASE64.decode(stored.as_bytes()).ok()?;
    if bytes.len() < 12 + 16 {
        return None;
    }
    let (nonce, sealed) = bytes.split_at(12);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: aad.as_bytes(),
            },
        )
        .ok()
}

/// One patient's data key, held only for the request that needs it.
#[derive(Clone)]
pub struct PatientKey {
    cipher: ChaCha20Poly1305,
    patient_id: i64,
}

impl std::fmt::Debug for PatientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PatientKey({}, ****)", self.patient_id)
    }
}

impl PatientKey {
    fn aad(&self, field: &str) -> String {
        format!("{}:{field}", self.patient_id)
    }

    /// Seals `plain` for storage in `field` (e.g. "mood.note").
    pub fn seal(&self, field: &str, plain: &str) -> String {
        format!(
            "{PREFIX}{}",
            seal_raw(&self.cipher, &self.aad(field), plain.as_bytes())
        )
    }

    pub fn seal_opt(&self, field: &str, plain: Option<&str>) -> Option<String> {
        plain.map(|p| self.seal(field, p))
    }

    /// Opens a stored value of `field`. Values written before encryption
    /// existed are returned as they are.
    pub fn open(&self, field: &str, stored: &str) -> AppResult<String> {
        let Some(sealed) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        open_raw(&self.cipher, &self.aad(field), sealed)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!(
                    "a stored {field} does not open with the patient's key"
                ))
            })
    }

    pub fn open_opt(&self, field: &str, stored: Option<String>) -> AppResult<Option<String>> {
        stored.map(|s| self.open(field, &s)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64, seed: u8) -> PatientKey {
        PatientKey {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&[seed; 32])),
            patient_id: id,
        }
    }

    #[test]
    fn sealed_text_opens_only_in_its_place() {
        let k = key(7, 1);
        let sealed = k.seal("mood.note", "a private note");
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("private"));
        assert_eq!(k.open("mood.note", &sealed).unwrap(), "a private note");
        assert!(k.open("journal.body", &sealed).is_err(), "another field");
        assert!(
            key(8, 1).open("mood.note", &sealed).is_err(),
            "another patient"
        );
        assert!(key(7, 2).open("mood.note", &sealed).is_err(), "another key");
        assert_eq!(k.open("mood.note", "legacy").unwrap(), "legacy");
        assert_ne!(
            k.seal("f", "same"),
            k.seal("f", "same"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn weak_master_keys_are_refused() {
        assert!(parse_master_key(&BASE64.encode(&[0u8; 32])).is_err());
        assert!(parse_master_key("not base64!").is_err());
        assert!(parse_master_key(&BASE64.encode(&[1u8; 16])).is_err());
        let good: Vec<u8> = (0..32).collect();
        assert!(parse_master_key(&BASE64.encode(&good)).is_ok());
    }
}
