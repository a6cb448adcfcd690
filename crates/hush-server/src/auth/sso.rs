//! Single sign-on with OpenID Connect: the provider's discovery document and keys (cached,
//! fetched again when a token names a key the cache lacks), the sign-ins under way (state,
//! nonce and PKCE verifier, kept in the database sealed, single use, ten minutes, so the
//! callback may land on any server; so are the CLI's one-time codes), and the checks of an ID token
//! (signature, issuer, audience, expiry and nonce by the `openidconnect` crate; then the
//! verified email, its domain and the role claim by hush).
//!
//! Who an SSO identity is in hush: the member whose name is the identity's verified email
//! (names are compared case-insensitively, as at sign-in). Unknown emails become new members
//! (with the role the role claim maps to, else viewer) when `create_users` is on; otherwise
//! they need an invitation link: the person opens it and picks "Sign in with SSO", and the
//! invitation creates them, named by their email, with its role.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hush_crypto::{DataKey, token_hash};
use hush_store::{PendingSsoSignIn, Role, Store, now_millis};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LoginHint, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How long a sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Sign-ins under way at once, at most (older ones are dropped first).
const MAX_PENDING: i64 = 10_000;
/// How long a CLI code may wait for its exchange.
const CLI_CODE_TTL_MS: i64 = 60_000;
/// How long the discovery document and keys are kept before being fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);

/// The provider and how its people become members.
#[derive(Clone, PartialEq)]
pub struct SsoConfig {
    /// The issuer URL (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The name on the sign-in button ("Sign in with …").
    pub display_name: String,
    /// Lower-case email domains allowed to sign in; empty: any.
    pub allowed_domains: Vec<String>,
    /// The claim holding groups (a string or a list of strings), e.g. `groups`.
    pub role_claim: Option<String>,
    /// Group value → role; a new member gets the highest role any of their groups maps to.
    pub role_map: Vec<(String, Role)>,
    /// Unknown people become members on first sign-in (else they need an invitation).
    pub create_users: bool,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(hidden)"),
            )
            .field("display_name", &self.display_name)
            .field("allowed_domains", &self.allowed_domains)
            .field("role_claim", &self.role_claim)
            .field("role_map", &self.role_map)
            .field("create_users", &self.create_users)
            .finish()
    }
}

/// Where a finished sign-in goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Return {
    /// A panel session, then the panel.
    Panel,
    /// `hush login --sso`: a one-time code sent to the CLI's loopback listener.
    Cli { port: u16, cli_state: String },
}

/// A sign-in under way, kept until the provider sends the browser back.
pub struct Pending {
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
    /// The invitation link's token, when the sign-in came from one.
    pub invite: Option<String>,
    pub ret: Return,
}

/// [`Pending`] as it is sealed into the database.
#[derive(Serialize, Deserialize)]
struct PendingSealed {
    nonce: String,
    verifier: String,
    invite: Option<String>,
    /// `hush login --sso`'s port and state; `None`: the panel.
    cli: Option<(u16, String)>,
}

/// Ties a sealed sign-in to its row: moved to another state, it does not open.
fn pending_aad(state_hash: &[u8; 32]) -> Vec<u8> {
    [b"hush sso pending v1\0".as_slice(), state_hash].concat()
}

/// The verified identity from an ID token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: String,
    /// Values of the role claim.
    pub groups: Vec<String>,
}

/// Why a sign-in was refused: a code for the audit log and the message shown to the person.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
    /// The provider could not be reached (shown as 502).
    pub provider_down: bool,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
            provider_down: false,
        }
    }
    fn down(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            provider_down: true,
            ..Refusal::new(code, message)
        }
    }
}

pub struct Sso {
    pub config: SsoConfig,
    redirect: String,
    http: reqwest::Client,
    metadata: tokio::sync::Mutex<Option<(CoreProviderMetadata, Instant)>>,
    /// Where the sign-ins under way are kept (shared by every server).
    store: Arc<dyn Store>,
    /// Seals them (derived from the master key, so every server opens them).
    pending_key: DataKey,
}

