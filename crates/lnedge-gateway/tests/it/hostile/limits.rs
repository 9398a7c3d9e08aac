//! A hostile network against the HTTP server (issue #12 item 3). Found before the fix: idle and
//! slowloris connections stayed open for ever, one client holding sockets made `/healthz` time
//! out for everyone, and a slow body in flight kept SIGTERM from ever finishing.
//!
//! Clients on other loopback addresses (127.0.0.2, 127.0.0.3, …) stand for distinct clients.
//! Every wait is on an event (a read that ends, a server that returns) with a generous deadline.

use std::net::SocketAddr;
use std::time::Duration;

use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::service::listener::serve_http;
use lnedge_gateway::service::ServerLimits;
use lnedge_node::sandbox::SandboxNetwork;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Far beyond any of the server's timeouts here, so only a broken server reaches it.
const DEADLINE: Duration = Duration::from_secs(60);

pub(super) struct Server {
    pub(super) addr: SocketAddr,
    pub(super) stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    _net: SandboxNetwork,
}

async fn start(limits: ServerLimits) -> Server {
    start_behind(limits, &[]).await
}

/// The gateway's API on a loopback port, served with `limits`, trusting `proxies`.
pub(super) async fn start_behind(limits: ServerLimits, proxies: &[&str]) -> Server {
    let (gateway, net) = super::sandbox_gateway([7; 32]).await;
    let proxies: Vec<String> = proxies.iter().map(|p| p.to_string()).collect();
    let trusted = lnedge_gateway::config::server::parse_trusted_proxies(&proxies).expect("proxies");
    let router = app(AppState {
        trusted_proxies: trusted.into(),
        ..AppState::with_gateway(gateway, super::TOKEN)
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_http(listener, router, limits, async move {
        let _ = stopped.await;
    }));
    Server { addr, stop: Some(stop), task, _net: net }
}

/// A connection from the loopback address `127.0.0.<host>`.
async fn connect_from(host: u8, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.bind(SocketAddr::from(([127, 0, 0, host], 0))).expect("bind a loopback source");
    socket.connect(to).await.expect("connect")
}

/// Reads until the server closes the connection; answers what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut got)).await;
    match read {
        Ok(Ok(_)) => {}
        // A reset also means the server closed it.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("reading: {e}"),
        Err(_) => panic!("the server kept the connection open past {DEADLINE:?}"),
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A connection from `127.0.0.<host>` that is known to be admitted and stays held: it asks
/// `/healthz` with keep-alive and reads the whole answer (headers and `content-length` body)
/// without waiting for a close. `None` if the server refused it (an answer other than 200).
async fn held_from(host: u8, to: SocketAddr) -> Option<TcpStream> {
    let mut stream = connect_from(host, to).await;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n").await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .unwrap_or(0);
        if n == 0 {
            return None; // closed: refused
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        let Some(end) = text.find("\r\n\r\n") else { continue };
        let length = text[..end]
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
            })
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if got.len() >= end + 4 + length {
            return text.starts_with("HTTP/1.1 200").then_some(stream);
        }
    }
}

async fn healthz_from(host: u8, to: SocketAddr) -> String {
    let mut stream = connect_from(host, to).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    read_to_close(&mut stream).await
}

