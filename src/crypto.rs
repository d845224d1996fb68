//! Small cryptographic helpers: random tokens, hashes of tokens, password
//! hashing and TOTP. Password hashing is CPU-heavy and always runs on the
//! blocking thread pool.

use std::sync::OnceLock;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD, HEXLOWER};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Argon2id parameters for new hashes: 19 MiB, two passes, one lane.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_ITERATIONS: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

/// `n` bytes from the operating system's generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    OsRng.fill_bytes(&mut buf);
    buf
}

/// A URL-safe token carrying `bytes` random bytes (32 bytes = 256 bits).
pub fn random_token(bytes: usize) -> String {
    BASE64URL_NOPAD.encode(&random_bytes(bytes))
}

/// A string of `digits` random decimal digits.
pub fn random_digits(digits: usize) -> String {
    (0..digits)
        .map(|_| char::from(b'0' + (OsRng.next_u32() % 10) as u8))
        .collect()
}

/// SHA-256 of a token as lower-case hex: what the database keeps instead
/// of session ids, reset tokens and one-time codes.
pub fn sha256_hex(value: &str) -> String {
    HEXLOWER.encode(&Sha256::digest(value.as_bytes()))
}

/// Compares two strings without leaking where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_LANES, None)
        .expect("the built-in Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// At most one Argon2 computation per CPU at a time. Each takes 19 MiB;
/// without a bound a burst of logins allocates that many times over (and
/// the allocator keeps it), while the extra parallelism buys nothing.
fn argon2_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cpus)
    })
}

/// Hashes a secret (password or PIN) with Argon2id on the blocking pool.
pub async fn hash_secret(secret: String) -> anyhow::Result<String> {
    let _permit = argon2_permits()
        .acquire()
        .await
        .context("the hashing semaphore closed")?;
    tokio::task::spawn_blocking(move || hash_secret_blocking(&secret))
        .await
        .context("password hashing task failed")?
}

pub fn hash_secret_blocking(secret: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&random_bytes(16))
        .map_err(|e| anyhow::anyhow!("making a salt: {e}"))?;
    let hash = argon2()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing a secret: {e}"))?;
    Ok(hash.to_string())
}

/// The outcome of checking a secret against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but the hash uses older parameters or an older scheme and
    /// should be replaced.
    YesRehash,
}

/// Verifies `secret` against a stored PHC string on the blocking pool. A
/// malformed stored hash counts as a mismatch, never as an error a client
/// could observe.
pub async fn verify_secret(secret: String, stored: String) -> Verified {
    let Ok(_permit) = argon2_permits().acquire().await else {
        return Verified::No;
    };
    tokio::task::spawn_blocking(move || verify_secret_blocking(&secret, &stored))
        .await
        .unwrap_or(Verified::No)
}

pub fn verify_secret_blocking(secret: &str, stored: &str) -> Verified {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified::No;
    };
    // Argon2 reads the algorithm and parameters from the hash itself, so
    // argon2i, argon2d and weaker argon2id hashes all verify here.
    if Argon2::default()
        .verify_password(secret.as_bytes(), &parsed)
        .is_err()
    {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(Version::V0x13 as u32)
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() >= ARGON2_MEMORY_KIB
                && p.t_cost() >= ARGON2_ITERATIONS
                && p.p_cost() >= ARGON2_LANES
        });
    if current {
        Verified::Yes
    } else {
        Verified::YesRehash
    }
}

/// A hash of a random secret, verified against when the account does not
/// exist so that the answer takes as long as for a real account.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_secret_blocking(&random_token(16)).expect("hashing a random secret cannot fail")
    })
}

/// RFC 6238 time-based one-time passwords: HMAC-SHA-1, 6 digits, 30 s.
pub mod totp {
    use super::*;

    pub const STEP_SECONDS: i64 = 30;

    /// A new 160-bit secret, Base32 encoded as authenticator apps expect.
    pub fn new_secret() -> String {
        BASE32_NOPAD.encode(&random_bytes(20))
    }

    /// The `otpauth://` URI an authenticator app scans.
    pub fn provisioning_uri(secret: &str, account: &str) -> String {
        format!(
            "otpauth://totp/Healing%20Space:{account}?secret={secret}&issuer=Healing%20Space\
             &algorithm=SHA1&digits=6&period=30"
        )
    }

    /// The code for time step `step` (RFC 4226 dynamic truncation).
    pub fn code_at_step(secret: &str, step: i64) -> Option<String> {
        let key = BASE32_NOPAD.decode(secret.as_bytes()).ok()?;
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&key).ok()?;
        mac.update(&(step as u64).to_be_bytes());
        let digest = mac.finalize().into_bytes();
        let offset = (digest[19] & 0x0f) as usize;
        let binary = u32::from_be_bytes([
            digest[offset] & 0x7f,
            digest[offset + 1],
            digest[offset + 2],
            digest[offset + 3],
        ]);
        Some(format!("{:06}", binary % 1_000_000))
    }

    /// The code valid at `unix_seconds`.
    pub fn code_at(secret: &str, unix_seconds: i64) -> Option<String> {
        code_at_step(secret, unix_seconds.div_euclid(STEP_SECONDS))
    }

    /// Checks `code` at `now`, allowing one step of drift either way.
    /// Returns the matched step, which the caller stores and refuses to
    /// accept again (a code is valid once).
    pub fn verify(secret: &str, code: &str, now: i64, last_step: Option<i64>) -> Option<i64> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(STEP_SECONDS);
        let mut matched = None;
        for step in [current - 1, current, current + 1] {
            if let Some(expected) = code_at_step(secret, step) {
                // Check every candidate so timing does not show which matched.
                if constant_time_eq(&expected, code) && matched.is_none() {
                    matched = Some(step);
                }
            }
        }
        matched.filter(|step| last_step.is_none_or(|last| *step > last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc_6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret "12345678901234567890"; the
        // RFC prints 8 digits and a 6-digit code is their last six.
        let secret = BASE32_NOPAD.encode(b"12345678901234567890");
        assert_eq!(totp::code_at(&secret, 59).unwrap(), "287082");
        assert_eq!(totp::code_at(&secret, 1111111109).unwrap(), "081804");
        assert_eq!(totp::code_at(&secret, 2000000000).unwrap(), "279037");
    }

    #[test]
    fn totp_refuses_replay_and_far_drift() {
        let secret = totp::new_secret();
        let now = 1_800_000_000;
        let code = totp::code_at(&secret, now).unwrap();
        let step = totp::verify(&secret, &code, now, None).expect("current code");
        assert_eq!(totp::verify(&secret, &code, now, Some(step)), None);
        assert!(totp::verify(&secret, &code, now + 30, None).is_some());
        assert_eq!(totp::verify(&secret, &code, now + 90, None), None);
        assert_eq!(totp::verify(&secret, "12345", now, None), None);
    }

    #[test]
    fn weaker_argon2_hash_verifies_and_asks_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let stored = weak
            .hash_password(b"S3cret!pass", &salt)
            .unwrap()
            .to_string();
        assert_eq!(
            verify_secret_blocking("S3cret!pass", &stored),
            Verified::YesRehash
        );
        assert_eq!(verify_secret_blocking("wrong", &stored), Verified::No);
        let fresh = hash_secret_blocking("S3cret!pass").unwrap();
        assert_eq!(verify_secret_blocking("S3cret!pass", &fresh), Verified::Yes);
        assert_eq!(verify_secret_blocking("x", "not a hash"), Verified::No);
    }
}
