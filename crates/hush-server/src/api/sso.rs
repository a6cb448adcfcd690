//! Single sign-on routes: start (to the provider), callback (back from it: a panel session, or
//! a one-time code for `hush login --sso`), the CLI's code exchange, and what the sign-in page
//! offers. The checks themselves are in [`crate::auth::sso`].

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use hush_crypto::{new_token, token_hash};
use hush_store::{
    ActorKind, AuditEvent, InviteKind, NewInvite, NewUser, Outcome, SsoIdentity, StoreError, User,
    check_member_name, now_millis,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::extract::Json;
use super::session::{LoginToken, login_token};
use super::views::CreatedToken;
use crate::AppState;
use crate::auth::sso::{Identity, Refusal, Return, Sso};
use crate::auth::{self, ClientIp, Principal};
use crate::error::{ApiError, ApiResult};

/// The cookie that ties a sign-in's `state` to the browser that started it (login CSRF).
const STATE_COOKIE: &str = "hush_sso_state";

/// What the sign-in page offers.
#[derive(Serialize, ToSchema)]
pub struct SsoInfo {
    /// Single sign-on is set up.
    pub enabled: bool,
    /// The provider's name, for "Sign in with …".
    pub name: Option<String>,
    /// Whether names and passwords are accepted too.
    pub password_login: bool,
}

/// What the sign-in page offers: single sign-on (and with which provider), passwords.
#[utoipa::path(get, path = "/auth/sso", tag = "session", security(()),
    responses((status = 200, body = SsoInfo)))]
pub async fn info(State(state): State<AppState>) -> axum::Json<SsoInfo> {
    axum::Json(SsoInfo {
        enabled: state.sso.is_some(),
        name: state.sso.as_ref().map(|s| s.config.display_name.clone()),
        password_login: state.config.password_login,
    })
}

#[derive(Deserialize, IntoParams)]
pub struct StartQuery {
    /// Passed to the provider as `login_hint`.
    login_hint: Option<String>,
    /// `hush login --sso`: the port of its listener on 127.0.0.1.
    cli_port: Option<u16>,
    /// `hush login --sso`: its own state, sent back with the code.
    cli_state: Option<String>,
}

const MAX_INVITE_LEN: usize = 200;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    /// An invitation link's token: the invitation creates the member on their first sign-in.
    #[schema(max_length = 200)]
    invite: Option<String>,
    login_hint: Option<String>,
}

/// Where the browser goes next.
#[derive(Serialize, ToSchema)]
pub struct StartView {
    /// The identity provider's authorization address.
    pub url: String,
}

fn sso(state: &AppState) -> ApiResult<&Sso> {
    state.sso.as_deref().ok_or_else(|| {
        ApiError::not_found("single sign-on is not set up on this server").with_code("sso_off")
    })
}

/// Starts a sign-in: a redirect to the identity provider. The state, nonce and PKCE verifier
/// stay on the servers' database, sealed (ten minutes, single use); a cookie ties the state to
/// this browser.
#[utoipa::path(get, path = "/auth/sso/start", tag = "session", security(()), params(StartQuery),
    responses((status = 303, description = "To the identity provider"), (status = "default", description = "404 sso_off; 502 when the provider cannot be reached (an HTML page)")))]
pub async fn start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(query): Query<StartQuery>,
) -> ApiResult<Response> {
    let ret = match query.cli_port {
        Some(port) if port > 0 => Return::Cli {
            port,
            cli_state: query
                .cli_state
                .filter(|s| {
                    !s.is_empty()
                        && s.len() <= 128
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "cli_state: give 1 to 128 letters, digits, - or _ with cli_port",
                    )
                })?,
        },
        _ => Return::Panel,
    };
    begin(&state, ip, None, ret, query.login_hint).await
}

/// Starts a sign-in from an invitation link (the token travels in the body, not the URL):
/// answers with the provider's address for the page to go to (a form could not: the panel's
/// `form-action 'self'` also covers where a form's answer redirects).
#[utoipa::path(post, path = "/auth/sso/start", tag = "session", security(()), request_body = StartBody,
    responses((status = 200, body = StartView), (status = "default", description = "404 sso_off; 502 sso_provider_unreachable")))]
