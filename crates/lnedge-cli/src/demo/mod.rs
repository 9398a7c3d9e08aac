//! `lnedge demo`: the story, told on the sandbox network.

mod deputy;
mod payers;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use std::sync::Arc;

use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::{GatewayBuilder, GatewaySettings};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{BackendEvent, LightningBackend, PaymentHash};
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::pools::ProvisionedPool;
use lnedge_wire::reports::SalesReport;
use lnedge_wire::sync::SignedUpload;
use lnedge_wire::SIGNATURE_HEADER;

use crate::util::{group, params, pay_request, random_preimage, short_hex};

mod refund;
mod relay;
mod toll;

/// Options of `lnedge demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Capacity of each channel, in satoshis.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(100_000..=16_777_215))]
    channel_sat: u64,
}

/// How many steps the demo has.
const STEPS: u32 = 13;

/// Prints the next step's heading, numbered in order of appearance.
fn step(text: &str) {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    println!("\n[{n}/{STEPS}] {text}");
}

/// Waits for the backend's next event about `hash` that `want` accepts (acknowledging events).
async fn wait_event(
    node: &dyn LightningBackend,
    hash: PaymentHash,
    want: impl Fn(&BackendEvent) -> bool,
) -> Result<BackendEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let queued = tokio::time::timeout_at(deadline, node.next_event())
            .await
            .context("timed out waiting for the node's event")??;
        node.event_handled(queued.id).await?;
        if queued.event.payment_hash() == hash && want(&queued.event) {
            return Ok(queued.event);
        }
    }
}

