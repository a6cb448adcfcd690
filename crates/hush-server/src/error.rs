//! One error type for every handler. The client gets a stable `{"error": code, "message": …}`
//! body; internal causes are logged here and never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hush_store::StoreError;
use serde_json::{Value, json};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Extra fields merged into the body (line and column of a parse error, the versions saved since…).
    pub extra: Option<Value>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    pub fn with_extra(mut self, extra: Value) -> Self {
        self.extra = Some(extra);
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code, "message": self.message });
        if let (Some(Value::Object(extra)), Value::Object(map)) = (self.extra, &mut body) {
            map.extend(extra);
        }
        (self.status, Json(body)).into_response()
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
