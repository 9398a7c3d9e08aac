//! Serving the router over TLS with a self-signed certificate, as LND does (`tls.cert`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::Router;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// A certificate for `localhost` and `127.0.0.1`, and its key.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) cert_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl Identity {
    /// A fresh self-signed identity.
    pub(crate) fn generate() -> std::io::Result<Self> {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let certified = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
        Ok(Identity {
            cert_pem: certified.cert.pem(),
            cert_der: certified.cert.der().to_vec(),
            key_der: certified.key_pair.serialize_der(),
        })
    }

    fn acceptor(&self) -> std::io::Result<TlsAcceptor> {
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(self.cert_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone())),
            )
            .map_err(std::io::Error::other)?;
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// Binds `addr` (port 0: a free one) and serves `router` over TLS until `stop` turns true,
/// which also closes every open connection. Returns the bound address.
pub(crate) async fn serve(
    addr: SocketAddr,
    identity: &Identity,
    (router, stop): (Router, watch::Receiver<bool>),
) -> std::io::Result<SocketAddr> {
    let listener = bind(addr).await?;
    let bound = listener.local_addr()?;
    let acceptor = identity.acceptor()?;
    tokio::spawn(async move {
        let mut stopped = stop.clone();
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.wait_for(|s| *s) => break,
            };
            let Ok((stream, _)) = accepted else { continue };
            let (acceptor, router, mut stopped) = (acceptor.clone(), router.clone(), stop.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else { return };
                let service = hyper::service::service_fn(move |request: Request<_>| {
                    router.clone().oneshot(request.map(Body::new))
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service);
                tokio::select! {
                    _ = connection => {}
                    _ = stopped.wait_for(|s| *s) => {}
                }
            });
        }
    });
    Ok(bound)
}

/// Binds `addr`, retrying (for up to 30 s, generous on a busy machine) while the listener of a
/// previous start still holds the port.
async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