pub async fn start_invited(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<StartBody>,
) -> ApiResult<Response> {
    let invite = body
        .invite
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    // It is sealed into the sign-in kept until the callback: no room for more than a token.
    if invite.as_ref().is_some_and(|t| t.len() > MAX_INVITE_LEN) {
        return Err(ApiError::bad_request(format!(
            "invite: an invitation link's token has at most {MAX_INVITE_LEN} characters"
        )));
    }
    let sso = sso(&state)?;
    match sso.start(invite, Return::Panel, body.login_hint).await {
        Ok((url, sso_state)) => Ok((
            [(header::SET_COOKIE, state_cookie(&state, &sso_state))],
            axum::Json(StartView { url }),
        )
            .into_response()),
        Err(refusal) => {
            audit_refusal(&state, ip, None, &refusal).await;
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                refusal.code,
                refusal.message,
            ))
        }
    }
}

fn state_cookie(state: &AppState, sso_state: &str) -> String {
    format!(
        "{STATE_COOKIE}={sso_state}; Path=/api/v1/auth/sso; HttpOnly; SameSite=Lax; Max-Age={}{}",
        crate::auth::sso::PENDING_TTL.as_secs(),
        if state.config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    )
}

async fn begin(
    state: &AppState,
    ip: Option<String>,
    invite: Option<String>,
    ret: Return,
    login_hint: Option<String>,
) -> ApiResult<Response> {
    let sso = sso(state)?;
    match sso.start(invite, ret, login_hint).await {
        Ok((url, sso_state)) => Ok((
            [(header::SET_COOKIE, state_cookie(state, &sso_state))],
            Redirect::to(&url),
        )
            .into_response()),
        Err(refusal) => Ok(refuse(state, ip, None, refusal).await),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// The provider's error code, when it ended the sign-in itself.
    error: Option<String>,
}

/// Where the identity provider sends the browser back: checks the sign-in, finds or creates
/// the member, and starts a panel session (or hands `hush login --sso` a one-time code).
/// Refusals are HTML pages saying why, audited, and create nothing.
#[utoipa::path(get, path = "/auth/sso/callback", tag = "session", security(()), params(CallbackQuery),
    responses((status = 303, description = "Signed in: to the panel (with the session cookie) or to hush login's listener"), (status = 400, description = "Refused: an HTML page saying why"), (status = 403, description = "Refused: an HTML page saying why"), (status = 502, description = "The provider cannot be reached"), (status = "default", description = "404 sso_off")))]
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let sso = sso(&state)?;
    let Some(sso_state) = query.state.filter(|s| !s.is_empty()) else {
        let r = Refusal::new(
            "sso_unknown_state",
            "this sign-in has no state; start again",
        );
        return Ok(refuse(&state, ip, None, r).await);
    };
    let pending = match sso.take(&sso_state).await {
        Ok(p) => p,
        Err(r) => return Ok(refuse(&state, ip, None, r).await),
    };
    let cookie = auth::cookie_value(&headers, STATE_COOKIE);
    if !cookie.is_some_and(|c| hush_crypto::ct_eq(c.as_bytes(), sso_state.as_bytes())) {
        let r = Refusal::new(
            "sso_state_mismatch",
            "this sign-in was started in another browser; start again here",
        );
        return Ok(refuse(&state, ip, None, r).await);
    }
    if let Some(error) = query.error {
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect();
        let r = Refusal::new(
            "sso_provider_error",
            format!("the identity provider ended the sign-in: {error}"),
        );
        return Ok(refuse(&state, ip, None, r).await);
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        let r = Refusal::new(
            "sso_no_code",
            "the identity provider sent no code; start again",
        );
        return Ok(refuse(&state, ip, None, r).await);
    };
    let invite = pending.invite.clone();
    let ret = pending.ret.clone();
    let identity = match sso.finish(code, pending).await {
        Ok(i) => i,
        Err(r) => return Ok(refuse(&state, ip, None, r).await),
    };
    let user = match member_for(&state, sso, &identity, invite, ip.clone()).await {
        Ok(Ok(user)) => user,
        Ok(Err(r)) => return Ok(refuse(&state, ip, Some(&identity), r).await),
        Err(e) => return Err(e),
    };
    state
        .audit
        .record_durably(AuditEvent {
            at: now_millis(),
            actor_kind: ActorKind::User,
            actor_id: Some(user.id),
            actor_name: Some(user.name.clone()),
            action: "auth.sso".into(),
            app_id: None,
            app_name: None,
            ip,
            outcome: Outcome::Ok,
            detail: json!({ "issuer": identity.issuer, "subject": identity.subject, "cli": ret != Return::Panel }),
        })
        .await?;
    let clear =
        format!("{STATE_COOKIE}=; Path=/api/v1/auth/sso; HttpOnly; SameSite=Lax; Max-Age=0");
    match ret {
        Return::Panel => {
            let session = super::session::start_session(&state, &user).await?;
            let mut response = Redirect::to("/").into_response();
            for cookie in session.headers().get_all(header::SET_COOKIE) {
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, cookie.clone());
            }
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear.parse().expect("ascii"));
            Ok(response)
        }
        Return::Cli { port, cli_state } => {
            let code = sso.new_cli_code(user.id).await?;
            let url = format!("http://127.0.0.1:{port}/callback?code={code}&state={cli_state}");
            Ok(([(header::SET_COOKIE, clear)], Redirect::to(&url)).into_response())
        }
    }
}

