//! Pages anyone can reach: start, login, registration, logout, crisis
//! help, and authenticator enrolment for logged-in users.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use serde_json::Value;

use super::{
    FormData, FormError, Layout, Outcome, PageResult, Viewer, error_page, home_of, page,
    redirect_with_cookie, render, see_other,
};
use crate::AppState;
use crate::accounts::routes as api;
use crate::accounts::session::{CurrentUser, SessionLookup};
use crate::accounts::types::Role;
use crate::http::extract::{ClientIp, Json, parse_json};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(start))
        .route("/login", get(login_form).post(login))
        .route("/register", get(register_form).post(register))
        .route("/logout", post(logout))
        .route("/crisis", get(crisis))
        .route("/totp", get(totp_page).post(totp_confirm))
        .route("/{*path}", any(super::not_found))
}

async fn start(user: Option<CurrentUser>) -> Response {
    match user {
        Some(u) => see_other(home_of(u.role.as_str())),
        None => see_other("/login"),
    }
}

#[derive(Template)]
#[template(path = "crisis.html")]
struct CrisisPage {
    page: Layout,
}

async fn crisis(State(state): State<AppState>, user: Option<CurrentUser>) -> PageResult {
    page(&CrisisPage {
        page: Layout::new(&state, "Crisis help", user.as_ref()),
    })
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Layout,
    expired: bool,
    error: String,
    username: String,
}

async fn login_form(State(state): State<AppState>, flags: super::Flags) -> PageResult {
    page(&LoginPage {
        page: Layout::new(&state, "Log in", None),
        expired: flags.param("expired").is_some(),
        error: String::new(),
        username: String::new(),
    })
}

async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(previous): Extension<SessionLookup>,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let input = form.to_json(&["username", "password", "pin", "totp_code"], &[]);
    let parsed = parse_json(&serde_json::to_vec(&Value::Object(input)).unwrap_or_default());
    let outcome = match parsed {
        Ok(input) => {
            Outcome::of(
                api::login(State(state.clone()), ip, Extension(previous), Json(input)).await,
            )
            .await
        }
        Err(err) => Outcome::of::<Response>(Err(err)).await,
    };
    if outcome.ok() {
        let role = outcome.body.get("user").s("role");
        return Ok(redirect_with_cookie(home_of(&role), &outcome.headers));
    }
    let message = match outcome.status {
        StatusCode::TOO_MANY_REQUESTS => outcome.message(),
        StatusCode::BAD_REQUEST => "Fill in your username, password and PIN or code.".to_owned(),
        _ => "Those details did not match an account. Check them and try again.".to_owned(),
    };
    Ok(render(
        outcome.status,
        &LoginPage {
            page: Layout::new(&state, "Log in", None),
            expired: false,
            error: message,
            username: form.get("username").to_owned(),
        },
    ))
}

/// The registration form's fields: name, label, input type, required.
const REGISTER_FIELDS: [(&str, &str, &str, bool); 7] = [
    (
        "username",
        "Username (3–32 letters, digits, . _ -)",
        "text",
        true,
    ),
    (
        "display_name",
        "Your name, as your care team will see it",
        "text",
        true,
    ),
    ("email", "Email", "email", true),
    (
        "password",
        "Password (8 or more characters with upper and lower case, a digit and a symbol)",
        "password",
        true,
    ),
    (
        "pin",
        "PIN (4–8 digits), the second step of your login",
        "password",
        true,
    ),
    (
        "time_zone",
        "Time zone (for example Europe/London)",
        "text",
        false,
    ),
    (
        "clinician",
        "Your clinician's username, if you have one (optional)",
        "text",
        false,
    ),
];

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    page: Layout,
    error: FormError,
    fields: &'a [&'a str],
    inputs: Vec<(&'static str, &'static str, &'static str, String, bool)>,
}

fn register_page(state: &AppState, form: Option<&FormData>, error: FormError) -> Response {
    let names: Vec<&str> = REGISTER_FIELDS.iter().map(|f| f.0).collect();
    let inputs = REGISTER_FIELDS
        .iter()
        .map(|(name, label, kind, required)| {
            // Secrets are never sent back into the page.
            let value = match (form, *kind) {
                (Some(f), "text" | "email") => f.get(name).to_owned(),
                _ => String::new(),
            };
            (*name, *label, *kind, value, *required)
        })
        .collect();
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    render(
        status,
        &RegisterPage {
            page: Layout::new(state, "Create your account", None),
            error,
            fields: &names,
            inputs,
        },
    )
}

