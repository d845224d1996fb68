//! A request id for every request: sent back in `X-Request-Id`, carried by
//! the request's log span, and quoted in 500 responses so a user's report
//! can be matched with the server log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or `-` outside one.
pub fn current() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_owned())
}

/// Outermost layer: assigns the id, opens the `http.request` span and
/// writes one log line per request with its status and latency. Never the
/// query string or body, which may hold personal data.
pub async fn layer(mut req: Request, next: Next) -> Response {
    let id = crate::crypto::random_token(12);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    let span = tracing::info_span!(
        "http.request",
        request_id = %id,
        http.method = %method,
        http.route = %route,
        user.id = tracing::field::Empty,
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        req.extensions_mut().insert(RequestId(id.clone()));
        let started = Instant::now();
        let mut response = REQUEST_ID
            .scope(id, next.run(req).instrument(span.clone()))
            .await;
        response.headers_mut().insert("x-request-id", value);
        let status = response.status().as_u16();
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        span.in_scope(|| {
            if route.ends_with("/health") || route.ends_with("/ready") {
                tracing::debug!(status, latency_ms, "request");
            } else {
                tracing::info!(status, latency_ms, "request");
            }
        });
        crate::metrics::record_request(status, latency_ms);
        response
    } else {
        next.run(req).await
    }
}

/// The id as a request extension, for handlers that record it (audit).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);
