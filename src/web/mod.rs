//! The browser interface: server-rendered pages over the same domain
//! handlers the JSON API uses.
//!
//! A page handler never repeats validation or SQL of its own: it turns the
//! HTML form into the API's JSON input, calls the API handler with
//! constructed extractors, and reads the handler's JSON answer back. So the
//! very same checks, risk screening and audit records run for both.

// A page's error is itself a finished page (`Result<Response, Response>`):
// boxing it would only add noise to every handler on a path taken once per
// request at most.
#![allow(clippy::result_large_err)]

use std::fmt;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use crate::AppState;
use crate::accounts::session::{CurrentUser, SessionLookup};
use crate::accounts::types::Role;
use crate::error::{AppError, ErrorCode};

pub mod auth;
pub mod charts;
pub mod clinician;
pub mod developer;
pub mod format;
pub mod patient;

/// Every page route, and the static files they use.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(stylesheet))
        .route("/static/chat.js", get(chat_script))
        .merge(auth::router())
        .merge(patient::router())
        .merge(clinician::router())
        .merge(developer::router())
}

const APP_CSS: &str = include_str!("../../static/app.css");
const CHAT_JS: &str = include_str!("../../static/chat.js");

/// Static assets never hold personal data, so unlike every other response
/// they may be cached; the file names are fixed, so a day, not a year.
fn static_file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

async fn stylesheet() -> Response {
    static_file("text/css; charset=utf-8", APP_CSS)
}

async fn chat_script() -> Response {
    static_file("text/javascript; charset=utf-8", CHAT_JS)
}

/// What every page's frame needs: the title, who is logged in (for the
/// navigation and the CSRF field), and whether to show the crisis panel.
pub struct Layout {
    pub title: String,
    pub user: Option<NavUser>,
    pub crisis: bool,
    pub resources: Vec<Resource>,
    pub notice: String,
}

pub struct NavUser {
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
}

pub struct Resource {
    pub region: String,
    pub name: String,
    pub contact: String,
}

impl Layout {
    pub fn new(state: &AppState, title: &str, user: Option<&CurrentUser>) -> Layout {
        Layout {
            title: title.to_owned(),
            user: user.map(|u| NavUser {
                name: u.display_name.clone(),
                role: u.role.as_str(),
                csrf: u.csrf_token.clone(),
            }),
            crisis: false,
            resources: resources(state),
            notice: String::new(),
        }
    }

    /// Shows the crisis panel when the query says the last write raised
    /// an alert (`?crisis=1`, set by the redirect after that write).
    pub fn flags(mut self, query: &Flags) -> Layout {
        self.crisis |= query.crisis;
        if let Some(notice) = &query.notice {
            self.notice = notice.clone();
        }
        self
    }

    pub fn csrf(&self) -> &str {
        self.user.as_ref().map(|u| u.csrf.as_str()).unwrap_or("")
    }

    pub fn role(&self) -> &str {
        self.user.as_ref().map(|u| u.role).unwrap_or("")
    }
}

pub fn resources(state: &AppState) -> Vec<Resource> {
    state
        .config
        .clinical
        .crisis_resources
        .iter()
        .map(|r| Resource {
            region: r.region.clone(),
            name: r.name.clone(),
            contact: r.contact.clone(),
        })
        .collect()
}