/// Runs the demo.
pub(crate) async fn run(args: DemoArgs) -> Result<()> {
    println!("lnedge demo: a Lightning network in this process (the sandbox)");
    println!("  real LDK nodes speaking the Lightning protocol over 127.0.0.1, a simulated chain;");
    println!("  nothing to install, nothing left behind.");

    step("Starting three nodes and opening announced channels payer → router → merchant");
    let started = Instant::now();
    let net = SandboxNetwork::new().await?;
    let [payer, router, merchant] =
        net.line(["payer", "router", "merchant"], args.channel_sat).await?;
    for node in [&payer, &router, &merchant] {
        println!("      {:<9} {}  on {}", node.name(), node.node_id(), node.listen_addr());
    }
    println!(
        "      2 channels of {} sat (half pushed to the far side), {} blocks mined, gossip settled in {:.1} s",
        group(args.channel_sat),
        net.chain().height(),
        started.elapsed().as_secs_f64()
    );

    step("The merchant asks 25 000 sat for a coffee; the payer pays over two hops");
    let (preimage, hash) = random_preimage();
    let invoice = merchant.create_invoice(preimage, params(25_000_000, "coffee")).await?;
    let text = invoice.to_string();
    println!("      invoice {}…{}", &text[..40], &text[text.len() - 8..]);
    let t = Instant::now();
    let outcome = payer.pay(pay_request(&invoice)).await?;
    println!(
        "      paid in {:.1} ms; routing fee {} msat earned by the router",
        t.elapsed().as_secs_f64() * 1000.0,
        group(outcome.fee_paid_msat.unwrap_or(0))
    );
    println!(
        "      the payer now holds the preimage {} (the proof of payment)",
        short_hex(&outcome.preimage.0)
    );
    wait_event(&*merchant, hash, |e| matches!(e, BackendEvent::InvoiceSettled { .. })).await?;
    println!("      merchant's event: invoice settled");

    step("A locker takes a deposit with a HOLD invoice: the money waits for its decision");
    let (preimage, hash) = random_preimage();
    let hold = merchant.create_hold_invoice(hash, params(10_000_000, "locker 7 deposit")).await?;
    let pay = tokio::spawn({
        let payer = payer.clone();
        async move { payer.pay(pay_request(&hold)).await }
    });
    let held =
        wait_event(&*merchant, hash, |e| matches!(e, BackendEvent::InvoiceHeld { .. })).await?;
    if let BackendEvent::InvoiceHeld { amount_msat, claim_deadline_height, .. } = held {
        println!(
            "      held {} sat; must be settled or cancelled by block {} (tip is {})",
            group(amount_msat / 1000),
            claim_deadline_height.map_or("?".into(), |h| h.to_string()),
            net.chain().height()
        );
    }
    println!("      the payer's wallet shows the payment as pending; the locker opens, so: settle");
    let t = Instant::now();
    merchant.settle_hold_invoice(preimage).await?;
    let outcome = pay.await??;
    println!(
        "      settled: the payer got preimage {} {:.1} ms after the settle",
        short_hex(&outcome.preimage.0),
        t.elapsed().as_secs_f64() * 1000.0
    );

    step("Another hold: the locker jams, so the merchant CANCELS and the money goes back");
    let (_, hash) = random_preimage();
    let hold = merchant.create_hold_invoice(hash, params(10_000_000, "locker 8 deposit")).await?;
    let pay = tokio::spawn({
        let payer = payer.clone();
        async move { payer.pay(pay_request(&hold)).await }
    });
    wait_event(&*merchant, hash, |e| matches!(e, BackendEvent::InvoiceHeld { .. })).await?;
    merchant.cancel_hold_invoice(hash).await?;
    match pay.await? {
        Err(e) => println!("      the payer's payment failed back: {e}"),
        Ok(_) => anyhow::bail!("a cancelled hold invoice was paid"),
    }
    wait_event(&*merchant, hash, |e| matches!(e, BackendEvent::InvoiceCancelled { .. })).await?;
    println!("      merchant's event: invoice cancelled");

    step("A vending machine with NO secret keys sells offline; the operator's gateway keeps the books");
    vending_story(&payer, merchant.clone()).await?;

    step("A jammed motor: the customer proves payment and gets the sats back (LNURL-withdraw)");
    refund::story(&payer, merchant.clone()).await?;

    step("A deputy terminal, offline, sells any amount; the wallet's decrypted claim proves it");
    deputy::deputy_story(&payer, merchant.clone()).await?;

    step("A sleeping sensor is paid: the gateway holds the payment until it wakes (async relay)");
    relay::story(&net, &payer, &router, &merchant).await?;

    step("A Bolt Card taps a point of sale: the operator's gateway pays the merchant, once");
    let payers = payers::PayerGateway::start(payer.clone())?;
    payers.card_story(&merchant).await?;

    step("An offline car unit pays a parking meter with a token bound to the meter's invoice");
    payers.token_story(&merchant).await?;

    step(
        "A car with its own channel pays three toll booths; the gateway alone cannot pay a fourth",
    );
    toll::story(&net, &router, &merchant).await?;

    step("The merchant restarts; its durable state comes back with it");
    let merchant = net.restart("merchant").await?;
    let state = merchant.invoice_state(hash).await?;
    println!("      after restart, locker 8's invoice is still {}", state.name());
    let (preimage, _) = random_preimage();
    let invoice = merchant.create_invoice(preimage, params(1_000_000, "after restart")).await?;
    payer.pay(pay_request(&invoice)).await?;
    println!("      and a new 1 000 sat payment goes through");

    step("Bad input gets a clear, typed error (and nothing breaks)");
    let err = lnedge_node::parse_invoice("lnbcrt1garbage").expect_err("garbage is refused");
    println!("      pay \"lnbcrt1garbage\"      → {err}");
    let mut expiring = params(1_000_000, "expires at once");
    expiring.expiry_secs = 1;
    let invoice = merchant.create_invoice(random_preimage().0, expiring).await?;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let err = payer.pay(pay_request(&invoice)).await.expect_err("expired invoice is refused");
    println!("      pay an expired invoice    → {err}");
    let err = merchant.settle_hold_invoice(random_preimage().0).await.expect_err("unknown hash");
    println!("      settle an unknown hash    → {err}");

    net.shutdown().await;
    println!(
        "\nDone in {:.1} s. Next: `lnedge bench` measures the network; the README maps the rest.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

const DEMO_TOKEN: &str = "demo-admin-token-0123456789";

/// Calls the gateway's HTTP API in process (the same router `lnedge gateway serve` serves).
async fn api(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> Result<(u16, Vec<u8>)> {
    let bearer = format!("Bearer {DEMO_TOKEN}");
    let mut headers = vec![("authorization", bearer.as_str())];
    if let Some(signature) = &signature {
        headers.push((SIGNATURE_HEADER, signature));
    }
    crate::http::call(router, method, uri, &headers, body).await
}

/// Step 5: the operator's gateway provisions a pool on the merchant's node; the machine sells
/// offline; the gateway records the payments, takes the machine's ledger at sync, and reports.
async fn vending_story(payer: &SandboxNode, merchant: Arc<SandboxNode>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
    let rates = Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)]));
    let master: [u8; 32] = rand::random();
    // The same engine `lnedge gateway serve` runs, started: its payment watcher books what the
    // merchant's node settles, with the EUR rate of the moment.
    let gateway =
        GatewayBuilder::new(store.clone(), merchant.clone(), Arc::new(PoolKey::generate()), master)
            .rates(rates)
            .settings(GatewaySettings {
                accounting_currency: Some("EUR".into()),
                refund_url_base: "https://gateway.example/v1/refunds".into(),
                ..Default::default()
            })
            .build();
    gateway.start();
    let router = app(AppState::with_gateway(gateway.clone(), DEMO_TOKEN));
    let device = DeviceId(rand::random());
    let enrol = serde_json::json!({
        "device_id": device.to_string(),
        "name": "Lobby vending machine",
        "products": [
            {"id": 1, "description": "Cola 0.33 l", "price_msat": 2_500_000},
            {"id": 2, "description": "Crisps", "price": {"currency": "EUR", "amount_minor": 120}},
        ],
    });
    let (status, _) =
        api(&router, "POST", "/v1/devices", enrol.to_string().into_bytes(), None).await?;
    println!("      gateway: POST /v1/devices → {status} (cola 2 500 sat; crisps 1.20 EUR)");
    let ask = serde_json::json!({"entries_per_product": 20, "expiry_days": 60});
    let (status, body) = api(
        &router,
        "POST",
        &format!("/v1/devices/{device}/pools"),
        ask.to_string().into_bytes(),
        None,
    )
    .await?;
    anyhow::ensure!(status == 201, "provisioning failed: {}", String::from_utf8_lossy(&body));
    let pool: ProvisionedPool = serde_json::from_slice(&body).context("the provisioned pool")?;
    println!(
        "      gateway: POST /v1/devices/…/pools → {status}: {} invoices signed by the merchant's node, {} bytes ({:.0} % of the BOLT 11 text)",
        pool.entries,
        pool.bytes,
        100.0 * pool.bytes as f64 / pool.bolt11_bytes as f64
    );
    let file = &pool.file;
    let (_, pool_bytes) = api(&router, "GET", file, Vec::new(), None).await?;
    println!("      the pool holds payment hashes and signatures only: reading the machine yields no money");
    let machine_dir = tempfile::tempdir()?;
    let enrolment = Enrolment { device_id: device, owner_node_id: merchant.node_id().serialize() };
    let mut machine =
        VendingMachine::enrol(machine_dir.path(), enrolment, SimulatedMotor::default())?;
    machine.install_pool(pool_bytes)?;
    println!("      machine {device}: pool installed and verified; now offline");

    let mut paid_hashes = Vec::new();
    let offer = machine.offer(1)?;
    println!("      customer presses [1] Cola: the machine shows invoice {}…", &offer.bolt11[..36]);
    let invoice = lnedge_node::parse_invoice(&offer.bolt11)?;
    let paid = payer.pay(pay_request(&invoice)).await?;
    paid_hashes.push(paid.payment_hash.0);
    let proof = hex::encode(paid.preimage.0);
    println!("      customer pays from their wallet and shows the preimage {}…", &proof[..12]);
    match machine.present(ClaimInput::Text(&proof))? {
        VendOutcome::Dispensed { product, .. } => {
            println!(
                "      machine: SHA256 matches, claim saved to flash, product {product} dispensed"
            )
        }
        other => anyhow::bail!("unexpected {other:?}"),
    }
    let again = machine.present(ClaimInput::Text(&proof)).expect_err("a replay is refused");
    println!("      the same preimage again → {again}");

    let offer = machine.offer(2)?;
    let invoice = lnedge_node::parse_invoice(&offer.bolt11)?;
    let paid = payer.pay(pay_request(&invoice)).await?;
    paid_hashes.push(paid.payment_hash.0);
    machine.dispenser_mut().jam_next(1);
    match machine.present(ClaimInput::Text(&hex::encode(paid.preimage.0)))? {
        VendOutcome::Failed { reason, voucher, voucher_text, .. } => {
            println!("      [2] Crisps paid, but {reason}: the ledger records paid-but-failed");
            println!(
                "      refund voucher QR for {} sat: {voucher_text}",
                group(voucher.amount_msat / 1000)
            );
        }
        other => anyhow::bail!("unexpected {other:?}"),
    }

    // The gateway's watcher records what the node settled, with the EUR rate of the moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for hash in &paid_hashes {
        while gateway.store().recorded_payment(hash).await?.is_none() {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "the payment was not booked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("      gateway: the node settled 2 pool invoices; recorded with the EUR rate at payment time");

    // The machine is serviced: its ledger goes up, signed with its device key.
    let batch = machine.sync_batch()?;
    let SignedUpload { body, signature } = batch.signed(&device_sync_key(&master, &device));
    let uri = format!("/v1/devices/{device}/sync");
    let (status, reply) = api(&router, "POST", &uri, body.clone(), Some(signature.clone())).await?;
    println!(
        "      machine syncs (signed): POST {uri} → {status} {}",
        String::from_utf8_lossy(&reply)
    );
    let (status, _) = api(&router, "POST", &uri, body, Some(signature)).await?;
    println!("      the same upload replayed → {status} (refused, nothing changes)");

    let (_, report) = api(&router, "GET", "/v1/reports/sales", Vec::new(), None).await?;
    let report: SalesReport = serde_json::from_slice(&report).context("the sales report")?;
    for row in &report.rows {
        println!(
            "      report: product {} {:>6} sat  {:<11} {}",
            row.product.map_or_else(|| "?".to_owned(), |p| p.to_string()),
            row.amount_msat / 1000,
            row.status,
            row.fiat.as_ref().map_or(String::new(), |f| format!("{} {}", f.amount, f.currency)),
        );
    }
    println!("      (GET /v1/reports/sales.csv exports the same books)");
    // The next steps drive the merchant's node themselves: the gateway stops here.
    gateway.shutdown().await;
    Ok(())
}
