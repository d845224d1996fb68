//! Registration, login, logout, TOTP, passwords, email verification and
//! the caller's own profile.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::lockout;
use crate::accounts::session::{self, CurrentUser, SessionLookup};
use crate::accounts::store::{self, NewUser, UserRow};
use crate::accounts::types::{DisplayName, Email, Password, Pin, Role, Secret, Username};
use crate::audit::{self, Event};
use crate::crypto::{self, Verified, totp};
use crate::error::{AppError, AppResult, ConflictOnUnique};
use crate::http::extract::{ClientIp, Json};
use crate::mail::Mail;
use crate::types::{Text, TimeZoneName};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/ready", get(ready))
        .route("/api/auth/register", post(register_patient))
        .route("/api/auth/register/clinician", post(register_clinician))
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/session", get(session_info))
        .route("/api/auth/totp/enrol", post(totp_enrol))
        .route("/api/auth/totp/confirm", post(totp_confirm))
        .route("/api/auth/password", post(change_password))
        .route("/api/auth/forgot-password", post(forgot_password))
        .route("/api/auth/reset-password", post(reset_password))
        .route("/api/auth/send-verification", post(send_verification))
        .route("/api/auth/verify-code", post(verify_code))
        .route("/api/me", get(me).patch(update_me))
        .route("/api/clinicians", get(directory))
}

async fn health() -> axum::Json<Value> {
    axum::Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.db.ping().await {
        axum::Json(json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": "not_ready", "message": "the database is not reachable" })),
        )
            .into_response()
    }
}

/// The public view of the caller's own account.
fn user_json(user: &UserRow) -> Value {
    json!({
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "status": user.status,
        "email": user.email,
        "email_verified": user.email_verified == 1,
        "totp_enabled": user.totp_secret.is_some(),
        "time_zone": user.time_zone,
    })
}

/// Starts a fresh session for `user_id`, ending `previous` if any, and
/// returns the cookie header and the new CSRF token.
async fn new_session(
    state: &AppState,
    user_id: i64,
    previous: Option<&SessionLookup>,
) -> AppResult<(HeaderValue, String)> {
    // A new id at every login and privilege change: a session id planted
    // before login (fixation) is worthless after it.
    if let Some(SessionLookup::Active(old)) = previous {
        session::revoke(state, &old.session_hash).await?;
    }
    let (cookie, csrf) = session::create(state, user_id).await?;
    Ok((session::set_cookie(state, &cookie), csrf))
}

fn with_cookie(status: StatusCode, body: Value, cookie: HeaderValue) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(SET_COOKIE, cookie);
    response
}

/// Starts a fresh session and answers with the user and the CSRF token.
async fn start_session(
    state: &AppState,
    user: &UserRow,
    previous: Option<&SessionLookup>,
    status: StatusCode,
) -> AppResult<Response> {
    let (cookie, csrf) = new_session(state, user.id, previous).await?;
    let body = json!({ "user": user_json(user), "csrf_token": csrf });
    Ok(with_cookie(status, body, cookie))
}

/// The limit on checking a logged-in user's password (password change,
/// erasure): the same budget as logins to that account.
pub(crate) fn check_password_guess_limit(state: &AppState, user_id: i64) -> AppResult<()> {
    rate_limit(
        state,
        "password-check",
        &user_id.to_string(),
        state.config.rate_limits.login_per_account,
    )
}

