//! Protections every response and every request body gets, whatever route
//! it reaches: security headers, JSON errors for requests no route
//! matched, body type and size limits, and the general rate limit.

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

use crate::AppState;
use crate::accounts::session::SessionLookup;
use crate::error::{AppError, ErrorCode, error_body};
use crate::http::extract::{ClientIp, is_json};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";
const PERMISSIONS: &str = "geolocation=(), camera=(), microphone=(), payment=(), usb=()";

/// Sets the security headers of SPEC §4 on every response, errors and
/// 429s included, and `Cache-Control: no-store` since API responses can
/// hold personal data.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "referrer-policy", "no-referrer");
    set(h, "permissions-policy", PERMISSIONS);
    set(h, "cross-origin-opener-policy", "same-origin");
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.tls {
        set(
            h,
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        );
    }
    response
}

/// Replaces the empty bodies of framework-made refusals (405, and any
/// other error without a body) with the JSON error shape.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.extensions().get::<ErrorCode>().is_some() {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "this method is not allowed here"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
        s if s.is_server_error() => ("internal_error", "something went wrong on our side"),
        _ => ("bad_request", "the request could not be understood"),
    };
    let mut body = error_body(code, message);
    if status.is_server_error() {
        body.insert(
            "request_id".into(),
            crate::http::request_id::current().into(),
        );
    }
    let mut fresh = (status, axum::Json(serde_json::Value::Object(body))).into_response();
    fresh.extensions_mut().insert(ErrorCode(code));
    for (name, value) in response.headers() {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

/// The JSON 404 for paths no route knows.
pub async fn not_found() -> AppError {
    AppError::NotFound
}

/// A panic becomes a plain 500 in our error shape; its message is logged,
/// never sent.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError::Internal(anyhow::anyhow!("handler panicked: {detail}")).into_response()
}

/// Resolves the client address once (see [`ClientIp::resolve`]).
pub async fn client_ip(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = ClientIp::resolve(req.headers(), peer, &state.config.trusted_proxies);
    req.extensions_mut().insert(ip);
    next.run(req).await
}

fn has_body(req: &Request) -> bool {
    let length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => req.headers().contains_key(TRANSFER_ENCODING),
    }
}

/// API request bodies must be JSON (415) and at most the configured size
/// (413). The declared length is checked here; a body sent without one is
/// cut off at the same limit while it is read.
pub async fn body_rules(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let writes = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    let limit = route_body_limit(&req, state.config.json_body_limit);
    if req.uri().path().starts_with("/api/") && (writes || has_body(&req)) {
        if has_body(&req) && !is_json(req.headers()) {
            return AppError::UnsupportedMediaType.into_response();
        }
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return AppError::PayloadTooLarge.into_response();
        }
    }
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, body)).await
}

/// The body limit of the route a request reached: the JSON default, or
/// more where the route needs it (notes of 50,000 characters, SPEC §11).
fn route_body_limit(req: &Request, default: usize) -> usize {
    let notes = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == crate::workspace::NOTES_ROUTE);
    let fhir_verify = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| p.as_str() == crate::exports::fhir::VERIFY_ROUTE);
    if notes {
        default.max(crate::workspace::NOTE_BODY_LIMIT)
    } else if fhir_verify {
        // Whole exported Bundles, to have their signature checked.
        default.max(crate::exports::fhir::VERIFY_BODY_LIMIT)
    } else {
        default
    }
}

/// The general limit: per session when logged in, else per address.
pub async fn general_rate_limit(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let key = match req.extensions().get::<SessionLookup>() {
        Some(SessionLookup::Active(user)) => format!("s:{}", user.session_hash),
        _ => {
            let ip = req
                .extensions()
                .get::<ClientIp>()
                .map(|ip| ip.0.to_string())
                .unwrap_or_default();
            format!("ip:{ip}")
        }
    };
    if let Err(retry) = state
        .limiter
        .check("general", &key, state.config.rate_limits.general)
    {
        return AppError::rate_limited(retry).into_response();
    }
    next.run(req).await
}