impl Sso {
    /// `public_url`: where people reach hush (the callback is under it). `pending_key` seals
    /// the sign-ins under way in `store`.
    pub fn new(
        config: SsoConfig,
        public_url: &str,
        store: Arc<dyn Store>,
        pending_key: DataKey,
    ) -> anyhow::Result<Sso> {
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| anyhow::anyhow!("oidc_issuer {:?}: {e}", config.issuer))?;
        let redirect = format!(
            "{}/api/v1/auth/sso/callback",
            public_url.trim_end_matches('/')
        );
        RedirectUrl::new(redirect.clone())
            .map_err(|e| anyhow::anyhow!("public_url {public_url:?}: {e}"))?;
        let http = reqwest::Client::builder()
            // A provider's answer never sends hush elsewhere (no server-side request forgery by redirect).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            // Sign-ins are rare: a fresh connection each time (no stale pooled one).
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Sso {
            config,
            redirect,
            http,
            metadata: tokio::sync::Mutex::new(None),
            store,
            pending_key,
        })
    }

    async fn metadata(&self, fresh: bool) -> Result<CoreProviderMetadata, Refusal> {
        let mut cached = self.metadata.lock().await;
        if let Some((meta, at)) = cached.as_ref()
            && !fresh
            && at.elapsed() < METADATA_TTL
        {
            return Ok(meta.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|_| Refusal::down("sso_misconfigured", "the SSO issuer URL is invalid"))?;
        let meta = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(issuer = %self.config.issuer, error = %e, "OpenID discovery failed");
                Refusal::down(
                    "sso_provider_unreachable",
                    format!(
                        "the identity provider {} cannot be reached or answered wrongly; try again later",
                        self.config.issuer
                    ),
                )
            })?;
        *cached = Some((meta.clone(), Instant::now()));
        Ok(meta)
    }

    fn client(
        &self,
        meta: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(RedirectUrl::new(self.redirect.clone()).expect("checked in new"))
    }

    /// The provider's authorization URL for a new sign-in; its state is kept here.
    pub async fn start(
        &self,
        invite: Option<String>,
        ret: Return,
        login_hint: Option<String>,
    ) -> Result<(String, String), Refusal> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge);
        if let Some(claim) = &self.config.role_claim {
            request = request.add_scope(Scope::new(claim.clone()));
        }
        if let Some(hint) = login_hint.filter(|h| !h.is_empty() && h.len() <= 256) {
            request = request.set_login_hint(LoginHint::new(hint));
        }
        let (url, state, nonce) = request.url();
        let state_hash = token_hash(state.secret());
        let cli = match ret {
            Return::Panel => None,
            Return::Cli { port, cli_state } => Some((port, cli_state)),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&PendingSealed {
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                invite,
                cli,
            })
            .expect("plain strings serialize"),
        );
        let now = now_millis();
        let pending = PendingSsoSignIn {
            state_hash,
            sealed: self.pending_key.seal(&plain, &pending_aad(&state_hash)),
            created_at: now,
            expires_at: now + PENDING_TTL.as_millis() as i64,
        };
        if let Err(e) = self.store.put_sso_pending(pending, MAX_PENDING).await {
            tracing::warn!(error = %e, "cannot keep a single sign-on under way");
            return Err(Refusal::new(
                "sso_unavailable",
                "this sign-in cannot be started right now (the database cannot be written); try again shortly",
            ));
        }
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Takes the sign-in `state` names (once, on whichever server: a second use finds nothing).
    pub async fn take(&self, state: &str) -> Result<Pending, Refusal> {
        let unknown = || {
            Refusal::new(
                "sso_unknown_state",
                "this sign-in is unknown, was already used or took too long; start again",
            )
        };
        let state_hash = token_hash(state);
        let sealed = match self.store.take_sso_pending(state_hash, now_millis()).await {
            Ok(Some(sealed)) => sealed,
            Ok(None) => return Err(unknown()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot take a single sign-on under way");
                return Err(Refusal::new(
                    "sso_unavailable",
                    "this sign-in cannot be checked right now (the database cannot be reached); start again shortly",
                ));
            }
        };
        // A master key that changed since the start cannot open it: start again.
        let plain = self
            .pending_key
            .open(&sealed, &pending_aad(&state_hash))
            .map_err(|_| unknown())?;
        let sealed: PendingSealed = serde_json::from_slice(&plain).map_err(|_| unknown())?;
        Ok(Pending {
            nonce: Nonce::new(sealed.nonce),
            verifier: PkceCodeVerifier::new(sealed.verifier),
            invite: sealed.invite,
            ret: match sealed.cli {
                Some((port, cli_state)) => Return::Cli { port, cli_state },
                None => Return::Panel,
            },
        })
    }

    /// Trades the code for tokens and checks the ID token; then the email and its domain.
    pub async fn finish(&self, code: String, pending: Pending) -> Result<Identity, Refusal> {
        let meta = self.metadata(false).await?;
        let client = self.client(meta);
        let request = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| {
                Refusal::down(
                    "sso_provider_unreachable",
                    "the identity provider publishes no token endpoint",
                )
            })?;
        let response = request
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => Refusal::new(
                    "sso_code_refused",
                    format!(
                        "the identity provider refused the sign-in ({}); start again",
                        r.error()
                    ),
                ),
                other => {
                    tracing::warn!(error = %other, "the OpenID token request failed");
                    Refusal::down(
                        "sso_provider_unreachable",
                        "the identity provider's token endpoint cannot be reached or answered wrongly; try again later",
                    )
                }
            })?;
        let token = response.id_token().ok_or_else(|| {
            Refusal::new("sso_bad_token", "the identity provider sent no ID token")
        })?;
        let checked = {
            let verifier = client.id_token_verifier();
            token.claims(&verifier, &pending.nonce).cloned()
        };
        let claims = match checked {
            Ok(c) => c,
            // A key the cached set lacks: the provider may have rotated its keys.
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                let client = self.client(self.metadata(true).await?);
                let verifier = client.id_token_verifier();
                token
                    .claims(&verifier, &pending.nonce)
                    .cloned()
                    .map_err(bad_token)?
            }
            Err(e) => return Err(bad_token(e)),
        };
        let email = claims
            .email()
            .map(|e| e.as_str().to_string())
            .ok_or_else(|| {
                Refusal::new(
                    "sso_no_email",
                    "the identity provider gave no email address for this account",
                )
            })?;
        if claims.email_verified() != Some(true) {
            return Err(Refusal::new(
                "sso_email_unverified",
                format!("the email address {email} is not verified at the identity provider"),
            ));
        }
        let email = email.to_lowercase();
        let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        if !self.config.allowed_domains.is_empty()
            && !self.config.allowed_domains.iter().any(|d| d == domain)
        {
            return Err(Refusal::new(
                "sso_domain_not_allowed",
                format!(
                    "{email} may not sign in here: only addresses at {} may",
                    self.config.allowed_domains.join(", ")
                ),
            ));
        }
        let groups = match &self.config.role_claim {
            Some(claim) => raw_claim_strings(&token.to_string(), claim),
            None => Vec::new(),
        };
        Ok(Identity {
            issuer: claims.issuer().as_str().to_string(),
            subject: claims.subject().as_str().to_string(),
            email,
            groups,
        })
    }

    /// The role a new member gets: the highest one their groups map to, else viewer.
    pub fn role_for(&self, identity: &Identity) -> Role {
        let rank = |r: Role| match r {
            Role::Owner => 2,
            Role::Editor => 1,
            _ => 0,
        };
        self.config
            .role_map
            .iter()
            .filter(|(group, _)| identity.groups.iter().any(|g| g == group))
            .map(|(_, role)| *role)
            .max_by_key(|r| rank(*r))
            .unwrap_or(Role::Viewer)
    }

    /// A one-time code for the CLI's loopback listener (valid a minute, on every server).
    pub async fn new_cli_code(&self, user_id: i64) -> Result<String, hush_store::StoreError> {
        let code = hush_crypto::new_token("hush_sso_");
        let now = now_millis();
        self.store
            .put_sso_cli_code(token_hash(&code), user_id, now, now + CLI_CODE_TTL_MS)
            .await?;
        Ok(code.to_string())
    }

    /// The member a CLI code stands for; each code works once.
    pub async fn take_cli_code(&self, code: &str) -> Result<Option<i64>, hush_store::StoreError> {
        self.store
            .take_sso_cli_code(token_hash(code), now_millis())
            .await
    }
}

fn bad_token(e: openidconnect::ClaimsVerificationError) -> Refusal {
    use openidconnect::ClaimsVerificationError as E;
    let what = match &e {
        E::Expired(_) => "it has expired",
        E::InvalidAudience(_) => "it was made for another client (wrong audience)",
        E::InvalidIssuer(_) => "it comes from another issuer",
        E::InvalidNonce(_) => "its nonce does not match this sign-in",
        E::SignatureVerification(_) => "its signature does not verify",
        _ => "it does not pass the checks",
    };
    tracing::warn!(error = %e, "an ID token was refused");
    Refusal::new(
        "sso_bad_token",
        format!("the identity provider's ID token was refused: {what}"),
    )
}

/// A claim of an already verified JWT, as strings (a string or a list of strings).
fn raw_claim_strings(jwt: &str, claim: &str) -> Vec<String> {
    use base64::Engine;
    let Some(payload) = jwt.split('.').nth(1) else {
        return Vec::new();
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    match value.get(claim) {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}
