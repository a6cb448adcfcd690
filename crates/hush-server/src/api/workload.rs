//! Workload identity: CI jobs and platforms trade a JWT their issuer signed for a short-lived
//! app token, with no stored secret. Owners say, per app, which issuers to trust, the audience
//! the tokens must name, and conditions on their claims (globs); `POST /auth/workload` checks
//! a token against them (see `auth::workload`) and refuses with a reason that is audited.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use hush_crypto::{new_token, token_hash};
use hush_store::{
    ActorKind, App, AuditEvent, NewToken, NewWorkloadTrust, Outcome, StoreError, TokenKind,
    WorkloadTrust, now_millis,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::audit_event;
use super::extract::{AppAccess, Json, Owner, Path};
use crate::AppState;
use crate::auth::ClientIp;
use crate::auth::workload::{Refusal, claimed_issuer};
use crate::error::{ApiError, ApiResult};

/// App tokens from an exchange live this long unless the trust says otherwise.
const DEFAULT_TOKEN_MINUTES: i64 = 15;
const MAX_TOKEN_MINUTES: i64 = 12 * 60;

#[derive(Serialize, ToSchema)]
pub struct WorkloadTrustView {
    pub id: i64,
    pub issuer: String,
    /// `null`: found through the issuer's discovery document.
    pub jwks_url: Option<String>,
    pub audience: String,
    /// Claim name → glob (`*` any run of characters, `?` one character).
    pub conditions: BTreeMap<String, String>,
    /// How long the app token given in exchange lives.
    pub token_minutes: i64,
    pub created_at: i64,
}

impl From<WorkloadTrust> for WorkloadTrustView {
    fn from(t: WorkloadTrust) -> Self {
        WorkloadTrustView {
            id: t.id,
            issuer: t.issuer,
            jwks_url: t.jwks_url,
            audience: t.audience,
            conditions: t.conditions,
            token_minutes: t.ttl_seconds / 60,
            created_at: t.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct WorkloadTrusts {
    pub trusts: Vec<WorkloadTrustView>,
}

/// The issuers this app trusts (owners).
#[utoipa::path(get, path = "/apps/{app}/workload-trusts", tag = "workload",
    responses((status = 200, body = WorkloadTrusts)))]
pub async fn list(
    State(state): State<AppState>,
    AppAccess { app, .. }: AppAccess<Owner>,
) -> ApiResult<axum::Json<WorkloadTrusts>> {
    let trusts = state.store.list_workload_trusts(app.id).await?;
    Ok(axum::Json(WorkloadTrusts {
        trusts: trusts.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTrustBody {
    /// The `iss` of the tokens, exactly (`https://token.actions.githubusercontent.com`).
    issuer: String,
    /// Where the issuer's keys are; when absent, from its OpenID discovery document.
    jwks_url: Option<String>,
    /// The `aud` the tokens must name.
    audience: String,
    /// At least one claim condition: claim name → glob (`{"repository": "acme/web", "ref":
    /// "refs/heads/main"}`). Every one must match.
    conditions: BTreeMap<String, String>,
    /// 1 to 720; 15 when absent.
    token_minutes: Option<i64>,
}

/// https, or http to this machine only (a local issuer, tests).
fn check_url(field: &str, url: &str) -> ApiResult<()> {
    let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| url.starts_with(p) && url[p.len()..].starts_with([':', '/']));
    let https = url.starts_with("https://") && url.len() > "https://".len();
    if (https || loopback) && !url.chars().any(char::is_whitespace) && url.len() <= 500 {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{field}: give an https:// URL (http:// only for 127.0.0.1 or localhost)"
        )))
    }
}

/// Trusts an issuer's tokens for this app (owners). Conditions are required: many workloads
/// share an issuer (every GitHub repository uses the same one), and the audience is chosen by
/// the workload itself.
#[utoipa::path(post, path = "/apps/{app}/workload-trusts", tag = "workload",
    request_body = AddTrustBody,
    responses((status = 201, body = WorkloadTrustView), (status = "default", description = "400 says which field is wrong")))]
