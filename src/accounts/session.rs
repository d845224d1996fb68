//! Server-side sessions (SPEC §2) and the CSRF check that is bound to them.
//!
//! The cookie carries 256 random bits; the database keeps only their
//! SHA-256, so a copy of the database cannot be replayed as a cookie. Every
//! request re-reads the session together with its user, so an ended
//! session, a disabled user or a timeout takes effect at once.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::accounts::types::Role;
use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::error::{AppError, AppResult};

pub const COOKIE_NAME: &str = "hs_session";

/// Seconds between writes of `last_seen_at`, so that reads do not each
/// cost a write. The idle timeout is therefore exact to within a minute.
const TOUCH_EVERY: i64 = 60;

/// The logged-in user of this request, read from the session.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub status: String,
    pub display_name: String,
    pub time_zone: String,
    pub totp_enabled: bool,
    pub session_hash: String,
    pub csrf_token: String,
}

/// What the session layer found, left in the request extensions.
#[derive(Debug, Clone)]
pub enum SessionLookup {
    /// No session cookie.
    Anonymous,
    /// A cookie whose session timed out, was ended, or never existed.
    Ended,
    Active(Box<CurrentUser>),
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    user_id: i64,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
    username: String,
    role: String,
    status: String,
    display_name: String,
    time_zone: String,
    totp_secret: Option<String>,
}

/// The session cookie's value, if the request has one.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A new session for `user_id`: returns the cookie value and CSRF token.
pub async fn create(state: &AppState, user_id: i64) -> AppResult<(String, String)> {
    let id = random_token(32);
    let csrf = random_token(32);
    let now = state.clock.now();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(sha256_hex(&id))
    .bind(user_id)
    .bind(&csrf)
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok((id, csrf))
}

/// Ends one session.
pub async fn revoke(state: &AppState, session_hash: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(session_hash)
        .execute(state.db.pool())
        .await?;
    Ok(())
}

/// Ends every session of a user (password change or reset, disabling).
pub async fn revoke_all(state: &AppState, user_id: i64) -> AppResult<u64> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(state.db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// The `Set-Cookie` value that hands `value` to the browser.
pub fn set_cookie(state: &AppState, value: &str) -> HeaderValue {
    let secure = if state.config.tls { "; Secure" } else { "" };
    let max_age = state.config.session_absolute.as_secs();
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("a base64url token is a valid header value")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}"
    ))
    .expect("a constant header value")
}

async fn lookup(state: &AppState, cookie: &str) -> AppResult<SessionLookup> {
    let hash = sha256_hex(cookie);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.user_id, s.csrf_token, s.created_at, s.last_seen_at, u.username, u.role, \
         u.status, u.display_name, u.time_zone, u.totp_secret \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(SessionLookup::Ended);
    };
    let now = state.clock.now();
    let idle = state.config.session_idle.as_secs() as i64;
    let absolute = state.config.session_absolute.as_secs() as i64;
    let expired = now - row.last_seen_at >= idle || now - row.created_at >= absolute;
    if expired || row.status == "disabled" {
        revoke(state, &hash).await?;
        return Ok(SessionLookup::Ended);
    }
    if now - row.last_seen_at >= TOUCH_EVERY {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(&hash)
            .execute(state.db.pool())
            .await?;
    }
    Ok(SessionLookup::Active(Box::new(CurrentUser {
        id: row.user_id,
        username: row.username,
        role: Role::parse(&row.role).unwrap_or(Role::Patient),
        status: row.status,
        display_name: row.display_name,
        time_zone: row.time_zone,
        totp_enabled: row.totp_secret.is_some(),
        session_hash: hash,
        csrf_token: row.csrf_token,
    })))
}

/// Loads the session of every request into its extensions, and tells the
/// browser to drop a cookie whose session has ended.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let found = match cookie_value(req.headers()) {
        None => SessionLookup::Anonymous,
        Some(cookie) => match lookup(&state, &cookie).await {
            Ok(found) => found,
            Err(err) => return err.into_response(),
        },
    };
    if let SessionLookup::Active(user) = &found {
        tracing::Span::current().record("user.id", user.id);
    }
    let ended = matches!(found, SessionLookup::Ended);
    req.extensions_mut().insert(found);
    let mut response = next.run(req).await;
    if ended && !response.headers().contains_key(SET_COOKIE) {
        response
            .headers_mut()
            .insert(SET_COOKIE, clear_cookie(&state));
    }
    response
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// True when `Origin` or `Sec-Fetch-Site` shows the request was sent by a
/// page of another site.
fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match fetch_site.as_deref() {
        Some("cross-site") => return true,
        // Set by the browser itself, which scripts cannot forge; it wins
        // over an `Origin: null` that a no-referrer policy can cause.
        Some("same-origin") => return false,
        _ => {}
    }
    let Some(origin) = headers.get("origin") else {
        return false;
    };
    let host = headers.get("host").and_then(|v| v.to_str().ok());
    let origin = origin.to_str().unwrap_or("null");
    // "null" is sent by sandboxed frames and some redirects: never ours.
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match (authority, host) {
        (Some(authority), Some(host)) => !authority.eq_ignore_ascii_case(host),
        _ => true,
    }
}

