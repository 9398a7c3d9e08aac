//! `lnedge bench --payers`: devices that pay (issue #14), through the gateway's real router over
//! a real loopback socket, paying a merchant two hops away on the sandbox network
//! (`owner → hub → merchant`), with many merchants at once.
//!
//! - `card_tap_to_paid`: a simulated Bolt Card's reading → the LNURL-withdraw fetch (SUN
//!   verified, counter stored, session opened) → the callback with the merchant's invoice →
//!   the owner's node pays over 2 hops → `{"status":"OK"}`.
//! - `token_to_paid`: the payer device signs the invoice (counter on flash first) → `POST
//!   /v1/pay/token` → verified, reserved, paid over 2 hops → the answer.
//! - `bare_payment_2_hops` (the peer in the same run): the owner's node pays the same kind of
//!   invoice directly, with the same concurrency: what the gateway adds is the difference.
//!
//! The merchant's invoices are made before the clock starts (that is the merchant node's work,
//! the same in every scenario). Each merchant has its own card and its own payer device. The
//! scenarios alternate: in each round every merchant pays once in each, the order rotating
//! from round to round, so load drifting on the machine touches all three alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lnedge_device::card::SimulatedCard;
use lnedge_device::payer::{PayerDevice, PayerLimits, FLASH_LEN};
use lnedge_device::MemFlash;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{parse_invoice, LightningBackend};
use lnedge_proto::payer::PayerKey;
use lnedge_proto::DeviceId;
use lnedge_wire::lnurl::{StatusResponse, WithdrawRequest};
use lnedge_wire::payers::{EnrolledDevice, IssuedCard, PayerPayment};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::stats::{self, ms, per_sec, Summary};
use crate::util::{params, pay_request, random_preimage};

/// What each payment pays the merchant (500 sat).
const AMOUNT_MSAT: u64 = 500_000;

/// Figures of one scenario.
#[derive(Debug, Serialize)]
pub(crate) struct Scenario {
    scenario: &'static str,
    payments: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    payments_per_sec: f64,
}

/// Figures of one run.
#[derive(Debug, Serialize)]
pub(crate) struct PayerFigures {
    build: &'static str,
    cores: usize,
    store: &'static str,
    hops: u32,
    merchants: usize,
    payments_per_merchant: usize,
    amount_msat: u64,
    results: Vec<Scenario>,
}

fn scenario(name: &'static str, mut samples: Vec<Duration>, wall: Duration) -> Scenario {
    let s = Summary::of(&mut samples);
    Scenario {
        scenario: name,
        payments: s.count,
        p50_ms: ms(s.p50),
        p99_ms: ms(s.p99),
        max_ms: ms(s.max),
        payments_per_sec: per_sec(s.count, wall, 1),
    }
}

/// A gateway answer parsed as `T`; the body in the error when it is not one.
async fn parse<T: DeserializeOwned>(response: reqwest::Response, what: &str) -> Result<T> {
    let body = response.bytes().await?;
    serde_json::from_slice(&body)
        .with_context(|| format!("{what}: {}", String::from_utf8_lossy(&body)))
}

/// `n` invoices of the merchant.
async fn invoices(merchant: &SandboxNode, n: usize) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (preimage, _) = random_preimage();
        out.push(
            merchant.create_invoice(preimage, params(AMOUNT_MSAT, "bench")).await?.to_string(),
        );
    }
    Ok(out)
}

/// Runs `work` for every merchant at once; answers every sample and the wall time.
async fn concurrently<T, F, Fut>(items: Vec<T>, work: F) -> Result<(Vec<Duration>, Duration)>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<Duration>>> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = items.into_iter().map(|item| tokio::spawn(work(item))).collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    Ok((samples, started.elapsed()))
}

