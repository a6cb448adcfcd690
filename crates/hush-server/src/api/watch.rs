//! The watch stream: Server-Sent Events telling a runner (or the panel) about each new version
//! of one app. Resumable with `Last-Event-ID`; heartbeats let both ends notice a dead connection.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use tokio::sync::watch;

use hush_store::Role;

use super::extract::{AppAccess, ViewerOrRunner, require_on_app};
use crate::AppState;
use crate::auth::{Credential, Principal};
use crate::error::ApiResult;
use crate::hub::Revoked;

/// Server-Sent Events: a `version` event (`id` = version, data `{"app", "env", "version"}`) for
/// each new version, and a `ping` comment as heartbeat. With included shared documents the
/// number is the environment's effective revision (its version plus how often its included
/// documents changed), the `revision` a read of its secrets returns. Send `Last-Event-ID` to resume: versions
/// after it are sent at once. The stream ends when the credentials that opened it are revoked
/// (token revoked, member removed, the session signed out or expired, signed out everywhere,
/// the member's role on the app set to `none`), the app is deleted, or the server stops.
#[utoipa::path(get, path = "/apps/{app}/watch", tag = "watch",
    responses((status = 200, content_type = "text/event-stream", description = "The event stream")))]
pub async fn watch(
    State(state): State<AppState>,
    AppAccess { who, app, .. }: AppAccess<ViewerOrRunner>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let current = crate::envs::current(&state, &app).await?.rev;
    let seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let versions = state.hub.subscribe(app.env_id, current);
    let closing = state.closing.subscribe();
    // Whose revocation ends the stream: the token or session that opened it, and the member.
    let holders = match &who {
        Principal::App { token_id, .. } => vec![Revoked::Token(*token_id)],
        Principal::User { user, via, .. } => {
            let lost_app = Revoked::AppAccess {
                user_id: user.id,
                app_id: app.id,
            };
            match via {
                Credential::Token { id } => {
                    vec![Revoked::Token(*id), Revoked::User(user.id), lost_app]
                }
                Credential::Session { id, .. } => {
                    vec![Revoked::Session(*id), Revoked::User(user.id), lost_app]
                }
            }
        }
    };
    // A panel session's stream ends when the session would end unless used meanwhile; the
    // browser reconnects, and the session is checked again (an idle or expired one is refused).
    let session_ends = match &who {
        Principal::User {
            via: Credential::Session { ends_at, .. },
            ..
        } => {
            let left = (*ends_at - hush_store::now_millis()).max(0) as u64;
            Some(tokio::time::Instant::now() + std::time::Duration::from_millis(left))
        }
        _ => None,
    };
    let revocations = state.hub.revocations();
    // Checked again once revocations are heard: access lost in between is not missed.
    if let Principal::User { .. } = &who {
        require_on_app(&state, &who, &app, Role::Viewer).await?;
    }
    let stream = futures::stream::unfold(
        Watch {
            versions,
            closing,
            revocations,
            holders,
            session_ends,
            seen,
            app: app.name,
            env: app.env,
        },
        |mut w| async move {
            let version = w.next().await?;
            let event = Event::default()
                .event("version")
                .id(version.to_string())
                .data(json!({ "app": w.app, "env": w.env, "version": version }).to_string());
            Some((Ok(event), w))
        },
    );
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.config.heartbeat)
            .text("ping"),
    ))
}

struct Watch {
    versions: watch::Receiver<crate::hub::Rev>,
    closing: watch::Receiver<bool>,
    revocations: tokio::sync::broadcast::Receiver<Revoked>,
    /// Whose credentials opened the stream: their revocation ends it.
    holders: Vec<Revoked>,
    session_ends: Option<tokio::time::Instant>,
    /// The newest version this client has been told of.
    seen: i64,
    app: String,
    env: String,
}

impl Watch {
    /// The next version newer than what the client has seen; `None` ends the stream (the app
    /// was deleted, the credentials that opened it were revoked, or the server is stopping).
    async fn next(&mut self) -> Option<i64> {
        loop {
            let current = self.versions.borrow_and_update().total();
            if current > self.seen {
                self.seen = current;
                return Some(current);
            }
            tokio::select! {
                changed = self.versions.changed() => changed.ok()?,
                _ = self.closing.wait_for(|closing| *closing) => return None,
                _ = until(self.session_ends) => return None,
                revoked = self.revocations.recv() => match revoked {
                    Ok(who) if self.holders.contains(&who) => return None,
                    Ok(_) => {}
                    // Missed some: end the stream; the client reconnects and is checked again.
                    Err(_) => return None,
                },
            }
        }
    }
}

async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
