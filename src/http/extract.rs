//! Extractors that turn every malformed request into the JSON error shape.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// True when the request says its body is JSON (`application/json`, with
/// or without parameters such as `charset=utf-8`).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Parses a JSON document into `T`, naming the offending field on failure.
/// Request types deny unknown fields, so a client can never set a field the
/// route did not ask for (`role`, `id`, `owner`…).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut *de);
    let value = result.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let text = inner.to_string();
        // serde_json appends " at line L column C"; the client needs only
        // the sentence.
        let sentence = text
            .rsplit_once(" at line ")
            .map(|(s, _)| s.to_owned())
            .unwrap_or(text);
        match inner.classify() {
            serde_json::error::Category::Data => {
                if let Some(name) = sentence.strip_prefix("unknown field `") {
                    let name = name.split('`').next().unwrap_or_default();
                    AppError::BadRequest {
                        code: "unknown_field",
                        message: format!("the field `{name}` is not accepted here"),
                        field: Some(name.to_owned()),
                    }
                } else if let Some(name) = sentence.strip_prefix("missing field `") {
                    let name = name.split('`').next().unwrap_or_default();
                    AppError::BadRequest {
                        code: "missing_field",
                        message: format!("the field `{name}` is required"),
                        field: Some(name.to_owned()),
                    }
                } else {
                    AppError::BadRequest {
                        code: "invalid_field",
                        message: truncate(&sentence, 200),
                        field: (path != ".").then_some(path),
                    }
                }
            }
            _ => AppError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {}", truncate(&sentence, 120)),
            ),
        }
    })?;
    // serde_json stops after the first document; a second one smuggled
    // behind it must not be ignored silently.
    de.end().map_err(|_| {
        AppError::bad_request(
            "invalid_json",
            "the body is not valid JSON: trailing characters after the document",
        )
    })?;
    Ok(value)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// A JSON body, strictly typed. Refuses a missing or wrong content type
/// with 415, an oversized body with 413 and anything unparsable with 400.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        if !is_json(req.headers()) {
            return Err(AppError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::bad_request("invalid_body", "the request body could not be read")
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// An optional JSON body: no `Content-Type` means no body (the body rules
/// layer has already refused a body sent without one).
impl<T, S> axum::extract::OptionalFromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, AppError> {
        if !req.headers().contains_key(CONTENT_TYPE) {
            return Ok(None);
        }
        <Json<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

/// Query parameters, strictly typed, refused in our error shape.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_from_str(query).map(Query)
    }
}

fn serde_urlencoded_from_str<T: DeserializeOwned>(query: &str) -> Result<T, AppError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| AppError::bad_request("invalid_query", "the query string is malformed"))?,
    )
    .map(|q| q.0)
    .map_err(|rejection| {
        AppError::bad_request(
            "invalid_query",
            truncate(
                &rejection
                    .body_text()
                    .replace("Failed to deserialize query string: ", ""),
                200,
            ),
        )
    })
}

/// The address rate limits and the audit log use: the TCP peer, or the
/// first untrusted hop of `X-Forwarded-For` when the peer is a configured
/// trusted proxy. A client cannot choose it by sending headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    pub fn resolve(headers: &HeaderMap, peer: Option<SocketAddr>, trusted: &[IpAddr]) -> ClientIp {
        let peer_ip = peer.map(|p| p.ip()).unwrap_or(IpAddr::from([127, 0, 0, 1]));
        if !trusted.contains(&peer_ip) {
            return ClientIp(peer_ip);
        }
        // Walk X-Forwarded-For from the right, skipping our own proxies;
        // the first address that is not one of them is the client.
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let client = hops
            .iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .copied()
            .unwrap_or(peer_ip);
        ClientIp(client)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        Ok(ClientIp::resolve(&parts.headers, peer, &[]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_trusted() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4".parse().unwrap());
        let peer = Some(SocketAddr::from(([10, 0, 0, 9], 5000)));
        assert_eq!(
            ClientIp::resolve(&headers, peer, &[]).0,
            IpAddr::from([10, 0, 0, 9])
        );
        let proxy = IpAddr::from([10, 0, 0, 9]);
        assert_eq!(
            ClientIp::resolve(&headers, peer, &[proxy]).0,
            IpAddr::from([1, 2, 3, 4])
        );
        headers.insert("x-forwarded-for", "6.6.6.6, 1.2.3.4".parse().unwrap());
        assert_eq!(
            ClientIp::resolve(&headers, peer, &[proxy]).0,
            IpAddr::from([1, 2, 3, 4])
        );
    }
}