/// The member an identity is: the one linked to it; else the one named by its email (then
/// linked, unless linked to another identity); else one made from the invitation the sign-in
/// came with; else a new one (when unknown people may join). `Ok(Err(_))`: refused.
async fn member_for(
    state: &AppState,
    sso: &Sso,
    identity: &Identity,
    invite: Option<String>,
    ip: Option<String>,
) -> ApiResult<Result<User, Refusal>> {
    if let Some(link) = state
        .store
        .find_sso_identity(&identity.issuer, &identity.subject)
        .await?
    {
        let user = state.store.get_user(link.user_id).await?;
        if link.email != identity.email {
            link_identity(state, &user, identity).await?;
        }
        return Ok(Ok(user));
    }
    if let Some(found) = member_named_by(state, identity).await? {
        return Ok(found);
    }
    if check_member_name(&identity.email).is_err() {
        return Ok(Err(Refusal::new(
            "sso_bad_email",
            format!(
                "{} cannot be a member's name here (at most 64 letters, digits or . _ @ + -)",
                identity.email
            ),
        )));
    }
    let now = now_millis();
    let link = match invite {
        Some(token) => token,
        None if sso.config.create_users => {
            // A one-minute invitation made and used at once: the member is created by the
            // same store path as any other.
            let token = new_token("hush_invite_").to_string();
            let role = sso.role_for(identity);
            state
                .store
                .create_invite(
                    NewInvite {
                        token_hash: token_hash(&token).to_vec(),
                        kind: InviteKind::Invite,
                        role,
                        created_by: None,
                        created_at: now,
                        expires_at: now + 60_000,
                    },
                    AuditEvent {
                        at: now,
                        actor_kind: ActorKind::System,
                        actor_id: None,
                        actor_name: Some("sso".into()),
                        action: "member.invited".into(),
                        app_id: None,
                        app_name: None,
                        ip: ip.clone(),
                        outcome: Outcome::Ok,
                        detail: json!({ "role": role, "via": "sso", "email": identity.email }),
                    },
                )
                .await?;
            token
        }
        None => {
            return Ok(Err(Refusal::new(
                "sso_not_invited",
                format!(
                    "{} is not a member here, and this server takes new members by invitation only: \
                     ask an owner for an invitation link, open it, and sign in with single sign-on from there",
                    identity.email
                ),
            )));
        }
    };
    // Nobody knows this password: the member signs in through the provider.
    let password_hash = state
        .passwords
        .hash(new_token("hush_nopw_").to_string())
        .await?;
    let accepted = state
        .store
        .accept_invite(
            &token_hash(&link),
            now,
            NewUser {
                name: identity.email.clone(),
                role: hush_store::Role::Viewer,
                password_hash,
                created_at: now,
            },
            AuditEvent {
                at: now,
                actor_kind: ActorKind::User,
                actor_id: None,
                actor_name: Some(identity.email.clone()),
                action: "member.joined".into(),
                app_id: None,
                app_name: None,
                ip,
                outcome: Outcome::Ok,
                detail: json!({ "via": "sso", "issuer": identity.issuer, "subject": identity.subject }),
            },
        )
        .await;
    match accepted {
        Ok((_, user)) => {
            link_identity(state, &user, identity).await?;
            Ok(Ok(user))
        }
        Err(StoreError::NotFound) => Ok(Err(Refusal::new(
            "sso_dead_invite",
            "this invitation link is unknown, used or expired; ask for a new one",
        ))),
        // Two first sign-ins at once: the other made the member.
        Err(StoreError::Conflict(message)) => match member_named_by(state, identity).await? {
            Some(found) => Ok(found),
            None => Err(StoreError::Conflict(message).into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// The existing member whose name is the identity's email, linked to it; `None` when there
/// is none. Names are found by their look-alike-proof key, which makes `rnary@c0rp.com` the
/// same name as `mary@corp.com` (so both cannot exist); an identity is only ever linked to a
/// member whose name is its email exactly, case aside, and a look-alike is refused.
async fn member_named_by(
    state: &AppState,
    identity: &Identity,
) -> ApiResult<Option<Result<User, Refusal>>> {
    let user = match state.store.find_user_credentials(&identity.email).await {
        Ok((user, _)) => user,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if user.name.to_lowercase() != identity.email.to_lowercase() {
        return Ok(Some(Err(Refusal::new(
            "sso_name_lookalike",
            format!(
                "{} looks like the name of another member here, so it cannot sign in or \
                 become a member; ask an owner",
                identity.email
            ),
        ))));
    }
    if let Some(link) = state.store.sso_identity_of(user.id).await? {
        if link.issuer != identity.issuer || link.subject != identity.subject {
            return Ok(Some(Err(Refusal::new(
                "sso_identity_mismatch",
                format!(
                    "the member {} is linked to another single sign-on account; \
                     an owner can remove the member and invite them again",
                    user.name
                ),
            ))));
        }
        return Ok(Some(Ok(user)));
    }
    link_identity(state, &user, identity).await?;
    Ok(Some(Ok(user)))
}

async fn link_identity(state: &AppState, user: &User, identity: &Identity) -> ApiResult<()> {
    state
        .store
        .link_sso_identity(SsoIdentity {
            user_id: user.id,
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
            email: identity.email.clone(),
            linked_at: now_millis(),
        })
        .await?;
    Ok(())
}

/// The single sign-on identity your account is linked to (`null`: none).
#[utoipa::path(get, path = "/account/sso", tag = "session",
    responses((status = 200, body = Option<SsoIdentity>)))]
pub async fn linked(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<axum::Json<Option<SsoIdentity>>> {
    let user = who.user()?;
    Ok(axum::Json(state.store.sso_identity_of(user.id).await?))
}

async fn audit_refusal(
    state: &AppState,
    ip: Option<String>,
    identity: Option<&Identity>,
    refusal: &Refusal,
) {
    let event = AuditEvent {
        at: now_millis(),
        actor_kind: ActorKind::Anonymous,
        actor_id: None,
        actor_name: identity.map(|i| i.email.clone()),
        action: "auth.sso".into(),
        app_id: None,
        app_name: None,
        ip,
        outcome: Outcome::Failed,
        detail: json!({ "reason": refusal.code }),
    };
    if let Err(e) = state.audit.record(event).await {
        tracing::warn!(error = %e.message, "cannot audit a refused sign-in");
    }
}

/// An audited refusal, as a page that says why (nothing was created).
async fn refuse(
    state: &AppState,
    ip: Option<String>,
    identity: Option<&Identity>,
    refusal: Refusal,
) -> Response {
    audit_refusal(state, ip, identity, &refusal).await;
    let status = if refusal.provider_down {
        StatusCode::BAD_GATEWAY
    } else if refusal.code == "sso_unavailable" {
        StatusCode::SERVICE_UNAVAILABLE
    } else if matches!(
        refusal.code,
        "sso_not_invited"
            | "sso_domain_not_allowed"
            | "sso_email_unverified"
            | "sso_dead_invite"
            | "sso_identity_mismatch"
            | "sso_name_lookalike"
    ) {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in refused · hush</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
         <body><main><h1>Sign-in refused</h1><p id=\"sso-error\" data-code=\"{code}\">{message}</p>\
         <p><a href=\"/login\">Back to sign in</a></p></main></body></html>",
        code = refusal.code,
        message = escape(&refusal.message),
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(page)).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeBody {
    /// The one-time code the callback sent to `hush login --sso`'s listener.
    code: String,
    #[schema(min_length = 1, max_length = 100)]
    token_name: Option<String>,
    /// The token this sign-in replaces (as for `POST /auth/token`).
    replaces: Option<String>,
}

/// `hush login --sso`: trades the one-time code (a minute, single use) for a personal token.
#[utoipa::path(post, path = "/auth/sso/exchange", tag = "session", security(()), request_body = ExchangeBody,
    responses((status = 201, body = CreatedToken), (status = "default", description = "401 bad_code")))]
pub async fn exchange(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ExchangeBody>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let sso = sso(&state)?;
    let user_id = sso.take_cli_code(body.code.trim()).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_code",
            "this sign-in code is unknown, used or expired; run hush login --sso again",
        )
    })?;
    let user = state.store.get_user(user_id).await?;
    let token = LoginToken {
        name: body.token_name,
        expires_in_days: None,
        replaces: body.replaces,
    };
    login_token(&state, user, ip, token).await
}