fn rate_limit(
    state: &AppState,
    bucket: &'static str,
    key: &str,
    limit: crate::config::Limit,
) -> AppResult<()> {
    state
        .limiter
        .check(bucket, key, limit)
        .map_err(AppError::rate_limited)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterPatient {
    username: Username,
    password: Password,
    pin: Pin,
    email: Email,
    display_name: DisplayName,
    time_zone: Option<TimeZoneName>,
    /// A clinician to ask for care at once (their username).
    clinician: Option<Username>,
}

pub(crate) async fn register_patient(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<RegisterPatient>,
) -> AppResult<Response> {
    rate_limit(
        &state,
        "register-ip",
        &ip.0.to_string(),
        state.config.rate_limits.register_per_ip,
    )?;
    let clinician = match &body.clinician {
        Some(name) => Some(
            crate::care_team::store::find_active_clinician(&state.db, &name.key())
                .await?
                .ok_or_else(|| {
                    AppError::invalid_field("clinician", "no active clinician has that username")
                })?,
        ),
        None => None,
    };
    let user = create_user(
        &state,
        NewAccount {
            username: &body.username,
            password: &body.password,
            pin: &body.pin,
            email: &body.email,
            display_name: &body.display_name,
            time_zone: body.time_zone.as_ref(),
            role: Role::Patient,
            areas: "",
        },
        ip,
    )
    .await?;
    if let Some(clinician) = clinician {
        crate::care_team::request_care(&state, &user, &clinician).await?;
    }
    start_session(&state, &user, None, StatusCode::CREATED).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterClinician {
    username: Username,
    password: Password,
    pin: Pin,
    email: Email,
    display_name: DisplayName,
    time_zone: Option<TimeZoneName>,
    /// Areas of practice for the public directory.
    areas: Option<Text<0, 200>>,
}

async fn register_clinician(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<RegisterClinician>,
) -> AppResult<Response> {
    rate_limit(
        &state,
        "register-ip",
        &ip.0.to_string(),
        state.config.rate_limits.register_per_ip,
    )?;
    let user = create_user(
        &state,
        NewAccount {
            username: &body.username,
            password: &body.password,
            pin: &body.pin,
            email: &body.email,
            display_name: &body.display_name,
            time_zone: body.time_zone.as_ref(),
            role: Role::Clinician,
            areas: body.areas.as_ref().map(|a| a.as_str()).unwrap_or(""),
        },
        ip,
    )
    .await?;
    start_session(&state, &user, None, StatusCode::CREATED).await
}

pub struct NewAccount<'a> {
    pub username: &'a Username,
    pub password: &'a Password,
    pub pin: &'a Pin,
    pub email: &'a Email,
    pub display_name: &'a DisplayName,
    pub time_zone: Option<&'a TimeZoneName>,
    pub role: Role,
    pub areas: &'a str,
}

/// Creates an account. Patients are active at once, clinicians wait for a
/// developer, developers are made only by the command line.
pub async fn create_user(
    state: &AppState,
    account: NewAccount<'_>,
    ip: ClientIp,
) -> AppResult<UserRow> {
    let password_hash = crypto::hash_secret(account.password.expose().to_owned()).await?;
    let pin_hash = crypto::hash_secret(account.pin.expose().to_owned()).await?;
    let status = match account.role {
        Role::Clinician => "pending",
        _ => "active",
    };
    let id = store::insert(
        &state.db,
        &NewUser {
            username: account.username.as_str(),
            role: account.role,
            status,
            display_name: account.display_name.as_str(),
            email: account.email.as_str(),
            password_hash: &password_hash,
            pin_hash: Some(&pin_hash),
            time_zone: account.time_zone.map(|t| t.as_str()).unwrap_or("UTC"),
            areas: account.areas,
            now: state.clock.now(),
        },
    )
    .await
    .conflict_on_unique("username_taken", "that username is taken")?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("account.register", "ok")
            .actor(id)
            .target(id)
            .ip(ip)
            .detail(json!({ "role": account.role.as_str() })),
    )
    .await?;
    store::find_by_id(&state.db, id)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a new user vanished")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    username: Secret,
    password: Secret,
    pin: Option<Secret>,
    totp_code: Option<Secret>,
    recovery_code: Option<Secret>,
}