pub async fn add(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Json(body): Json<AddTrustBody>,
) -> ApiResult<(StatusCode, axum::Json<WorkloadTrustView>)> {
    check_url("issuer", &body.issuer)?;
    if let Some(url) = &body.jwks_url {
        check_url("jwks_url", url)?;
    }
    let audience = body.audience.trim().to_string();
    if audience.is_empty() || audience.len() > 200 {
        return Err(ApiError::bad_request(
            "audience: give the aud the tokens must name (1 to 200 characters)",
        ));
    }
    if body.conditions.is_empty()
        || body
            .conditions
            .values()
            .all(|p| p.trim_matches('*').is_empty())
    {
        return Err(ApiError::bad_request(
            "conditions: give at least one claim condition that is not just \"*\" (e.g. \
             {\"repository\": \"acme/web\"}): every workload of the issuer could use this trust otherwise",
        ));
    }
    if let Some((claim, _)) = body
        .conditions
        .iter()
        .find(|(c, p)| c.is_empty() || c.len() > 100 || p.is_empty() || p.len() > 500)
    {
        return Err(ApiError::bad_request(format!(
            "conditions: claim {claim:?} needs a name of 1 to 100 and a pattern of 1 to 500 characters"
        )));
    }
    let minutes = body.token_minutes.unwrap_or(DEFAULT_TOKEN_MINUTES);
    if !(1..=MAX_TOKEN_MINUTES).contains(&minutes) {
        return Err(ApiError::bad_request(format!(
            "token_minutes: use 1 to {MAX_TOKEN_MINUTES}"
        )));
    }
    let event = audit_event(
        &who,
        "workload.trust_add",
        Some(&app),
        json!({ "issuer": body.issuer, "audience": audience, "conditions": body.conditions }),
    );
    let trust = state
        .store
        .add_workload_trust(
            NewWorkloadTrust {
                app_id: app.id,
                issuer: body.issuer,
                jwks_url: body.jwks_url,
                audience,
                conditions: body.conditions,
                ttl_seconds: minutes * 60,
                created_at: now_millis(),
            },
            event,
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(trust.into())))
}

#[derive(Deserialize)]
pub struct TrustPath {
    id: i64,
}

/// Stops trusting an issuer's tokens for this app (owners). App tokens already given keep
/// working until they expire (revoke them in the app's tokens).
#[utoipa::path(delete, path = "/apps/{app}/workload-trusts/{id}", tag = "workload",
    params(("id" = i64, Path)),
    responses((status = 204, description = "Removed")))]
pub async fn remove(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<Owner>,
    Path(path): Path<TrustPath>,
) -> ApiResult<StatusCode> {
    let event = audit_event(
        &who,
        "workload.trust_remove",
        Some(&app),
        json!({ "trust_id": path.id }),
    );
    state
        .store
        .remove_workload_trust(app.id, path.id, event)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format!(
                "app {:?} has no workload trust with id {}",
                app.name, path.id
            )),
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeBody {
    /// The app whose token is wanted.
    app: String,
    /// The JWT the workload's issuer signed.
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct WorkloadToken {
    /// An app token of `app`, shown once.
    pub token: String,
    pub app: String,
    pub expires_at: i64,
}

/// Trades a JWT signed by an issuer the app trusts for a short-lived app token (15 minutes
/// unless the trust says otherwise). Refusals say why (`workload_unknown_issuer`,
/// `workload_bad_signature`, `workload_expired`, `workload_wrong_audience`,
/// `workload_claims_mismatch`, `workload_replayed`, `workload_bad_token`) and are audited.
#[utoipa::path(post, path = "/auth/workload", tag = "workload", security(()), request_body = ExchangeBody,
    responses((status = 201, body = WorkloadToken), (status = "default", description = "401 with the reason; 502 workload_issuer_unavailable")))]
