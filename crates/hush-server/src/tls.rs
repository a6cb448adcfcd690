//! Serving HTTPS directly (rustls), for a server without a reverse proxy in front.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum_server::tls_rustls::RustlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{AppState, router};

/// Reads a PEM certificate chain and private key into a TLS configuration (TLS 1.2 and 1.3,
/// ring as the crypto provider, HTTP/2 and HTTP/1.1 by ALPN).
pub fn load(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a PEM private key from {}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the TLS certificate and key do not fit together")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// Like [`crate::serve`], over TLS.
pub async fn serve(
    listener: std::net::TcpListener,
    state: AppState,
    tls: RustlsConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let closing = state.closing.clone();
    let on_shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = closing.send(true);
        on_shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    let served = axum_server::from_tcp_rustls(listener, tls)
        .handle(handle)
        .serve(router(state.clone()).into_make_service_with_connect_info::<SocketAddr>())
        .await;
    if let Some(launcher) = &state.launcher {
        launcher.stop_all(Duration::from_secs(10)).await;
    }
    served
}