pub(crate) async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(previous): Extension<SessionLookup>,
    Json(body): Json<Login>,
) -> AppResult<Response> {
    let key = body.username.expose().to_ascii_lowercase();
    let limits = &state.config.rate_limits;
    rate_limit(&state, "login-ip", &ip.0.to_string(), limits.login_per_ip)?;
    rate_limit(&state, "login-account", &key, limits.login_per_account)?;
    let now = state.clock.now();
    if let Some(retry_after) = lockout::locked_for(&state.db, &key, now).await? {
        audit::record(&state.db, now, Event::new("auth.login", "locked").ip(ip)).await?;
        return Err(AppError::TooManyRequests {
            code: "account_locked",
            message: "too many failed logins; the account is locked for a while",
            retry_after,
        });
    }
    let user = store::find_by_key(&state.db, &key).await?;
    let verdict = check_credentials(&state, user.as_ref(), &body, now).await?;
    let Some((user, rehash)) = verdict else {
        let locked = lockout::record_failure(&state, &key, user.as_ref(), now).await?;
        audit::record(
            &state.db,
            now,
            Event {
                target_id: user.as_ref().map(|u| u.id),
                ..Event::new(
                    "auth.login",
                    if locked {
                        "failed_and_locked"
                    } else {
                        "failed"
                    },
                )
                .ip(ip)
            },
        )
        .await?;
        return Err(AppError::InvalidCredentials);
    };
    lockout::clear(&state.db, &key).await?;
    if rehash.password {
        let hash = crypto::hash_secret(body.password.expose().to_owned()).await?;
        store::set_password_hash(&state.db, user.id, &hash).await?;
    }
    if rehash.pin {
        if let Some(pin) = &body.pin {
            let hash = crypto::hash_secret(pin.expose().to_owned()).await?;
            store::set_pin_hash(&state.db, user.id, &hash).await?;
        }
    }
    audit::record(
        &state.db,
        now,
        Event::new("auth.login", "ok")
            .actor(user.id)
            .target(user.id)
            .ip(ip),
    )
    .await?;
    start_session(&state, &user, Some(&previous), StatusCode::OK).await
}

#[derive(Default)]
struct Rehash {
    password: bool,
    pin: bool,
}

/// Checks every factor. Exactly two Argon2 verifications run whatever the
/// outcome (real or dummy hashes), so neither the answer nor its timing
/// shows whether the user exists or which factor was wrong.
async fn check_credentials(
    state: &AppState,
    user: Option<&UserRow>,
    body: &Login,
    now: i64,
) -> AppResult<Option<(UserRow, Rehash)>> {
    let dummy = crypto::dummy_hash().to_owned();
    let password_hash = user
        .map(|u| u.password_hash.clone())
        .unwrap_or(dummy.clone());
    let password_ok = crypto::verify_secret(body.password.expose().to_owned(), password_hash).await;

    let mut second_ok = false;
    let mut pin_verdict = Verified::No;
    let uses_totp = user.is_some_and(|u| u.totp_secret.is_some());
    if uses_totp {
        // Second Argon2 run only to keep the timing the same as a PIN check.
        let _ = crypto::verify_secret(String::new(), dummy).await;
        let user = user.expect("uses_totp implies a user");
        if body.pin.is_none() {
            second_ok = match (&body.totp_code, &body.recovery_code) {
                (Some(code), None) => totp_accept(state, user, code.expose(), now).await?,
                (None, Some(code)) => recovery_accept(state, user, code.expose(), now).await?,
                _ => false,
            };
        }
    } else {
        let pin_hash = user.and_then(|u| u.pin_hash.clone()).unwrap_or(dummy);
        let pin = body
            .pin
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        pin_verdict = crypto::verify_secret(pin, pin_hash).await;
        second_ok = body.pin.is_some()
            && body.totp_code.is_none()
            && body.recovery_code.is_none()
            && pin_verdict != Verified::No;
    }
    let Some(user) = user else { return Ok(None) };
    if password_ok == Verified::No || !second_ok || user.status == "disabled" {
        return Ok(None);
    }
    Ok(Some((
        user.clone(),
        Rehash {
            password: password_ok == Verified::YesRehash,
            pin: pin_verdict == Verified::YesRehash,
        },
    )))
}

/// Accepts a TOTP code once: the matched step is stored and no code of
/// that step or an earlier one is accepted again.
async fn totp_accept(state: &AppState, user: &UserRow, code: &str, now: i64) -> AppResult<bool> {
    let Some(secret) = &user.totp_secret else {
        return Ok(false);
    };
    let Some(step) = totp::verify(secret, code.trim(), now, user.totp_last_step) else {
        return Ok(false);
    };
    // Conditional update: of two requests racing with one code, one wins.
    let done = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 \
         AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user.id)
    .execute(state.db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

fn normalise_recovery(code: &str) -> String {
    code.trim().to_ascii_lowercase().replace([' ', '-'], "")
}

async fn recovery_accept(
    state: &AppState,
    user: &UserRow,
    code: &str,
    now: i64,
) -> AppResult<bool> {
    let hash = crypto::sha256_hex(&normalise_recovery(code));
    let done = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 \
         AND used_at IS NULL",
    )
    .bind(now)
    .bind(user.id)
    .bind(hash)
    .execute(state.db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn logout(
    State(state): State<AppState>,
    ip: ClientIp,
    user: CurrentUser,
) -> AppResult<Response> {
    session::revoke(&state, &user.session_hash).await?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("auth.logout", "ok").actor(user.id).ip(ip),
    )
    .await?;
    let mut response = axum::Json(json!({ "status": "logged_out" })).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, session::clear_cookie(&state));
    Ok(response)
}

