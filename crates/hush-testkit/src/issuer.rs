//! A workload token issuer on loopback, for tests: EC P-256 keys made with rcgen, published as
//! a JSON Web Key Set (with an OpenID discovery document) by an axum server on 127.0.0.1:0, and
//! tokens signed with jsonwebtoken. Keys can be added while it runs (rotation); it counts how
//! often its keys were fetched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

struct Key {
    kid: String,
    pair: rcgen::KeyPair,
}

#[derive(Clone)]
pub struct TestIssuer {
    pub url: String,
    published: Arc<Mutex<Vec<Key>>>,
    pub fetches: Arc<AtomicUsize>,
}

fn jwk(key: &Key) -> Value {
    let raw = key.pair.public_key_raw();
    assert_eq!(raw.len(), 65, "an uncompressed P-256 point");
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": key.kid,
        "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
    })
}

impl TestIssuer {
    /// An issuer publishing one key, `k1`.
    pub async fn start() -> TestIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let issuer = TestIssuer {
            url: url.clone(),
            published: Arc::new(Mutex::new(Vec::new())),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        issuer.add_key("k1");
        let (keys, fetches) = (issuer.published.clone(), issuer.fetches.clone());
        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") });
        let app = axum::Router::new()
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/jwks",
                axum::routing::get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let keys: Vec<Value> = keys.lock().unwrap().iter().map(jwk).collect();
                    axum::Json(json!({ "keys": keys }))
                }),
            );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        issuer
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.url)
    }

    /// Publishes a new key (the issuer rotates its keys).
    pub fn add_key(&self, kid: &str) {
        self.published.lock().unwrap().push(Key {
            kid: kid.into(),
            pair: rcgen::KeyPair::generate().unwrap(),
        });
    }

    /// A token signed with the published key `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let keys = self.published.lock().unwrap();
        let key = keys.iter().find(|k| k.kid == kid).expect("a published key");
        sign_with(&key.pair, kid, claims)
    }

    /// Claims as GitHub Actions would send them, valid for ten minutes.
    pub fn claims(&self, audience: &str, repository: &str, git_ref: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        json!({
            "iss": self.url, "aud": audience,
            "sub": format!("repo:{repository}:ref:{git_ref}"),
            "repository": repository, "ref": git_ref,
            "iat": now, "nbf": now - 5, "exp": now + 600,
            "jti": hex_id(),
        })
    }
}

/// A token signed by a key nobody published, under a published key's id: a forgery.
pub fn forged(kid: &str, claims: &Value) -> String {
    sign_with(&rcgen::KeyPair::generate().unwrap(), kid, claims)
}

fn sign_with(pair: &rcgen::KeyPair, kid: &str, claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

fn hex_id() -> String {
    hush_crypto::random_bytes::<12>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
