//! Workload identity: checking a JWT that a trusted issuer signed (GitHub Actions, GitLab CI,
//! Kubernetes service accounts, any OpenID issuer) against an app's trusts. Keys come from the
//! issuer's JWKS (given, or found through its discovery document), cached per URL and fetched
//! again when a token names a key id the cache does not hold (key rotation), at most once
//! every few seconds per URL. Tokens arrive without credentials, so however many name an issuer,
//! its URLs are fetched one request at a time and at most once every few seconds, a failure
//! included (an issuer that is down is not asked again by every token).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use hush_store::WorkloadTrust;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// Why a workload token was refused: a stable code and a message that says what to fix.
/// Neither holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// The claims of a token that passed every check of one trust.
pub struct Accepted {
    pub trust_id: i64,
    pub issuer: String,
    pub subject: Option<String>,
    pub jti: Option<String>,
    /// Until when (milliseconds since the epoch) the token passes these checks: its `exp` plus
    /// the allowed clock skew. Its one use must be remembered at least that long.
    pub accepted_until: i64,
}

/// How long fetched keys are trusted without asking again.
const KEYS_FRESH: Duration = Duration::from_secs(600);
/// An unknown key id fetches the keys again at most this often per URL.
const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(5);
/// Clock skew allowed on `exp`, `nbf` and `iat`.
const LEEWAY_SECONDS: u64 = 60;

/// Each issuer's keys, by JWKS URL.
pub struct IssuerKeys {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
    /// Issuer → the `jwks_uri` its discovery document names, and when it was read.
    discovered: Mutex<HashMap<String, (String, Instant)>>,
    /// Per URL: held while it is fetched, with the last answer and when it came.
    fetches: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Fetched>>>>>,
}

type Fetched = (Result<Value, Refusal>, Instant);

struct Cached {
    keys: JwkSet,
    fetched: Instant,
}

impl Default for IssuerKeys {
    fn default() -> Self {
        IssuerKeys {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client for issuers' keys"),
            cache: Mutex::default(),
            discovered: Mutex::default(),
            fetches: Mutex::default(),
        }
    }
}