/// One merchant's card taps.
async fn taps(
    client: reqwest::Client,
    mut card: SimulatedCard,
    invoices: Vec<String>,
) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(invoices.len());
    for invoice in invoices {
        let url = card.tap()?.replacen("lnurlw://", "http://", 1);
        let started = Instant::now();
        let request: WithdrawRequest = parse(client.get(&url).send().await?, "tap").await?;
        let callback = format!("{}?k1={}&pr={invoice}", request.callback, request.k1);
        let answer: StatusResponse = parse(client.get(callback).send().await?, "callback").await?;
        if answer.reason.is_some() {
            bail!("the card payment was refused: {answer:?}");
        }
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// One merchant's token payments.
async fn tokens(
    client: reqwest::Client,
    base: String,
    mut device: PayerDevice<MemFlash>,
    invoices: Vec<String>,
) -> Result<(PayerDevice<MemFlash>, Vec<Duration>)> {
    let mut samples = Vec::with_capacity(invoices.len());
    for invoice in invoices {
        let parsed = parse_invoice(&invoice)?;
        let payee = parsed.recover_payee_pub_key().serialize();
        let expires_at = unix_now() + 600;
        let started = Instant::now();
        let token =
            device.authorize(*parsed.payment_hash().as_ref(), AMOUNT_MSAT, payee, expires_at)?;
        let body = serde_json::json!({"token": hex::encode(token.to_bytes()), "invoice": invoice});
        let response = client.post(format!("{base}/v1/pay/token")).json(&body).send().await?;
        let paid: PayerPayment = parse(response, "token").await?;
        if paid.state != "paid" {
            bail!("the token payment is {}", paid.state);
        }
        samples.push(started.elapsed());
    }
    Ok((device, samples))
}

/// One merchant's bare payments (the peer).
async fn bare(owner: Arc<SandboxNode>, invoices: Vec<String>) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(invoices.len());
    for invoice in invoices {
        let request = pay_request(&parse_invoice(&invoice)?);
        let started = Instant::now();
        owner.pay(request).await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Runs the benchmark: `merchants` at once, `per_merchant` payments each, per scenario.
pub(crate) async fn run(merchants: usize, per_merchant: usize) -> Result<PayerFigures> {
    let dir = tempfile::tempdir()?;
    let net = SandboxNetwork::new().await?;
    let [owner, _hub, merchant] = net.line(["owner", "hub", "merchant"], 4_000_000).await?;
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let gateway =
        GatewayBuilder::new(store, owner.clone(), Arc::new(PoolKey::generate()), rand::random())
            .public_url(base.clone())
            .build();
    let router = app(AppState::with_gateway(gateway, "bench"));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder().pool_max_idle_per_host(merchants * 2).build()?;
    let limit = serde_json::json!({"per_payment_msat": AMOUNT_MSAT,
                                   "per_day_msat": AMOUNT_MSAT * (per_merchant as u64 + 10)});

    // Per merchant: a card, a payer device, and the invoices of each scenario (+1 warm-up).
    let mut cards = Vec::with_capacity(merchants);
    let mut devices = Vec::with_capacity(merchants);
    for i in 0..merchants {
        let mut body = limit.clone();
        body["name"] = format!("Bench card {i}").into();
        body["uid"] = hex::encode(rand::random::<[u8; 7]>()).into();
        let issued: IssuedCard = parse(
            client.post(format!("{base}/v1/cards")).bearer_auth("bench").json(&body).send().await?,
            "issue",
        )
        .await?;
        let p = issued.programming.context("the card was not programmed")?;
        let uid = issued.card.uid.context("no uid")?;
        cards.push(SimulatedCard::programmed(&uid, &p.keys.k1, &p.keys.k2, &p.lnurlw_base)?);
        let mut body = limit.clone();
        body["name"] = format!("Bench car {i}").into();
        let enrolled: EnrolledDevice = parse(
            client
                .post(format!("{base}/v1/payer-devices"))
                .bearer_auth("bench")
                .json(&body)
                .send()
                .await?,
            "enrol",
        )
        .await?;
        let id: [u8; 16] =
            hex::decode(&enrolled.device.id)?.try_into().map_err(|_| anyhow::anyhow!("id"))?;
        let key: [u8; 32] =
            hex::decode(&enrolled.token_key)?.try_into().map_err(|_| anyhow::anyhow!("key"))?;
        devices.push(PayerDevice::open(
            DeviceId(id),
            PayerKey(key),
            PayerLimits { max_per_payment_msat: AMOUNT_MSAT, budget_msat: u64::MAX / 2 },
            MemFlash::from_bytes(vec![0xFF; FLASH_LEN]),
        )?);
    }
    let mut results = Vec::new();

    // Warm-up (not measured): one tap and one token per merchant.
    let mut warm_cards = Vec::new();
    for card in &cards {
        warm_cards.push((card.clone(), invoices(&merchant, 1).await?));
    }
    let c = client.clone();
    concurrently(warm_cards, |(card, inv)| taps(c.clone(), card, inv)).await?;
    for card in cards.iter_mut() {
        card.tap()?; // the warm-up tap's counter, so the measured taps start after it
    }

    // Alternating rounds: in each, every merchant pays once in each scenario, the scenarios'
    // order rotating from round to round, so a drift of the machine's load touches all three.
    let mut samples: [Vec<Duration>; 3] = Default::default();
    let mut walls = [Duration::ZERO; 3];
    let (c, b) = (client.clone(), base.clone());
    for round in 0..per_merchant {
        for k in 0..3 {
            let which = (round + k) % 3;
            let mut fresh = Vec::with_capacity(merchants);
            for _ in 0..merchants {
                fresh.push(invoices(&merchant, 1).await?);
            }
            let started = Instant::now();
            match which {
                0 => {
                    let work: Vec<_> = cards.iter().cloned().zip(fresh).collect();
                    let (s, _) =
                        concurrently(work, |(card, inv)| taps(c.clone(), card, inv)).await?;
                    samples[0].extend(s);
                    for card in cards.iter_mut() {
                        card.tap()?; // the counter this round used
                    }
                }
                1 => {
                    let tasks: Vec<_> = devices
                        .drain(..)
                        .zip(fresh)
                        .map(|(d, inv)| tokio::spawn(tokens(c.clone(), b.clone(), d, inv)))
                        .collect();
                    for task in tasks {
                        let (device, s) = task.await??;
                        devices.push(device);
                        samples[1].extend(s);
                    }
                }
                _ => {
                    let (s, _) = concurrently(fresh, |inv| bare(owner.clone(), inv)).await?;
                    samples[2].extend(s);
                }
            }
            walls[which] += started.elapsed();
        }
    }
    let [cards_s, tokens_s, bare_s] = samples;
    results.push(scenario("card_tap_to_paid", cards_s, walls[0]));
    results.push(scenario("token_to_paid", tokens_s, walls[1]));
    results.push(scenario("bare_payment_2_hops", bare_s, walls[2]));

    server.abort();
    net.shutdown().await;
    Ok(PayerFigures {
        build: stats::build(),
        cores: stats::cores(),
        store: "sqlite",
        hops: 2,
        merchants,
        payments_per_merchant: per_merchant,
        amount_msat: AMOUNT_MSAT,
        results,
    })
}