/// CSRF protection for every state-changing request: cross-site origins
/// are refused outright, and a logged-in session must present its token in
/// `X-CSRF-Token`. Too many failures end the session.
pub async fn csrf_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !is_unsafe(req.method()) {
        return next.run(req).await;
    }
    if cross_site(req.headers()) {
        return AppError::csrf_failed().into_response();
    }
    let Some(SessionLookup::Active(user)) = req.extensions().get::<SessionLookup>().cloned() else {
        return next.run(req).await;
    };
    let header = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (presented, req) = match header {
        Some(token) => (token, req),
        // HTML forms cannot set headers: they send the token as a field.
        None if is_form(req.headers()) => match form_token(req, state.config.json_body_limit).await
        {
            Ok(found) => found,
            Err(response) => return response,
        },
        None => (String::new(), req),
    };
    if !constant_time_eq(&presented, &user.csrf_token) {
        if let Err(err) = count_csrf_failure(&state, &user.session_hash).await {
            return err.into_response();
        }
        return AppError::csrf_failed().into_response();
    }
    next.run(req).await
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Reads the `csrf_token` field of a form body and puts the body back for
/// the handler.
async fn form_token(req: Request, limit: usize) -> Result<(String, Request), Response> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| AppError::PayloadTooLarge.into_response())?;
    let token = form_urlencoded_field(&bytes, "csrf_token").unwrap_or_default();
    Ok((
        token,
        Request::from_parts(parts, axum::body::Body::from(bytes)),
    ))
}

/// The first value of `name` in an `application/x-www-form-urlencoded` body.
fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

async fn count_csrf_failure(state: &AppState, session_hash: &str) -> AppResult<()> {
    let failures: Option<(i64,)> = sqlx::query_as(
        "UPDATE sessions SET csrf_failures = csrf_failures + 1 WHERE id_hash = $1 \
         RETURNING csrf_failures",
    )
    .bind(session_hash)
    .fetch_optional(state.db.pool())
    .await?;
    if failures.is_some_and(|(n,)| n > i64::from(state.config.csrf_failure_limit)) {
        revoke(state, session_hash).await?;
        tracing::warn!("session ended after repeated CSRF failures");
    }
    Ok(())
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        match parts.extensions.get::<SessionLookup>() {
            Some(SessionLookup::Active(user)) => Ok((**user).clone()),
            Some(SessionLookup::Ended) => Err(AppError::SessionExpired),
            _ => Err(AppError::Unauthorized),
        }
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, AppError> {
        Ok(match parts.extensions.get::<SessionLookup>() {
            Some(SessionLookup::Active(user)) => Some((**user).clone()),
            _ => None,
        })
    }
}

/// A logged-in patient.
pub struct PatientUser(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for PatientUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.role != Role::Patient {
            return Err(AppError::forbidden());
        }
        Ok(PatientUser(user))
    }
}

/// A clinician who has been activated and has enrolled TOTP: the only
/// kind of clinician that may be served patient data.
pub struct ClinicianUser(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for ClinicianUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        require_clinician(&user)?;
        Ok(ClinicianUser(user))
    }
}

/// Refuses anyone but an active clinician with TOTP enrolled.
pub fn require_clinician(user: &CurrentUser) -> AppResult<()> {
    if user.role != Role::Clinician {
        return Err(AppError::forbidden());
    }
    if user.status != "active" {
        return Err(AppError::Forbidden {
            code: "clinician_not_active",
            message: "your clinician account has not been activated yet",
        });
    }
    if !user.totp_enabled {
        return Err(AppError::totp_required());
    }
    Ok(())
}

/// A developer (operator) who has enrolled TOTP.
pub struct DeveloperUser(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for DeveloperUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.role != Role::Developer {
            return Err(AppError::forbidden());
        }
        if !user.totp_enabled {
            return Err(AppError::totp_required());
        }
        Ok(DeveloperUser(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        assert!(!cross_site(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(!cross_site(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(cross_site(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "https://evil.example")
        ])));
        assert!(cross_site(&headers(&[("host", "a"), ("origin", "null")])));
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!cross_site(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "null")
        ])));
        assert!(cross_site(&headers(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "null")
        ])));
    }

    #[test]
    fn form_token_field() {
        assert_eq!(
            form_urlencoded_field(b"a=1&csrf_token=x%2By&b=2", "csrf_token").as_deref(),
            Some("x+y")
        );
        assert_eq!(form_urlencoded_field(b"a=1", "csrf_token"), None);
    }

    #[test]
    fn cookie_parsing() {
        let h = headers(&[("cookie", "a=b; hs_session=xyz; c=d")]);
        assert_eq!(cookie_value(&h).as_deref(), Some("xyz"));
        assert_eq!(cookie_value(&headers(&[("cookie", "hs_session=")])), None);
    }
}
