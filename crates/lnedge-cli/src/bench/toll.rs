//! `lnedge bench --toll`: the threshold device wallet (`docs/wallet.md`). A car's device holds
//! its channel's funding key 2-of-2 with the gateway; every toll is approved by the device and
//! every channel state co-signed over a TCP device link on loopback. Measured against a plain
//! payment over the same path (an ordinary LDK channel to the same bridge, then the same shop),
//! alternating, in the same run; plus key generation and one signature on their own.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lnedge_cosign::policy::Policy;
use lnedge_cosign::sign::{DeviceSigning, GatewaySigning};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::LightningBackend;
use serde::Serialize;

use super::stats::{self, ms, Summary};
use crate::car::Car;
use crate::util::{params, pay_request, random_preimage};

/// One toll.
const TOLL_MSAT: u64 = 10_000_000;

/// The toll bench's figures.
#[derive(Debug, Serialize)]
pub(crate) struct Figures {
    build: &'static str,
    cores: usize,
    payments: usize,
    /// Whether the device wrote its wallet to disk before every answer.
    device_on_disk: bool,
    /// The device's decision to the preimage in its hands: SendPayment to the gateway, 2 hops
    /// beyond it, every state co-signed; both device links on loopback TCP.
    toll_p50_ms: f64,
    toll_p99_ms: f64,
    /// The same path from an ordinary channel, alternating with the tolls.
    plain_p50_ms: f64,
    plain_p99_ms: f64,
    /// toll p50 − plain p50.
    overhead_p50_ms: f64,
    overhead_p99_ms: f64,
    joint_signatures_per_payment: f64,
    link_round_trips_per_payment: f64,
    link_bytes_per_payment: f64,
    /// Both parties' CPU for one joint signature in this process (median of 50).
    signature_ms: f64,
    /// The device link's bytes for one signature (both directions, encoded).
    signature_link_bytes: u64,
    /// Key generation, both parties in this process (median of 5).
    keygen_ms: f64,
    /// The device link's bytes for one key generation (both directions, encoded).
    keygen_link_bytes: usize,
    /// The device's stored key share.
    device_share_bytes: usize,
}

/// One key generation message by message: the bytes it puts on the link.
fn keygen_link_bytes() -> Result<usize> {
    use lnedge_cosign::encode;
    use lnedge_cosign::keygen::{DeviceKeygen, GatewayKeygen};
    let (device, start) = DeviceKeygen::start();
    let mut bytes = encode(&start).len();
    let (gateway, reply) = GatewayKeygen::reply(start)?;
    bytes += encode(&reply).len();
    let (device, finish) = device.finish(reply)?;
    bytes += encode(&finish).len();
    let (_, done) = gateway.finish(finish)?;
    bytes += encode(&done).len();
    device.done(done)?;
    Ok(bytes)
}

/// Median of five key generations, median of 50 signatures with the bytes one carries, and the
/// size of a stored device share.
fn crypto_costs() -> Result<(Duration, Duration, u64, usize)> {
    let mut keygens = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        lnedge_cosign::keygen::in_process()?;
        keygens.push(t.elapsed());
    }
    let (device, gateway) = lnedge_cosign::keygen::in_process()?;
    let mut signatures = Vec::new();
    let mut bytes = 0;
    for i in 0..50u8 {
        let hash = [i.wrapping_add(1); 32];
        let t = Instant::now();
        let (g, open) = GatewaySigning::open(&gateway, (), hash)?;
        let (d, accept) = DeviceSigning::accept(&device, &open, hash)?;
        let (g, finish) = g.finish(&gateway, accept.clone())?;
        let (done, _) = d.finish(&device, finish.clone())?;
        g.done(&gateway, done.clone())?;
        signatures.push(t.elapsed());
        bytes = [lnedge_cosign::encode(&open), lnedge_cosign::encode(&accept)]
            .iter()
            .chain([lnedge_cosign::encode(&finish), lnedge_cosign::encode(&done)].iter())
            .map(|b| b.len() as u64)
            .sum();
    }
    let share_bytes = device.to_bytes().len();
    Ok((Summary::of(&mut keygens).p50, Summary::of(&mut signatures).p50, bytes, share_bytes))
}

