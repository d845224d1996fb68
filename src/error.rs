//! The one error type at the HTTP edge.
//!
//! Every variant names the HTTP outcome a client sees. Internal causes
//! (database, I/O, anything unexpected) are logged once, with the request
//! id, and never reach the client: the response only says that something
//! failed and which request id to quote.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::http::request_id;

/// A failed request, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 400: the body or query could not be understood or a field is invalid.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 401: no valid session.
    #[error("authentication required")]
    Unauthorized,
    /// 401: the session timed out or was ended; log in again.
    #[error("your session has ended; log in again")]
    SessionExpired,
    /// 401 with the single login failure message.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// 403 with a stable code such as `forbidden`, `csrf_failed`, `totp_required`.
    #[error("{message}")]
    Forbidden {
        code: &'static str,
        message: &'static str,
    },
    /// 404: the thing does not exist, or the caller may not know that it does.
    #[error("not found")]
    NotFound,
    /// 409: the request conflicts with the current state.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        extra: Option<Map<String, Value>>,
    },
    /// 413: the body is larger than the route accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429: a rate limit or an account lock; `retry_after` in seconds.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
        message: &'static str,
        retry_after: u64,
    },
    /// 500: logged with its cause, answered without it.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A 400 for one named field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code: "invalid_field",
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AppError::BadRequest {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn forbidden() -> Self {
        AppError::Forbidden {
            code: "forbidden",
            message: "you may not do this",
        }
    }

    pub fn csrf_failed() -> Self {
        AppError::Forbidden {
            code: "csrf_failed",
            message: "the request's CSRF token or origin was not accepted",
        }
    }

    pub fn totp_required() -> Self {
        AppError::Forbidden {
            code: "totp_required",
            message: "enrol an authenticator app (TOTP) before using this function",
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        AppError::Conflict {
            code,
            message: message.into(),
            extra: None,
        }
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        AppError::TooManyRequests {
            code: "rate_limited",
            message: "too many requests; try again later",
            retry_after: retry_after.max(1),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unauthorized | AppError::SessionExpired | AppError::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code sent as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::BadRequest { code, .. } => code,
            AppError::Unauthorized => "unauthorized",
            AppError::SessionExpired => "session_expired",
            AppError::InvalidCredentials => "invalid_credentials",
            AppError::Forbidden { code, .. } => code,
            AppError::NotFound => "not_found",
            AppError::Conflict { code, .. } => code,
            AppError::PayloadTooLarge => "payload_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::TooManyRequests { code, .. } => code,
            AppError::Internal(_) => "internal_error",
        }
    }
}

/// Builds the JSON error body shared by every refusal, including those
/// produced by middleware before any handler runs.
pub fn error_body(code: &str, message: &str) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("error".into(), json!(code));
    body.insert("message".into(), json!(message));
    body
}

impl AppError {
    /// The JSON body of this error. Internal causes are logged here, once,
    /// with the request id, and replaced by a generic sentence.
    fn body(&self) -> Map<String, Value> {
        let code = self.code();
        match self {
            AppError::Internal(cause) => {
                let id = request_id::current();
                // The cause may hold SQL or paths: it goes to the log only.
                tracing::error!(request_id = %id, error = %format!("{cause:#}"), "internal error");
                let mut body = error_body(code, "something went wrong on our side");
                body.insert("request_id".into(), json!(id));
                body
            }
            AppError::BadRequest { field, .. } => {
                let mut body = error_body(code, &self.to_string());
                if let Some(field) = field {
                    body.insert("field".into(), json!(field));
                }
                body
            }
            AppError::Conflict { extra, .. } => {
                let mut body = error_body(code, &self.to_string());
                if let Some(extra) = extra {
                    body.extend(extra.clone());
                }
                body
            }
            AppError::TooManyRequests { retry_after, .. } => {
                let mut body = error_body(code, &self.to_string());
                body.insert("retry_after".into(), json!(retry_after));
                body
            }
            _ => error_body(code, &self.to_string()),
        }
    }

    /// The response for this error with more members in its body, such as
    /// the crisis resources a refused questionnaire must still show.
    pub fn into_response_with(self, extra: Map<String, Value>) -> Response {
        let status = self.status();
        let code = self.code();
        let retry = match &self {
            AppError::TooManyRequests { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let mut body = self.body();
        body.extend(extra);
        let mut response = (status, Json(Value::Object(body))).into_response();
        response.extensions_mut().insert(ErrorCode(code));
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.into_response_with(Map::new())
    }
}

impl From<sqlx::Error> for AppError {
    fn from(err: sqlx::Error) -> Self {
        AppError::Internal(anyhow::Error::new(err).context("database query failed"))
    }
}

/// Turns a unique-constraint violation into a 409 so handlers need no
/// string matching of their own.
pub trait ConflictOnUnique<T> {
    fn conflict_on_unique(self, code: &'static str, message: &str) -> Result<T, AppError>;
}

impl<T> ConflictOnUnique<T> for Result<T, sqlx::Error> {
    fn conflict_on_unique(self, code: &'static str, message: &str) -> Result<T, AppError> {
        self.map_err(|err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                AppError::conflict(code, message)
            }
            _ => err.into(),
        })
    }
}

/// The error code of a refused request, left on the response for the audit
/// layer to record.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

pub type AppResult<T> = Result<T, AppError>;