async fn load(state: &AppState, user: &CurrentUser) -> AppResult<UserRow> {
    store::find_by_id(&state.db, user.id)
        .await?
        .ok_or(AppError::SessionExpired)
}

async fn session_info(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let row = load(&state, &user).await?;
    Ok(axum::Json(json!({
        "user": user_json(&row),
        "csrf_token": user.csrf_token,
        "idle_timeout_seconds": state.config.session_idle.as_secs(),
    })))
}

pub(crate) async fn totp_enrol(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let row = load(&state, &user).await?;
    if row.totp_secret.is_some() {
        return Err(AppError::conflict(
            "totp_already_enabled",
            "an authenticator app is already enrolled",
        ));
    }
    let secret = totp::new_secret();
    sqlx::query("UPDATE users SET totp_pending = $1 WHERE id = $2")
        .bind(&secret)
        .bind(user.id)
        .execute(state.db.pool())
        .await?;
    Ok(axum::Json(json!({
        "secret": secret,
        "otpauth_uri": totp::provisioning_uri(&secret, &row.username),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeBody {
    code: Secret,
}

/// Confirming an authenticator asks for the password again: a second
/// factor bound by whoever holds a stolen session would lock the owner out.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfirmTotp {
    code: Secret,
    password: Secret,
}

pub(crate) async fn totp_confirm(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(previous): Extension<SessionLookup>,
    user: CurrentUser,
    Json(body): Json<ConfirmTotp>,
) -> AppResult<Response> {
    check_password_guess_limit(&state, user.id)?;
    let row = load(&state, &user).await?;
    let verdict =
        crypto::verify_secret(body.password.expose().to_owned(), row.password_hash.clone()).await;
    if verdict == Verified::No {
        return Err(AppError::invalid_field(
            "password",
            "the password is not correct",
        ));
    }
    let Some(pending) = row.totp_pending.clone() else {
        return Err(AppError::conflict(
            "totp_not_started",
            "start enrolment first",
        ));
    };
    let now = state.clock.now();
    let Some(step) = totp::verify(&pending, body.code.expose().trim(), now, None) else {
        return Err(AppError::invalid_field(
            "code",
            "the code is not valid; check the clock of your device",
        ));
    };
    let codes: Vec<String> = (0..10)
        .map(|_| {
            let raw = crypto::random_digits(12);
            format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12])
        })
        .collect();
    let mut tx = state.db.pool().begin().await?;
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_pending = NULL, totp_last_step = $2 WHERE id = $3",
    )
    .bind(&pending)
    .bind(step)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    for code in &codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user.id)
            .bind(crypto::sha256_hex(&normalise_recovery(code)))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    audit::record(
        &state.db,
        now,
        Event::new("auth.totp_enrolled", "ok")
            .actor(user.id)
            .target(user.id)
            .ip(ip),
    )
    .await?;
    state.mailer.send(Mail {
        to: row.email.clone(),
        subject: "An authenticator was added to your Healing Space account".into(),
        body: "An authenticator app was enrolled for your account. If this was not you, \
               contact your Healing Space administrator at once."
            .into(),
    });
    let row = load(&state, &user).await?;
    let (cookie, csrf) = new_session(&state, user.id, Some(&previous)).await?;
    // Recovery codes are shown once, here; only their hashes are kept.
    let body = json!({
        "user": user_json(&row),
        "csrf_token": csrf,
        "recovery_codes": codes,
    });
    Ok(with_cookie(StatusCode::OK, body, cookie))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangePassword {
    current_password: Secret,
    new_password: Password,
}

async fn change_password(
    State(state): State<AppState>,
    ip: ClientIp,
    user: CurrentUser,
    Json(body): Json<ChangePassword>,
) -> AppResult<Response> {
    // Guessing the current password from a stolen session is limited like
    // a login, per account.
    check_password_guess_limit(&state, user.id)?;
    let row = load(&state, &user).await?;
    let verdict = crypto::verify_secret(
        body.current_password.expose().to_owned(),
        row.password_hash.clone(),
    )
    .await;
    if verdict == Verified::No {
        return Err(AppError::invalid_field(
            "current_password",
            "the current password is not correct",
        ));
    }
    let hash = crypto::hash_secret(body.new_password.expose().to_owned()).await?;
    store::set_password_hash(&state.db, user.id, &hash).await?;
    // Every session ends, this one too; the caller gets a fresh one.
    session::revoke_all(&state, user.id).await?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("auth.password_changed", "ok")
            .actor(user.id)
            .target(user.id)
            .ip(ip),
    )
    .await?;
    state.mailer.send(Mail {
        to: row.email.clone(),
        subject: "Your Healing Space password was changed".into(),
        body: "Your password was changed and every other session was signed out. If this \
               was not you, reset your password at once."
            .into(),
    });
    start_session(&state, &row, None, StatusCode::OK).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgotPassword {
    username: Secret,
}

const RESET_TTL: i64 = 3600;

async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ForgotPassword>,
) -> AppResult<Response> {
    let key = body.username.expose().to_ascii_lowercase();
    let limits = &state.config.rate_limits;
    rate_limit(&state, "forgot-ip", &ip.0.to_string(), limits.forgot_per_ip)?;
    rate_limit(&state, "forgot-account", &key, limits.forgot_per_account)?;
    let now = state.clock.now();
    if let Some(user) = store::find_by_key(&state.db, &key).await? {
        if user.status != "disabled" {
            let token = crypto::random_token(32);
            sqlx::query(
                "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
            )
            .bind(crypto::sha256_hex(&token))
            .bind(user.id)
            .bind(now + RESET_TTL)
            .execute(state.db.pool())
            .await?;
            state.mailer.send(Mail {
                to: user.email.clone(),
                subject: "Reset your Healing Space password".into(),
                body: format!(
                    "Someone asked to reset the password of {}. If it was you, use this \
                     token within one hour:\n\n{token}\n\nIf not, ignore this message.",
                    user.username
                ),
            });
            audit::record(
                &state.db,
                now,
                Event::new("auth.reset_requested", "ok")
                    .target(user.id)
                    .ip(ip),
            )
            .await?;
        }
    }
    // The same answer whether or not the account exists.
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({
            "status": "accepted",
            "message": "if the account exists, a reset token has been sent to its email address",
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetPassword {
    token: Secret,
    new_password: Password,
}

async fn reset_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<ResetPassword>,
) -> AppResult<axum::Json<Value>> {
    let now = state.clock.now();
    let hash = crypto::sha256_hex(body.token.expose().trim());
    // Claim the token in one statement, so it works once even under a race.
    let claimed: Option<(i64,)> = sqlx::query_as(
        "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
         AND expires_at > $1 RETURNING user_id",
    )
    .bind(now)
    .bind(&hash)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((user_id,)) = claimed else {
        return Err(AppError::bad_request(
            "invalid_token",
            "the reset token is not valid, was used already, or has expired",
        ));
    };
    let Some(user) = store::find_by_id(&state.db, user_id).await? else {
        return Err(AppError::bad_request(
            "invalid_token",
            "the reset token is not valid",
        ));
    };
    let new_hash = crypto::hash_secret(body.new_password.expose().to_owned()).await?;
    store::set_password_hash(&state.db, user.id, &new_hash).await?;
    session::revoke_all(&state, user.id).await?;
    lockout::clear(&state.db, &user.username.to_ascii_lowercase()).await?;
    audit::record(
        &state.db,
        now,
        Event::new("auth.password_reset", "ok")
            .target(user.id)
            .ip(ip),
    )
    .await?;
    state.mailer.send(Mail {
        to: user.email.clone(),
        subject: "Your Healing Space password was reset".into(),
        body: "Your password was reset and every session was signed out.".into(),
    });
    Ok(axum::Json(json!({ "status": "password_reset" })))
}

const CODE_TTL: i64 = 600;
const CODE_MAX_TRIES: i64 = 5;

fn code_hash(user_id: i64, code: &str) -> String {
    crypto::sha256_hex(&format!("{user_id}:{code}"))
}

async fn send_verification(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<Response> {
    rate_limit(
        &state,
        "send-verification",
        &user.id.to_string(),
        state.config.rate_limits.forgot_per_account,
    )?;
    let row = load(&state, &user).await?;
    let now = state.clock.now();
    let code = crypto::random_digits(6);
    // A new code replaces any earlier one.
    sqlx::query("UPDATE email_codes SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(user.id)
        .execute(state.db.pool())
        .await?;
    sqlx::query("INSERT INTO email_codes (user_id, code_hash, expires_at) VALUES ($1, $2, $3)")
        .bind(user.id)
        .bind(code_hash(user.id, &code))
        .bind(now + CODE_TTL)
        .execute(state.db.pool())
        .await?;
    state.mailer.send(Mail {
        to: row.email,
        subject: "Your Healing Space verification code".into(),
        body: format!("Your verification code is {code}. It is valid for 10 minutes."),
    });
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "status": "sent" })),
    )
        .into_response())
}

