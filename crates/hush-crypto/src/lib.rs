//! Envelope encryption for hush: one master key wraps a per-app data key, which seals the
//! app's secrets (XChaCha20-Poly1305); plus the master key files (`key_file`), random tokens,
//! their hashes and constant-time compare.
//!
//! Sealed format (data keys wrapped by the master key, and secrets sealed by a data key):
//! `1 format byte (0x01) | 24-byte random nonce | ciphertext and 16-byte tag`. The associated
//! data binds a ciphertext to where it belongs ([`version_aad`], the app id for wrapped keys),
//! so a ciphertext copied to another row does not open.

use std::fmt;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

mod key_file;
pub mod password;

pub use key_file::{check_key_file_private, read_key_file, write_key_file};

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const FORMAT_V1: u8 = 1;

const DEK_AAD_LABEL: &[u8] = b"hush dek v1";
const SECRETS_AAD_LABEL: &[u8] = b"hush secrets v1";
const KEY_ID_LABEL: &[u8] = b"hush master key id";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Wrong key, altered data, or data moved to a place its associated data does not name.
    #[error("decryption failed: wrong key, or the data was altered or moved")]
    Decrypt,
    /// The master key given cannot be used; says what is wrong, never what the key is.
    #[error("bad master key: {0}")]
    BadKey(String),
    /// A master key file that others than its owner may read or write.
    #[error(
        "the master key file {} can be read or changed by other users (mode {mode:o}); restrict it with `chmod 600 {}` (a mounted secret: give it mode 0400)",
        path.display(),
        path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    /// The file could not be read or written. The cause is part of the message (and not a
    /// separate `source`, so a chain of causes does not print it twice).
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// The server's master key: wraps every app's [`DataKey`]. Zeroized on drop; never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(<redacted>, id={})", self.key_id())
    }
}

impl MasterKey {
    /// A key for another purpose (`label` names it), derived from this one: every server with
    /// the same master key derives the same key, and it says nothing about the master key.
    pub fn derive(&self, label: &[u8]) -> [u8; KEY_LEN] {
        mac(&self.bytes, label)
    }

    pub fn generate() -> MasterKey {
        MasterKey {
            bytes: random_bytes(),
        }
    }

    /// Reads standard base64 of 32 bytes; surrounding whitespace is ignored. The error never
    /// repeats the input.
    pub fn from_encoded(s: &str) -> Result<MasterKey, CryptoError> {
        let decoded = Zeroizing::new(BASE64.decode(s.trim()).map_err(|_| {
            CryptoError::BadKey("not valid base64 (standard alphabet) of 32 bytes".into())
        })?);
        if decoded.len() != KEY_LEN {
            return Err(CryptoError::BadKey(format!(
                "decodes to {} bytes, but a master key is {KEY_LEN} bytes",
                decoded.len()
            )));
        }
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&decoded);
        Ok(MasterKey { bytes })
    }

    pub fn to_encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64.encode(self.bytes))
    }

    /// A short id derived from the key (16 hex characters), safe to store and show: it tells
    /// which master key wrapped a data key without revealing the key.
    pub fn key_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(KEY_ID_LABEL);
        h.update(self.bytes);
        hex::encode(&h.finalize()[..8])
    }

    /// Wraps `dk` for the app `app_id`: the result unwraps only with this key and this app id.
    pub fn wrap(&self, dk: &DataKey, app_id: i64) -> Vec<u8> {
        seal_with(&self.bytes, &dk.bytes, &dek_aad(app_id))
    }

    pub fn unwrap(&self, wrapped: &[u8], app_id: i64) -> Result<DataKey, CryptoError> {
        let plain = open_with(&self.bytes, wrapped, &dek_aad(app_id))?;
        if plain.len() != KEY_LEN {
            return Err(CryptoError::Decrypt);
        }
        let mut bytes = [0u8; KEY_LEN];
        bytes.copy_from_slice(&plain);
        Ok(DataKey { bytes })
    }
}

/// One app's data key: seals that app's secrets. Zeroized on drop; never printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey {
    bytes: [u8; KEY_LEN],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        DataKey {
            bytes: random_bytes(),
        }
    }

    /// A key derived from a high-entropy secret under a context label:
    /// SHA-256(`context` || 0x00 || `secret`). For secrets that are already random keys or
    /// tokens (`hush run` seals its local fallback copy under one derived from the app token);
    /// never for passwords, which need a slow hash.
    pub fn derive(context: &str, secret: &[u8]) -> DataKey {
        let mut hasher = Sha256::new();
        hasher.update(context.as_bytes());
        hasher.update([0u8]);
        hasher.update(secret);
        DataKey {
            bytes: hasher.finalize().into(),
        }
    }

    /// Encrypts `plaintext` bound to `aad` (e.g. [`version_aad`]) under a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        seal_with(&self.bytes, plaintext, aad)
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open_with(&self.bytes, sealed, aad)
    }
}