/// One client holding its share of sockets is refused more (a JSON 503), while another client's
/// `/healthz` is answered; the global cap holds too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn a_client_holding_idle_sockets_does_not_starve_the_others() {
    let server = start(ServerLimits {
        max_connections: 12,
        max_connections_per_client: 8,
        header_timeout_secs: 600,
        ..Default::default()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(connect_from(2, server.addr).await);
    }
    // The connections are admitted in order, so the 9th is the first over the cap.
    let mut ninth = connect_from(2, server.addr).await;
    let answer = read_to_close(&mut ninth).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");

    let other = healthz_from(3, server.addr).await;
    assert!(other.starts_with("HTTP/1.1 200"), "another client is served: {other}");

    // 8 + 3 idle = 11 of 12; the 12th is admitted, the 13th (any client) refused.
    for host in [4, 5, 6] {
        idle.push(connect_from(host, server.addr).await);
    }
    // (The previous client's place is freed just after its connection closes: wait for it.)
    let started = tokio::time::Instant::now();
    loop {
        let twelfth = healthz_from(7, server.addr).await;
        if twelfth.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the 12th connection was never admitted: {twelfth}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The 12th place is taken by a held connection known to be admitted (the twelfth's place
    // is freed on the server's own time after its close: until then, a 13th is refused).
    let started = tokio::time::Instant::now();
    loop {
        if let Some(held) = held_from(8, server.addr).await {
            idle.push(held);
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the 12th place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let over = healthz_from(9, server.addr).await;
    assert!(over.starts_with("HTTP/1.1 503"), "the total cap: {over}");

    // Closing a held socket frees its place (the server notices the close on its own time).
    idle.truncate(8);
    let started = tokio::time::Instant::now();
    loop {
        if healthz_from(9, server.addr).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "closed sockets never freed their places");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server.stop);
}

/// A connection that sends nothing, one that idles after a request, and one that sends its
/// headers a byte at a time are all closed by the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn idle_and_slowloris_connections_are_closed() {
    let server = start(ServerLimits { header_timeout_secs: 1, ..Default::default() }).await;

    let mut silent = connect_from(2, server.addr).await;
    let said = read_to_close(&mut silent).await;
    assert!(!said.contains("200 OK"), "{said}");

    let mut kept_alive = connect_from(3, server.addr).await;
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nhost: gw\r\n\r\n").await.expect("write");
    let said = read_to_close(&mut kept_alive).await;
    assert!(said.starts_with("HTTP/1.1 200"), "answered, then closed when idle: {said}");

    let mut slowloris = connect_from(4, server.addr).await;
    let drip = async {
        slowloris.write_all(b"GET /healthz HTTP/1.1\r\n").await?;
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            slowloris.write_all(b"x-a: b\r\n").await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    let dripped = tokio::time::timeout(DEADLINE, drip).await;
    assert!(matches!(dripped, Ok(Err(_))), "the server must close a slowloris: {dripped:?}");
    drop(server.stop);
}

/// A body that does not arrive in time is answered 408 in JSON, and the handler never runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn a_slow_body_is_answered_408() {
    let server = start(ServerLimits { body_timeout_secs: 1, ..Default::default() }).await;
    let mut stream = connect_from(2, server.addr).await;
    stream
        .write_all(
            b"POST /v1/devices/0123456789abcdef0123456789abcdef/sync HTTP/1.1\r\nhost: gw\r\n\
              content-type: application/json\r\ncontent-length: 100\r\n\r\n{\"coun",
        )
        .await
        .expect("write");
    let said = read_to_close(&mut stream).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("\"code\":\"request_timeout\""), "{said}");
    drop(server.stop);
}

/// A shutdown with a slow body in flight finishes after the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn shutdown_does_not_wait_for_a_slow_client() {
    let mut server = start(ServerLimits {
        body_timeout_secs: 3_600,
        header_timeout_secs: 3_600,
        shutdown_grace_secs: 1,
        ..Default::default()
    })
    .await;
    let mut stream = connect_from(2, server.addr).await;
    stream
        .write_all(b"POST /v1/devices/x/sync HTTP/1.1\r\nhost: gw\r\ncontent-length: 100\r\n\r\n{")
        .await
        .expect("write");
    // The request is in flight once the server reads it; a healthz from another client on a
    // fresh connection shows the server is serving by then.
    assert!(healthz_from(3, server.addr).await.starts_with("HTTP/1.1 200"));
    server.stop.take().expect("stop").send(()).expect("stop");
    tokio::time::timeout(DEADLINE, &mut server.task)
        .await
        .expect("the server stops after its grace period")
        .expect("join");
    // And the slow client's connection was cut.
    read_to_close(&mut stream).await;
}