async fn verify_code(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<CodeBody>,
) -> AppResult<axum::Json<Value>> {
    rate_limit(
        &state,
        "verify-code",
        &user.id.to_string(),
        state.config.rate_limits.verify_code,
    )?;
    let now = state.clock.now();
    let current: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT id, code_hash, attempts FROM email_codes WHERE user_id = $1 AND used_at IS NULL \
         AND expires_at > $2 ORDER BY id DESC LIMIT 1",
    )
    .bind(user.id)
    .bind(now)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((id, hash, attempts)) = current else {
        return Err(AppError::bad_request(
            "no_code",
            "there is no valid code; ask for a new one",
        ));
    };
    if attempts >= CODE_MAX_TRIES {
        return Err(AppError::bad_request(
            "code_exhausted",
            "too many wrong codes; ask for a new one",
        ));
    }
    if !crypto::constant_time_eq(&code_hash(user.id, body.code.expose().trim()), &hash) {
        sqlx::query("UPDATE email_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(state.db.pool())
            .await?;
        return Err(AppError::invalid_field("code", "the code is not correct"));
    }
    let claimed =
        sqlx::query("UPDATE email_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(state.db.pool())
            .await?;
    if claimed.rows_affected() != 1 {
        return Err(AppError::bad_request(
            "no_code",
            "the code was used already",
        ));
    }
    sqlx::query("UPDATE users SET email_verified = 1 WHERE id = $1")
        .bind(user.id)
        .execute(state.db.pool())
        .await?;
    Ok(axum::Json(json!({ "status": "verified" })))
}

async fn me(State(state): State<AppState>, user: CurrentUser) -> AppResult<axum::Json<Value>> {
    let row = load(&state, &user).await?;
    Ok(axum::Json(user_json(&row)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMe {
    display_name: Option<DisplayName>,
    time_zone: Option<TimeZoneName>,
}

async fn update_me(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<UpdateMe>,
) -> AppResult<axum::Json<Value>> {
    if let Some(name) = &body.display_name {
        sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
            .bind(name.as_str())
            .bind(user.id)
            .execute(state.db.pool())
            .await?;
    }
    if let Some(tz) = &body.time_zone {
        sqlx::query("UPDATE users SET time_zone = $1 WHERE id = $2")
            .bind(tz.as_str())
            .bind(user.id)
            .execute(state.db.pool())
            .await?;
    }
    let row = load(&state, &user).await?;
    Ok(axum::Json(user_json(&row)))
}

/// The public clinician directory: names and areas of active clinicians.
async fn directory(State(state): State<AppState>) -> AppResult<axum::Json<Value>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT username, display_name, areas FROM users WHERE role = 'clinician' \
         AND status = 'active' ORDER BY display_name, username",
    )
    .fetch_all(state.db.pool())
    .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(username, name, areas)| {
            json!({ "username": username, "display_name": name, "areas": areas })
        })
        .collect();
    Ok(axum::Json(json!({ "clinicians": list })))
}