/// Associated data for one secrets version: a ciphertext moved to another app or version fails to open.
pub fn version_aad(app_id: i64, version: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SECRETS_AAD_LABEL.len() + 16);
    aad.extend_from_slice(SECRETS_AAD_LABEL);
    aad.extend_from_slice(&app_id.to_be_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn dek_aad(app_id: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(DEK_AAD_LABEL.len() + 8);
    aad.extend_from_slice(DEK_AAD_LABEL);
    aad.extend_from_slice(&app_id.to_be_bytes());
    aad
}

fn seal_with(key: &[u8; KEY_LEN], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    let nonce: [u8; NONCE_LEN] = random_bytes();
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // Only fails for plaintexts beyond XChaCha20's 256 GiB limit.
        .expect("plaintext too long to seal");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

fn open_with(
    key: &[u8; KEY_LEN],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Decrypt);
    }
    let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(Key::from_slice(key));
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 40 base62 characters carry 40 × log2(62) ≈ 238 bits.
const TOKEN_CHARS: usize = 40;

/// A new bearer token: `prefix` followed by 40 uniformly random base62 characters (~238 bits),
/// e.g. `hush_app_3kT…`.
pub fn new_token(prefix: &str) -> Zeroizing<String> {
    let mut token = Zeroizing::new(String::with_capacity(prefix.len() + TOKEN_CHARS));
    token.push_str(prefix);
    let mut produced = 0;
    while produced < TOKEN_CHARS {
        let mut pool: Zeroizing<[u8; 64]> = Zeroizing::new(random_bytes());
        for &b in pool.iter() {
            // Rejection sampling: 248 = 4 × 62, so accepted bytes map uniformly onto base62.
            if b < 248 && produced < TOKEN_CHARS {
                token.push(BASE62[usize::from(b % 62)] as char);
                produced += 1;
            }
        }
        pool.zeroize();
    }
    token
}

/// SHA-256 of a token: what the store keeps and looks tokens up by. Tokens are high-entropy,
/// so a slow password hash is not needed.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Compares in time that depends only on the lengths, never on where the inputs differ.
/// HMAC-SHA256 of `data` under `key`.
pub fn mac(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// `N` bytes from the operating system's random number generator.
///
/// # Panics
/// When the operating system cannot provide randomness; nothing secure can be done then.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_depend_on_context_and_secret() {
        let a = DataKey::derive("hush fallback v1", b"hush_app_token1");
        let sealed = a.seal(b"x = 1", b"aad");
        let same = DataKey::derive("hush fallback v1", b"hush_app_token1");
        assert_eq!(&same.open(&sealed, b"aad").unwrap()[..], b"x = 1");
        for other in [
            DataKey::derive("hush fallback v1", b"hush_app_token2"),
            DataKey::derive("hush fallback v2", b"hush_app_token1"),
        ] {
            assert!(other.open(&sealed, b"aad").is_err());
        }
    }

    #[test]
    fn seal_open_round_trip() {
        let dk = DataKey::generate();
        let aad = version_aad(7, 3);
        let sealed = dk.seal(b"API_KEY = \"s3cret\"", &aad);
        assert_eq!(sealed[0], FORMAT_V1);
        assert_eq!(sealed.len(), 1 + NONCE_LEN + 18 + TAG_LEN);
        assert_eq!(
            dk.open(&sealed, &aad).unwrap().as_slice(),
            b"API_KEY = \"s3cret\""
        );
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let dk = DataKey::generate();
        let a = dk.seal(b"same", b"aad");
        let b = dk.seal(b"same", b"aad");
        assert_ne!(a, b);
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
    }

    #[test]
    fn wrong_data_key_fails() {
        let sealed = DataKey::generate().seal(b"x", &version_aad(1, 1));
        let err = DataKey::generate()
            .open(&sealed, &version_aad(1, 1))
            .unwrap_err();
        assert!(matches!(err, CryptoError::Decrypt));
    }

    #[test]
    fn ciphertext_moved_to_another_version_or_app_fails() {
        let dk = DataKey::generate();
        let sealed = dk.seal(b"x", &version_aad(1, 2));
        assert!(dk.open(&sealed, &version_aad(1, 2)).is_ok());
        assert!(matches!(
            dk.open(&sealed, &version_aad(1, 3)),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            dk.open(&sealed, &version_aad(2, 2)),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn any_tampered_byte_fails() {
        let dk = DataKey::generate();
        let aad = version_aad(1, 1);
        let sealed = dk.seal(b"hello world", &aad);
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(
                dk.open(&t, &aad).is_err(),
                "flipping byte {i} went unnoticed"
            );
        }
        assert!(dk.open(&sealed[..sealed.len() - 1], &aad).is_err());
        assert!(dk.open(&[], &aad).is_err());
        assert!(dk.open(&[FORMAT_V1; 10], &aad).is_err());
    }

    #[test]
    fn wrap_unwrap_round_trip_and_binding() {
        let mk = MasterKey::generate();
        let dk = DataKey::generate();
        let wrapped = mk.wrap(&dk, 42);
        let back = mk.unwrap(&wrapped, 42).unwrap();
        let sealed = dk.seal(b"v", b"a");
        assert_eq!(back.open(&sealed, b"a").unwrap().as_slice(), b"v");

        assert!(matches!(mk.unwrap(&wrapped, 43), Err(CryptoError::Decrypt)));
        assert!(matches!(
            MasterKey::generate().unwrap(&wrapped, 42),
            Err(CryptoError::Decrypt)
        ));
        let mut tampered = wrapped.clone();
        *tampered.last_mut().unwrap() ^= 0x80;
        assert!(mk.unwrap(&tampered, 42).is_err());
    }

    #[test]
    fn encoded_round_trip_and_key_id() {
        let mk = MasterKey::generate();
        let encoded = mk.to_encoded();
        let back = MasterKey::from_encoded(&format!("  {}\n", encoded.as_str())).unwrap();
        assert_eq!(back.key_id(), mk.key_id());
        assert_eq!(mk.key_id().len(), 16);
        assert!(mk.key_id().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(MasterKey::generate().key_id(), mk.key_id());
        // A key wrapped under one key opens under its decoded copy.
        let dk = DataKey::generate();
        assert!(back.unwrap(&mk.wrap(&dk, 1), 1).is_ok());
    }

    #[test]
    fn from_encoded_errors_never_echo_the_input() {
        let secret_looking = "c2VjcmV0LXNlY3JldC1zZWNyZXQ!";
        for bad in [
            secret_looking,
            "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", // valid base64, 20 bytes
            "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", // 36 bytes
            "",
        ] {
            let err = MasterKey::from_encoded(bad).unwrap_err();
            assert!(matches!(err, CryptoError::BadKey(_)));
            let shown = format!("{err} {err:?}");
            if !bad.is_empty() {
                assert!(!shown.contains(bad), "error repeats the input: {shown}");
                assert!(
                    !shown.contains(&bad[..8]),
                    "error repeats the input: {shown}"
                );
            }
        }
        let err = MasterKey::from_encoded("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap_err();
        assert!(err.to_string().contains("20 bytes"), "{err}");
    }

    #[test]
    fn debug_is_redacted() {
        let mk = MasterKey::generate();
        let shown = format!("{mk:?}");
        assert_eq!(shown, format!("MasterKey(<redacted>, id={})", mk.key_id()));
        assert!(!shown.contains(mk.to_encoded().as_str()));
        let dk = DataKey::generate();
        assert_eq!(format!("{dk:?}"), "DataKey(<redacted>)");
        assert_eq!(format!("{dk:#?}"), "DataKey(<redacted>)");
    }

    #[test]
    fn tokens_are_prefixed_long_and_url_safe() {
        let a = new_token("hush_app_");
        let b = new_token("hush_app_");
        assert!(a.starts_with("hush_app_"));
        assert_eq!(a.len(), "hush_app_".len() + TOKEN_CHARS);
        assert!(
            a["hush_app_".len()..]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric())
        );
        assert_ne!(*a, *b);
        // Every base62 character turns up in a few thousand draws (uniformity smoke test).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(new_token("").bytes());
        }
        assert_eq!(seen.len(), 62);
    }

    #[test]
    fn token_hash_is_sha256() {
        assert_eq!(
            hex::encode(token_hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_ne!(token_hash("a"), token_hash("b"));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
    }
}
