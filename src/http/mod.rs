//! The HTTP edge: the router and the layers every request passes through.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

use crate::AppState;

pub mod extract;
pub mod protect;
pub mod ratelimit;
pub mod request_id;

/// Wraps the domain routes in the cross-cutting protections. Listed from
/// the outside in: a request meets them in this order, and each response
/// passes back through them, so even a panic or a 429 gets the security
/// headers and a request id.
pub fn with_protections(routes: Router<AppState>, state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(from_fn(request_id::layer))
        .layer(from_fn_with_state(state.clone(), protect::security_headers))
        .layer(from_fn(protect::json_errors))
        .layer(CatchPanicLayer::custom(protect::panic_response))
        .layer(from_fn_with_state(state.clone(), protect::client_ip))
        .layer(from_fn_with_state(
            state.clone(),
            crate::accounts::session::layer,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            crate::audit::refusals_layer,
        ))
        .layer(from_fn_with_state(state.clone(), protect::body_rules))
        .layer(from_fn_with_state(
            state.clone(),
            crate::accounts::session::csrf_layer,
        ))
        .layer(from_fn_with_state(
            state.clone(),
            protect::general_rate_limit,
        ));
    routes
        .fallback(protect::not_found)
        .layer(layers)
        .layer(DefaultBodyLimit::max(state.config.json_body_limit))
        .with_state(state)
}