pub async fn exchange(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ExchangeBody>,
) -> ApiResult<(StatusCode, axum::Json<WorkloadToken>)> {
    let refused = |refusal: Refusal, app: Option<&App>, issuer: Option<&str>| {
        let event = AuditEvent {
            at: now_millis(),
            actor_kind: ActorKind::Anonymous,
            actor_id: None,
            actor_name: None,
            action: "workload.refused".into(),
            app_id: app.map(|a| a.id),
            app_name: app.map(|a| a.name.clone()),
            ip: ip.clone(),
            outcome: Outcome::Denied,
            detail: json!({ "reason": refusal.code, "issuer": issuer, "message": refusal.message }),
        };
        // A flood of bad tokens records at most the refusal budget a second.
        if state.refusals.admit() {
            state.audit.try_record(event);
        }
        let status = if refusal.code == "issuer_unavailable" {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::UNAUTHORIZED
        };
        let code: &'static str = match refusal.code {
            "unknown_issuer" => "workload_unknown_issuer",
            "bad_signature" => "workload_bad_signature",
            "expired" => "workload_expired",
            "wrong_audience" => "workload_wrong_audience",
            "claims_mismatch" => "workload_claims_mismatch",
            "replayed" => "workload_replayed",
            "issuer_unavailable" => "workload_issuer_unavailable",
            _ => "workload_bad_token",
        };
        ApiError::new(status, code, refusal.message)
    };
    let Some(issuer) = claimed_issuer(body.token.trim()) else {
        return Err(refused(
            Refusal {
                code: "bad_token",
                message: "the workload token is not a JWT with an iss claim".into(),
            },
            None,
            None,
        ));
    };
    let token = body.token.trim();
    // An app that does not exist and an issuer the app does not trust get the same answer.
    let untrusted = || Refusal {
        code: "unknown_issuer",
        message: format!(
            "app {:?} trusts no workload tokens from {issuer:?} (or there is no such app); an owner adds the issuer in the app's settings",
            body.app
        ),
    };
    let app = match state.apps.get(&state, &body.app).await {
        Ok(app) => app,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            return Err(refused(untrusted(), None, Some(&issuer)));
        }
        Err(e) => return Err(e),
    };
    let trusts: Vec<WorkloadTrust> = state
        .store
        .list_workload_trusts(app.id)
        .await?
        .into_iter()
        .filter(|t| t.issuer == issuer)
        .collect();
    if trusts.is_empty() {
        return Err(refused(untrusted(), Some(&app), Some(&issuer)));
    }
    let mut accepted = None;
    let mut last = None;
    for trust in &trusts {
        match state.workload_keys.check(token, trust).await {
            Ok(ok) => {
                accepted = Some((ok, trust.ttl_seconds));
                break;
            }
            Err(refusal) => last = Some(refusal),
        }
    }
    let Some((accepted, ttl_seconds)) = accepted else {
        let refusal = last.unwrap_or_else(untrusted);
        return Err(refused(refusal, Some(&app), Some(&issuer)));
    };
    let now = now_millis();
    // Each token is exchanged once: by its `jti`, or, for an issuer that sends none, by a hash
    // of what its signature covers (header and claims: a signature can be re-encoded, those
    // bytes cannot change without breaking it).
    let once = match &accepted.jti {
        Some(jti) => jti.clone(),
        None => {
            let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
            format!("sha256:{}", hex::encode(token_hash(signed)))
        }
    };
    match state
        .store
        .use_workload_jti(&issuer, &once, accepted.accepted_until, now)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(refused(
                Refusal {
                    code: "replayed",
                    message:
                        "this workload token was exchanged already; ask the issuer for a new one"
                            .into(),
                },
                Some(&app),
                Some(&issuer),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let secret = new_token("hush_app_");
    let expires_at = now + ttl_seconds * 1000;
    let subject = accepted.subject.clone().unwrap_or_default();
    let name: String = format!("workload {subject}").chars().take(100).collect();
    let event = AuditEvent {
        at: now,
        actor_kind: ActorKind::Anonymous,
        actor_id: None,
        actor_name: accepted.subject.clone(),
        action: "workload.exchange".into(),
        app_id: Some(app.id),
        app_name: Some(app.name.clone()),
        ip,
        outcome: Outcome::Ok,
        detail: json!({ "issuer": issuer, "subject": accepted.subject, "trust_id": accepted.trust_id, "expires_at": expires_at }),
    };
    state
        .store
        .create_token(
            NewToken {
                kind: TokenKind::App,
                name,
                token_hash: token_hash(&secret).to_vec(),
                prefix: secret.chars().take(13).collect(),
                user_id: None,
                app_id: Some(app.id),
                created_at: now,
                expires_at: Some(expires_at),
            },
            event,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WorkloadToken {
            token: secret.to_string(),
            app: app.name,
            expires_at,
        }),
    ))
}
