//! Who a client is (issue #12 item 5). Found before: the limits were keyed on the peer address,
//! and `X-Forwarded-For` was documented but never used, so behind a proxy every customer shared
//! one budget; used naively, it would let any client pick a fresh identity per request.

use std::net::IpAddr;

use lnedge_gateway::service::ServerLimits;

use super::limits::start_behind;

/// Asks for login challenges from the loopback address `127.0.0.<host>`, each with its own
/// `X-Forwarded-For`; answers the statuses.
async fn challenges(addr: std::net::SocketAddr, host: u8, n: usize) -> Vec<u16> {
    let source: IpAddr = format!("127.0.0.{host}").parse().expect("ip");
    let http = reqwest::Client::builder().local_address(source).build().expect("client");
    let mut statuses = Vec::new();
    for i in 0..n {
        let status = http
            .get(format!("http://{addr}/v1/auth/lnurl"))
            .header("x-forwarded-for", format!("198.51.100.{}", i % 250))
            .send()
            .await
            .expect("send")
            .status();
        statuses.push(status.as_u16());
    }
    statuses
}

/// Without trusted proxies, a client cannot escape its budget by inventing forwarding headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn spoofed_forwarding_headers_do_not_buy_a_fresh_budget() {
    let server = start_behind(ServerLimits::default(), &[]).await;
    let statuses = challenges(server.addr, 2, 31).await;
    assert!(statuses[..30].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[30], 429, "the 31st from one socket address, whatever it claims");
    drop(server.stop);
}

/// Behind a trusted proxy, the customers it names each have their own budget, and a customer
/// at its limit does not lock the others out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn behind_a_trusted_proxy_each_customer_has_a_budget() {
    let server = start_behind(ServerLimits::default(), &["127.0.0.2/32"]).await;
    // 40 requests through the proxy, 40 different customers: all served.
    let statuses = challenges(server.addr, 2, 40).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    drop(server.stop);
}
