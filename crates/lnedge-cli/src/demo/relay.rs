//! The async relay in the demo: a sleeping sensor is paid (the gateway holds the payment until
//! it wakes), and a sensor that never wakes gets the payer refunded before the deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::relay::Relay;
use lnedge_gateway::store::relay::RelayState;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{parse_invoice, LightningBackend};
use lnedge_payee::{PayeeAgent, PayeeClient, PreimageFile};

use crate::util::{group, pay_request};

const TOKEN: &str = "demo-relay-admin-token-0123456789";

async fn wait_state(relay: &Relay, hash: &[u8; 32], want: RelayState) -> Result<u32> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        relay.tick().await?;
        let p = relay.store().relay_payment(hash).await?.context("the relay payment")?;
        if p.state == want {
            return Ok(p.claim_deadline_height.unwrap_or(0));
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the relay payment did not become {want}: {p:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the story: `gateway` relays from `payer` to `sensor`.
pub(crate) async fn story(
    net: &SandboxNetwork,
    payer: &Arc<SandboxNode>,
    gateway: &Arc<SandboxNode>,
    sensor: &Arc<SandboxNode>,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
    let state =
        AppState::new(store, gateway.clone(), Arc::new(PoolKey::generate()), rand::random(), TOKEN);
    let relay = state.gateway.relay();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });

    let registration = lnedge_payee::register(&base, TOKEN, "soil sensor").await?;
    let key: [u8; 32] = hex::decode(&registration.payee_key)?
        .try_into()
        .map_err(|_| anyhow::anyhow!("the payee key is not 32 bytes"))?;
    let client = PayeeClient::new(&base, &registration.payee_id, key);
    let agent = PayeeAgent::new(
        client,
        PreimageFile::open(&dir.path().join("sensor.json"))?,
        sensor.clone(),
    );
    let unused = agent.commit(2).await?;
    println!(
        "      the sensor registered with the gateway and committed {unused} payment hashes (it keeps the preimages), then went to sleep"
    );

    let offer = relay.offer(&registration.payee_id, 30_000_000, "soil moisture, 1 day").await?;
    let invoice = parse_invoice(&offer.bolt11)?;
    let t = Instant::now();
    let paying = tokio::spawn({
        let payer = payer.clone();
        async move { payer.pay(pay_request(&invoice)).await }
    });
    let deadline = wait_state(&relay, &offer.payment_hash, RelayState::Held).await?;
    println!(
        "      the payer pays 30 000 sat; the gateway HOLDS it (claim deadline block {deadline}, tip {}): the payer waits",
        net.chain().height()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = agent.wake_once().await?;
    println!(
        "      the sensor wakes, finds {} payment waiting and hands the gateway an invoice of its own node for the same hash",
        report.claimed
    );
    let outcome = paying.await??;
    wait_state(&relay, &offer.payment_hash, RelayState::Settled).await?;
    let fee = relay.settings().fee_msat(30_000_000);
    println!(
        "      the gateway paid the sensor {} sat (fee {} msat), learnt the preimage and settled: the payer is done after {:.1} s",
        group((30_000_000 - fee) / 1000),
        group(fee),
        t.elapsed().as_secs_f64()
    );
    let _ = outcome;

    let offer = relay.offer(&registration.payee_id, 30_000_000, "soil moisture, 2 days").await?;
    let invoice = parse_invoice(&offer.bolt11)?;
    let paying = tokio::spawn({
        let payer = payer.clone();
        async move { payer.pay(pay_request(&invoice)).await }
    });
    let deadline = wait_state(&relay, &offer.payment_hash, RelayState::Held).await?;
    let margin = relay.settings().cancel_margin_blocks;
    let blocks = deadline.saturating_sub(margin).saturating_sub(net.chain().height());
    println!(
        "      another payment is held; this time the sensor never wakes. Mining {blocks} blocks…"
    );
    net.mine(blocks).await;
    wait_state(&relay, &offer.payment_hash, RelayState::Expired).await?;
    let refused = paying.await?;
    if refused.is_ok() {
        bail!("the payer's payment should have been failed back");
    }
    println!(
        "      at block {} ({margin} blocks before the deadline {deadline}) the gateway failed the HTLC back: the payer has its money again",
        net.chain().height()
    );
    server.abort();
    Ok(())
}