impl IssuerKeys {
    /// Where the trust's issuer publishes its keys.
    async fn jwks_url(&self, trust: &WorkloadTrust) -> Result<String, Refusal> {
        if let Some(url) = &trust.jwks_url {
            return Ok(url.clone());
        }
        if let Some((url, read)) = self
            .discovered
            .lock()
            .expect("issuer keys lock")
            .get(&trust.issuer)
            && read.elapsed() < KEYS_FRESH
        {
            return Ok(url.clone());
        }
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            trust.issuer.trim_end_matches('/')
        );
        let doc: Value = self.get_json(&discovery).await?;
        let url = doc["jwks_uri"].as_str().map(String::from).ok_or_else(|| {
            refuse(
                "issuer_unavailable",
                format!(
                    "the discovery document of {} names no jwks_uri",
                    trust.issuer
                ),
            )
        })?;
        self.discovered
            .lock()
            .expect("issuer keys lock")
            .insert(trust.issuer.clone(), (url.clone(), Instant::now()));
        Ok(url)
    }

    /// `url`'s JSON: fetched by one request at a time, and an answer (a failure too) younger
    /// than [`REFETCH_AT_MOST_EVERY`] is given again instead of asking anew.
    async fn get_json(&self, url: &str) -> Result<Value, Refusal> {
        let slot = Arc::clone(
            self.fetches
                .lock()
                .expect("issuer keys lock")
                .entry(url.to_string())
                .or_default(),
        );
        let mut last = slot.lock().await;
        if let Some((answer, at)) = last.as_ref()
            && at.elapsed() < REFETCH_AT_MOST_EVERY
        {
            return answer.clone();
        }
        let answer = self.fetch_json(url).await;
        *last = Some((answer.clone(), Instant::now()));
        answer
    }

    async fn fetch_json(&self, url: &str) -> Result<Value, Refusal> {
        let unavailable = |why: String| {
            refuse(
                "issuer_unavailable",
                format!("cannot read {url}: {why}; try again later"),
            )
        };
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("it answered {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|e| unavailable(format!("not JSON ({})", e.without_url())))
    }

    /// The key `kid` (or the only key, when the token names none) of the trust's issuer.
    async fn key(&self, trust: &WorkloadTrust, kid: Option<&str>) -> Result<DecodingKey, Refusal> {
        let url = self.jwks_url(trust).await?;
        let (found, may_refetch) = {
            let cache = self.cache.lock().expect("issuer keys lock");
            match cache.get(&url) {
                Some(c) if c.fetched.elapsed() < KEYS_FRESH => (
                    pick(&c.keys, kid),
                    c.fetched.elapsed() >= REFETCH_AT_MOST_EVERY,
                ),
                _ => (None, true),
            }
        };
        let jwk = match found {
            Some(jwk) => jwk,
            None if may_refetch => {
                let keys: JwkSet =
                    serde_json::from_value(self.get_json(&url).await?).map_err(|_| {
                        refuse(
                            "issuer_unavailable",
                            format!("{url} does not hold a JSON Web Key Set"),
                        )
                    })?;
                let jwk = pick(&keys, kid);
                self.cache.lock().expect("issuer keys lock").insert(
                    url.clone(),
                    Cached {
                        keys,
                        fetched: Instant::now(),
                    },
                );
                jwk.ok_or_else(|| unknown_key(&trust.issuer, kid))?
            }
            None => return Err(unknown_key(&trust.issuer, kid)),
        };
        DecodingKey::from_jwk(&jwk).map_err(|_| {
            refuse(
                "bad_signature",
                format!(
                    "the key of {} that signed this token cannot be used",
                    trust.issuer
                ),
            )
        })
    }

    /// Checks `token` against one trust: signature, issuer, audience, expiry, then the
    /// claim conditions.
    pub async fn check(&self, token: &str, trust: &WorkloadTrust) -> Result<Accepted, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refuse("bad_token", "the workload token is not a signed JWT"))?;
        if !asymmetric(header.alg) {
            return Err(refuse(
                "bad_signature",
                format!(
                    "tokens signed with {:?} are not accepted: an issuer signs with a private key (RS*, PS*, ES*, EdDSA)",
                    header.alg
                ),
            ));
        }
        let key = self.key(trust, header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&trust.issuer]);
        validation.set_audience(&[&trust.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => refuse("expired", "the workload token has expired"),
                ErrorKind::ImmatureSignature => {
                    refuse("expired", "the workload token is not valid yet (nbf)")
                }
                ErrorKind::InvalidAudience => refuse(
                    "wrong_audience",
                    format!("the workload token's audience is not {:?}", trust.audience),
                ),
                ErrorKind::InvalidIssuer => refuse(
                    "unknown_issuer",
                    "the workload token's issuer is not trusted",
                ),
                ErrorKind::MissingRequiredClaim(claim) => refuse(
                    "bad_token",
                    format!("the workload token has no {claim:?} claim"),
                ),
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => refuse(
                    "bad_signature",
                    format!("the workload token's signature is not {}'s", trust.issuer),
                ),
                _ => refuse("bad_token", "the workload token cannot be read"),
            })?
            .claims;
        for (claim, pattern) in &trust.conditions {
            let value = match &claims[claim.as_str()] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if !value.is_some_and(|v| glob_match(pattern, &v)) {
                return Err(refuse(
                    "claims_mismatch",
                    format!("the workload token's {claim:?} claim does not match {pattern:?}"),
                ));
            }
        }
        Ok(Accepted {
            trust_id: trust.id,
            issuer: trust.issuer.clone(),
            subject: claims["sub"].as_str().map(String::from),
            jti: claims["jti"].as_str().map(String::from),
            accepted_until: (claims["exp"].as_i64().unwrap_or(0) + LEEWAY_SECONDS as i64)
                .saturating_mul(1000),
        })
    }
}

fn unknown_key(issuer: &str, kid: Option<&str>) -> Refusal {
    refuse(
        "bad_signature",
        match kid {
            Some(kid) => format!("{issuer} publishes no key {kid:?}"),
            None => format!("the token names no key and {issuer} publishes more than one"),
        },
    )
}

fn pick(keys: &JwkSet, kid: Option<&str>) -> Option<jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => keys.find(kid).cloned(),
        None if keys.keys.len() == 1 => keys.keys.first().cloned(),
        None => None,
    }
}

fn asymmetric(alg: Algorithm) -> bool {
    !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// The `iss` a token claims, read without checking anything: only to pick the trusts to
/// check it against.
pub fn claimed_issuer(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["iss"].as_str().map(String::from)
}

/// `*` matches any run of characters (also none), `?` exactly one; the rest literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("acme/*", "acme/web"));
        assert!(glob_match("refs/heads/main", "refs/heads/main"));
        assert!(!glob_match("refs/heads/main", "refs/heads/main2"));
        assert!(glob_match(
            "repo:acme/*:ref:refs/heads/*",
            "repo:acme/web:ref:refs/heads/x"
        ));
        assert!(!glob_match("acme/*", "evil/acme/web"));
        assert!(glob_match("v?", "v1"));
        assert!(!glob_match("v?", "v10"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("", "x"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn the_claimed_issuer_is_read_without_trusting_it() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"iss":"https://issuer.example","sub":"x"}"#);
        assert_eq!(
            claimed_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("https://issuer.example")
        );
        assert_eq!(claimed_issuer("not a token"), None);
    }
}