/// A plain payment of one 10,000 sat invoice of `shop` from `payer`: its latency.
async fn plain_payment(payer: &SandboxNode, shop: &SandboxNode, i: usize) -> Result<Duration> {
    let (preimage, _) = random_preimage();
    let invoice = shop.create_invoice(preimage, params(TOLL_MSAT, &format!("plain {i}"))).await?;
    let t = Instant::now();
    let outcome = payer.pay(pay_request(&invoice)).await?;
    if outcome.preimage != preimage {
        bail!("payment {i} returned a wrong preimage");
    }
    Ok(t.elapsed())
}

/// Runs the bench with `payments` tolls and as many plain payments.
pub(crate) async fn run(payments: usize, device_on_disk: bool) -> Result<Figures> {
    let (keygen, signature, signature_link_bytes, device_share_bytes) =
        tokio::task::spawn_blocking(crypto_costs).await??;

    let net = SandboxNetwork::new().await?;
    let [bridge, shop] = net.line(["bridge", "shop"], 10_000_000).await?;
    let gateway = net.add_node("gateway").await?;
    let plain = net.add_node("plain").await?;
    let policy = Policy {
        max_payment_msat: TOLL_MSAT,
        daily_budget_msat: u64::MAX,
        fee_cap_msat: 1_000_000,
        payees: Some(vec![shop.node_id()]),
    };
    let device_dir = tempfile::tempdir()?;
    let saved_to = device_on_disk.then(|| device_dir.path().join("wallet.bin"));
    let car = Car::drive_onto(&net, &gateway, &bridge, 5_000_000, policy, saved_to).await?;
    net.open_channel(&plain, &bridge, 5_000_000, 0).await?;
    net.wait_for_gossip().await?;
    let toll = |i: usize| {
        let (car, shop) = (&car, &shop);
        async move {
            let (preimage, _) = random_preimage();
            let invoice =
                shop.create_invoice(preimage, params(TOLL_MSAT, &format!("toll {i}"))).await?;
            let (paid, elapsed) = car.pay(&invoice).await.with_context(|| format!("toll {i}"))?;
            if paid != preimage.0 {
                bail!("toll {i} returned a wrong preimage");
            }
            Ok::<_, anyhow::Error>(elapsed)
        }
    };
    let cosigner = car.cosigner.clone();

    // Warm-up, then alternate.
    for i in 0..5 {
        toll(i).await?;
        plain_payment(&plain, &shop, i).await?;
    }
    let before = cosigner.stats();
    let (mut tolls, mut plains) = (Vec::new(), Vec::new());
    for i in 0..payments {
        tolls.push(toll(i).await?);
        plains.push(plain_payment(&plain, &shop, i).await?);
    }
    car.settle(before.signatures + 2 * payments as u64).await;
    let after = cosigner.stats();
    net.shutdown().await;

    let per_payment = |a: u64, b: u64| ((a - b) as f64 / payments as f64 * 10.0).round() / 10.0;
    let toll = Summary::of(&mut tolls);
    let plain = Summary::of(&mut plains);
    Ok(Figures {
        build: stats::build(),
        cores: stats::cores(),
        payments,
        device_on_disk,
        toll_p50_ms: ms(toll.p50),
        toll_p99_ms: ms(toll.p99),
        plain_p50_ms: ms(plain.p50),
        plain_p99_ms: ms(plain.p99),
        overhead_p50_ms: ms(toll.p50.saturating_sub(plain.p50)),
        overhead_p99_ms: ms(toll.p99.saturating_sub(plain.p99)),
        joint_signatures_per_payment: per_payment(after.signatures, before.signatures),
        link_round_trips_per_payment: per_payment(after.requests, before.requests),
        link_bytes_per_payment: per_payment(
            after.bytes_in + after.bytes_out,
            before.bytes_in + before.bytes_out,
        ),
        signature_ms: ms(signature),
        signature_link_bytes,
        keygen_ms: ms(keygen),
        keygen_link_bytes: tokio::task::spawn_blocking(keygen_link_bytes).await??,
        device_share_bytes,
    })
}
