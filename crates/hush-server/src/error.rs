//! One error type for every handler. The client gets a stable `{"error": code, "message": …}`
//! body; internal causes are logged here and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hush_store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields merged into the body (line and column of a parse error, the versions saved since…).
    pub extra: Option<Box<Value>>,
    /// Seconds to wait before trying again (sent as `Retry-After`).
    pub retry_after: Option<u64>,
    /// Who was refused, for the audit log's record of refusals.
    pub refused: Option<Box<crate::api::Refused>>,
}

/// The body of every error answer. Some errors add fields (documented where they occur):
/// `line`, `column` and `toml11_only` for TOML errors, `key` for a refused key, the versions
/// saved since for a conflict.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code to branch on, e.g. `not_found`, `conflict`, `invalid_toml`, `rate_limited`.
    #[schema(example = "not_found")]
    pub error: String,
    /// What went wrong, where, and what to do; never holds a secret value.
    pub message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
            refused: None,
        }
    }

    pub fn with_extra(mut self, extra: Value) -> Self {
        self.extra = Some(Box::new(extra));
        self
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// Names who was refused (a 403), for the audit log.
    pub fn by(mut self, who: &crate::auth::Principal) -> Self {
        self.refused = Some(Box::new(crate::api::Refused::of(who)));
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "sign in, or send a valid token as 'Authorization: Bearer <token>'",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server could not complete the request; its log has the cause",
        )
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// The error answer for a status that no handler chose (a layer's refusal, a method the
    /// route does not have): the standard shape with a sentence for the status.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this endpoint does not take that method; see /api/v1/openapi.json",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => (
                "too_large",
                "the request body is larger than this server accepts",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                "the request did not arrive in time; nothing was changed",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'",
            ),
            StatusCode::NOT_FOUND => (
                "not_found",
                "no such API endpoint; see /api/v1/openapi.json",
            ),
            s if s.is_server_error() => (
                "internal",
                "the server could not complete the request; its log has the cause",
            ),
            _ => ("bad_request", "the request could not be understood"),
        };
        ApiError::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let (Some(extra), Value::Object(map)) = (self.extra, &mut body)
            && let Value::Object(extra) = *extra
        {
            map.extend(extra);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(refused) = self.refused {
            response.extensions_mut().insert(*refused);
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found("not found"),
            StoreError::Conflict(message) => ApiError::conflict(message),
            StoreError::Unavailable(reason) => ApiError::unavailable(format!(
                "the database cannot be used right now ({reason}); nothing was changed, try again"
            )),
            StoreError::CommitUnknown(reason) => {
                ApiError::unavailable(format!("{reason}; check before trying again"))
                    .with_code("commit_unknown")
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                ApiError::internal()
            }
        }
    }
}

impl From<hush_crypto::CryptoError> for ApiError {
    fn from(err: hush_crypto::CryptoError) -> Self {
        tracing::error!(error = %err, "decryption failure (wrong master key or damaged data?)");
        ApiError::internal()
    }
}

impl From<hush_core::SaveError> for ApiError {
    fn from(err: hush_core::SaveError) -> Self {
        match &err {
            hush_core::SaveError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", err.to_string())
            }
            hush_core::SaveError::Parse(p) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_toml",
                err.to_string(),
            )
            .with_extra(
                json!({ "line": p.line, "column": p.column, "toml11_only": p.toml11_only }),
            ),
            hush_core::SaveError::InvalidEnvKey { key, .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_key",
                err.to_string(),
            )
            .with_extra(json!({ "key": key })),
        }
    }
}
