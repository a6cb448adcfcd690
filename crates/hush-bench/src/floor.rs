//! The physical floor for reads: a bare hyper HTTP/1.1 server on the same runtime, with the
//! same 8 KiB read buffer, answering every request with the same body a hush read sends. hush's
//! read throughput is measured against this in the same run.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub async fn run(listen: SocketAddr, body_bytes: usize) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    // The shape of GET /apps/{app}/secrets: {"app", "version", "created_at", "toml"}.
    let padding = "k".repeat(body_bytes.saturating_sub(80));
    let body = Bytes::from(format!(
        r#"{{"app":"bench","version":1,"created_at":1700000000000,"toml":"x = \"{padding}\""}}"#
    ));
    println!("READY {}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_: Request<Incoming>| {
                let body = body.clone();
                async move {
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .header("cache-control", "no-store")
                            .body(Full::new(body))
                            .expect("static response"),
                    )
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(8 * 1024)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