/// The few query flags every page understands.
#[derive(Default)]
pub struct Flags {
    pub crisis: bool,
    pub notice: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Flags {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Fixed sentences a redirect may ask the next page to show; the query
/// names one, so no text from the URL ever reaches the page.
fn notice_text(key: &str) -> Option<&'static str> {
    Some(match key {
        "saved" => "Saved.",
        "deleted" => "Deleted.",
        "sent" => "Your request has been sent.",
        "approved" => "Request approved.",
        "rejected" => "Request rejected.",
        "acknowledged" => "Alert acknowledged.",
        "resolved" => "Alert resolved.",
        "done" => "Done.",
        "totp" => "Your authenticator app is enrolled.",
        _ => return None,
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Flags {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let params: Vec<(String, String)> =
            serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
        let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        Ok(Flags {
            crisis: get("crisis").is_some(),
            notice: get("notice")
                .and_then(|k| notice_text(k))
                .map(str::to_owned),
            params: params.clone(),
        })
    }
}

/// A logged-in user of a page. Without a session the browser is sent to
/// the login page; with one that has ended, to the same page with the
/// message that says so.
pub struct Viewer(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match parts.extensions.get::<SessionLookup>() {
            Some(SessionLookup::Active(user)) => Ok(Viewer((**user).clone())),
            Some(SessionLookup::Ended) => Err(see_other("/login?expired=1")),
            _ => Err(see_other("/login")),
        }
    }
}

/// Refuses a page to anyone but `role`, with an HTML 403.
pub fn require(state: &AppState, user: &CurrentUser, role: Role) -> Result<(), Response> {
    if user.role == role {
        Ok(())
    } else {
        Err(error_page(
            state,
            Some(user),
            StatusCode::FORBIDDEN,
            "This page is not available to your account.",
        ))
    }
}

/// A page result: either way an HTML response.
pub type PageResult = Result<Response, Response>;

/// 303 See Other: the answer to a form post (Post/Redirect/Get).
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

/// Renders a template into an HTML response with `status`.
pub fn render<T: askama::Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            if !status.is_success() {
                // Keeps the JSON error layer from replacing this page.
                response.extensions_mut().insert(ErrorCode("page_error"));
            }
            response
        }
        Err(err) => AppError::Internal(anyhow::anyhow!("rendering a page: {err}")).into_response(),
    }
}

pub fn page<T: askama::Template>(template: &T) -> PageResult {
    Ok(render(StatusCode::OK, template))
}

#[derive(askama::Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub page: Layout,
    pub status: u16,
    pub message: String,
}

/// An HTML error page with the frame, for anything a page cannot show.
pub fn error_page(
    state: &AppState,
    user: Option<&CurrentUser>,
    status: StatusCode,
    message: &str,
) -> Response {
    let template = ErrorPage {
        page: Layout::new(state, "Something went wrong", user),
        status: status.as_u16(),
        message: message.to_owned(),
    };
    let mut response = render(status, &template);
    response.extensions_mut().insert(ErrorCode("page_error"));
    response
}

/// The HTML page for an API outcome that a page cannot recover from.
pub fn outcome_page(state: &AppState, user: &CurrentUser, outcome: &Outcome) -> Response {
    if outcome.status == StatusCode::UNAUTHORIZED {
        return see_other("/login?expired=1");
    }
    let message = match outcome.status {
        StatusCode::NOT_FOUND => "Not found.".to_owned(),
        s if s.is_server_error() => format!(
            "Something went wrong on our side. Please quote this reference: {}",
            outcome.body.s("request_id")
        ),
        _ => outcome.message(),
    };
    error_page(state, Some(user), outcome.status, &message)
}

/// The unknown-path page: HTML for a browser asking for a page, the JSON
/// shape for the API and for every other client.
pub async fn not_found(
    State(state): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    user: Option<CurrentUser>,
) -> Response {
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if uri.path().starts_with("/api/") || !wants_html {
        return AppError::NotFound.into_response();
    }
    error_page(
        &state,
        user.as_ref(),
        StatusCode::NOT_FOUND,
        "There is no page at this address.",
    )
}

/// An API handler's answer, read back as JSON: what a page shows.
pub struct Outcome {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: J,
}