async fn register_form(State(state): State<AppState>) -> PageResult {
    Ok(register_page(&state, None, FormError::default()))
}

async fn register(State(state): State<AppState>, ip: ClientIp, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let names: Vec<&str> = REGISTER_FIELDS.iter().map(|f| f.0).collect();
    let input = form.to_json(&names, &[]);
    let outcome = match parse_json(&serde_json::to_vec(&Value::Object(input)).unwrap_or_default()) {
        Ok(input) => {
            Outcome::of(api::register_patient(State(state.clone()), ip, Json(input)).await).await
        }
        Err(err) => Outcome::of::<Response>(Err(err)).await,
    };
    if outcome.ok() {
        return Ok(redirect_with_cookie("/home", &outcome.headers));
    }
    Ok(register_page(&state, Some(&form), outcome.form_error()))
}

async fn logout(
    State(state): State<AppState>,
    ip: ClientIp,
    user: Option<CurrentUser>,
) -> Response {
    if let Some(user) = user {
        let outcome = Outcome::of(api::logout(State(state), ip, user).await).await;
        return redirect_with_cookie("/login", &outcome.headers);
    }
    see_other("/login")
}

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    page: Layout,
    enabled: bool,
    secret: String,
    uri: String,
    error: String,
}

/// Clinicians and developers must enrol an authenticator app before they
/// are served anything else; patients may.
async fn totp_page(State(state): State<AppState>, Viewer(user): Viewer) -> PageResult {
    let layout = Layout::new(&state, "Authenticator app", Some(&user));
    if user.totp_enabled {
        return page(&TotpPage {
            page: layout,
            enabled: true,
            secret: String::new(),
            uri: String::new(),
            error: String::new(),
        });
    }
    let outcome = Outcome::of(api::totp_enrol(State(state.clone()), user.clone()).await).await;
    if !outcome.ok() {
        return Err(super::outcome_page(&state, &user, &outcome));
    }
    page(&TotpPage {
        page: layout,
        enabled: false,
        secret: outcome.body.s("secret"),
        uri: outcome.body.s("otpauth_uri"),
        error: String::new(),
    })
}

async fn totp_confirm(
    State(state): State<AppState>,
    ip: ClientIp,
    Extension(previous): Extension<SessionLookup>,
    Viewer(user): Viewer,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let input = form.to_json(&["code", "password"], &[]);
    let outcome = match parse_json(&serde_json::to_vec(&Value::Object(input)).unwrap_or_default()) {
        Ok(input) => {
            Outcome::of(
                api::totp_confirm(
                    State(state.clone()),
                    ip,
                    Extension(previous),
                    user.clone(),
                    Json(input),
                )
                .await,
            )
            .await
        }
        Err(err) => Outcome::of::<Response>(Err(err)).await,
    };
    if outcome.ok() {
        let home = match user.role {
            Role::Patient => "/home?notice=totp",
            Role::Clinician => "/clinician?notice=totp",
            Role::Developer => "/developer?notice=totp",
        };
        return Ok(redirect_with_cookie(home, &outcome.headers));
    }
    if outcome.status != StatusCode::BAD_REQUEST && outcome.status != StatusCode::UNAUTHORIZED {
        return Err(error_page(
            &state,
            Some(&user),
            outcome.status,
            &outcome.message(),
        ));
    }
    // The pending secret stays the same until confirmed: show it again.
    let again = Outcome::of(api::totp_enrol(State(state.clone()), user.clone()).await).await;
    Ok(render(
        StatusCode::BAD_REQUEST,
        &TotpPage {
            page: Layout::new(&state, "Authenticator app", Some(&user)),
            enabled: false,
            secret: again.body.s("secret"),
            uri: again.body.s("otpauth_uri"),
            error: if outcome.field() == "password" {
                "Your password was not correct. Enter it again with a fresh code.".into()
            } else {
                "That code was not accepted. A new secret is shown below: add it to your app \
                 again and enter the code it shows."
                    .into()
            },
        },
    ))
}