impl Outcome {
    /// Runs to completion whatever the handler returned, error or not.
    pub async fn of<R: IntoResponse>(result: Result<R, AppError>) -> Outcome {
        let response = match result {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
            .await
            .unwrap_or_default();
        Outcome {
            status: parts.status,
            headers: parts.headers,
            body: J(serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
        }
    }

    /// The outcome of an input the API's own parser refused.
    pub async fn refused(err: AppError) -> Outcome {
        Outcome::of::<Response>(Err(err)).await
    }

    pub fn ok(&self) -> bool {
        self.status.is_success()
    }

    pub fn message(&self) -> String {
        self.body.s("message")
    }

    /// The field an error concerns, in the form's naming (`answers[8]`
    /// and `answers` map to the question they name).
    pub fn field(&self) -> String {
        self.body.s("field")
    }

    /// True when the write raised an alert: the next page shows the
    /// crisis resources at once.
    pub fn raised_alert(&self) -> bool {
        let level = self.body.get("risk").s("level");
        !level.is_empty() && level != "none"
    }

    /// An error from the API as the form shows it.
    pub fn form_error(&self) -> FormError {
        FormError {
            field: self.field(),
            message: self.message(),
        }
    }
}

/// A refused form: the message goes next to the field it names, or at the
/// top of the form when it names none.
#[derive(Default, Clone)]
pub struct FormError {
    pub field: String,
    pub message: String,
}

impl FormError {
    pub fn on(&self, field: &str) -> &str {
        if self.field == field {
            &self.message
        } else {
            ""
        }
    }

    /// The message when it belongs to no field shown on the form.
    pub fn general(&self, fields: &[&str]) -> &str {
        if fields.contains(&self.field.as_str()) {
            ""
        } else {
            &self.message
        }
    }

    pub fn any(&self) -> bool {
        !self.message.is_empty()
    }
}

/// A JSON value as templates read it: missing members read as empty, so a
/// template never fails on an absent field.
#[derive(Debug, Clone, Default)]
pub struct J(pub Value);

impl J {
    pub fn get(&self, key: &str) -> J {
        J(self.0.get(key).cloned().unwrap_or(Value::Null))
    }

    /// A member as text: strings as they are, numbers and booleans
    /// written out, null and missing as the empty string.
    pub fn s(&self, key: &str) -> String {
        self.get(key).to_string()
    }

    pub fn i(&self, key: &str) -> i64 {
        self.0.get(key).and_then(Value::as_i64).unwrap_or(0)
    }

    pub fn f(&self, key: &str) -> Option<f64> {
        self.0.get(key).and_then(Value::as_f64)
    }

    pub fn list(&self, key: &str) -> Vec<J> {
        self.0
            .get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().cloned().map(J).collect())
            .unwrap_or_default()
    }

    /// True unless the member is missing, null, false, 0 or empty.
    pub fn is(&self, key: &str) -> bool {
        match self.0.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        }
    }

    /// A timestamp member shown as a short date and time.
    pub fn when(&self, key: &str) -> String {
        format::timestamp(&self.s(key))
    }
}

impl fmt::Display for J {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Value::Null => Ok(()),
            Value::String(s) => f.write_str(s),
            other => write!(f, "{other}"),
        }
    }
}

/// The fields of a submitted HTML form, in order.
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &Bytes) -> FormData {
        FormData(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every non-empty value of a repeated field or of one text area split
    /// into lines.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The API's JSON input: each named field that is not blank, numbers
    /// where the API expects numbers. A value that is not a number is
    /// passed on as text, so the API's own check names the field.
    pub fn to_json(&self, text: &[&str], numbers: &[&str]) -> Map<String, Value> {
        let mut out = Map::new();
        for name in text {
            let value = self.get(name);
            if !value.trim().is_empty() {
                out.insert((*name).to_owned(), Value::String(value.to_owned()));
            }
        }
        for name in numbers {
            let value = self.get(name).trim();
            if !value.is_empty() {
                out.insert((*name).to_owned(), format::number(value));
            }
        }
        out
    }
}

/// Parses a form's JSON rendering exactly as the API parses its body, so
/// the same field errors come back.
pub fn input<T: serde::de::DeserializeOwned>(map: Map<String, Value>) -> Result<T, AppError> {
    crate::http::extract::parse_json(&serde_json::to_vec(&Value::Object(map)).unwrap_or_default())
}

/// The request's `Set-Cookie` from an API answer, moved onto a redirect.
pub fn redirect_with_cookie(to: &str, from: &HeaderMap) -> Response {
    let mut response = see_other(to);
    if let Some(cookie) = from.get(SET_COOKIE) {
        response.headers_mut().insert(SET_COOKIE, cookie.clone());
    }
    response
}

/// Where a role starts after login.
pub fn home_of(role: &str) -> &'static str {
    match role {
        "clinician" => "/clinician",
        "developer" => "/developer",
        _ => "/home",
    }
}

/// Appends `crisis=1` to a redirect when the write raised an alert.
pub fn after_write(to: &str, outcome: &Outcome) -> Response {
    if outcome.raised_alert() {
        let sep = if to.contains('?') { '&' } else { '?' };
        see_other(&format!("{to}{sep}crisis=1"))
    } else {
        see_other(to)
    }
}
