//! `lnedge demo`: the story, told on the sandbox network.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use lnedge_gateway::provision::{provision, PoolKey, PoolPlan, Product};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{BackendEvent, LightningBackend, PaymentHash};
use lnedge_proto::{DeviceId, PoolId};

use crate::util::{group, params, pay_request, random_preimage, short_hex};

/// Options of `lnedge demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Capacity of each channel, in satoshis.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(100_000..=16_777_215))]
    channel_sat: u64,
}

fn step(n: u32, total: u32, text: &str) {
    println!("\n[{n}/{total}] {text}");
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
    const STEPS: u32 = 7;
    println!("lnedge demo: a Lightning network in this process (the sandbox)");
    println!("  real LDK nodes speaking the Lightning protocol over 127.0.0.1, a simulated chain;");
    println!("  nothing to install, nothing left behind.");

    step(1, STEPS, "Starting three nodes and opening announced channels payer → router → merchant");
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

    step(2, STEPS, "The merchant asks 25 000 sat for a coffee; the payer pays over two hops");
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

    step(
        3,
        STEPS,
        "A locker takes a deposit with a HOLD invoice: the money waits for its decision",
    );
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

    step(
        4,
        STEPS,
        "Another hold: the locker jams, so the merchant CANCELS and the money goes back",
    );
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

    step(
        5,
        STEPS,
        "A vending machine with NO secret keys sells offline from a pool of pre-signed invoices",
    );
    vending_story(&payer, &merchant).await?;

    step(6, STEPS, "The merchant restarts; its durable state comes back with it");
    let merchant = net.restart("merchant").await?;
    let state = merchant.invoice_state(hash).await?;
    println!("      after restart, locker 8's invoice is still {}", state.name());
    let (preimage, _) = random_preimage();
    let invoice = merchant.create_invoice(preimage, params(1_000_000, "after restart")).await?;
    payer.pay(pay_request(&invoice)).await?;
    println!("      and a new 1 000 sat payment goes through");

    step(7, STEPS, "Bad input gets a clear, typed error (and nothing breaks)");
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

/// Step 5: the operator provisions a pool on the merchant's node; the machine sells offline.
async fn vending_story(payer: &SandboxNode, merchant: &SandboxNode) -> Result<()> {
    let device = DeviceId(rand::random());
    let key = PoolKey::generate();
    let plan = PoolPlan {
        device_id: device,
        pool_id: PoolId(rand::random()),
        products: vec![
            Product {
                id: 1,
                description: "Cola 0.33 l".into(),
                price_msat: 2_500_000,
                first_seq: 0,
            },
            Product { id: 2, description: "Crisps".into(), price_msat: 1_800_000, first_seq: 0 },
        ],
        entries_per_product: 20,
        expiry_secs: 60 * 86_400,
        refund_url_base: "https://gateway.example/refund".into(),
    };
    let pool = provision(merchant, &key, &plan, |_, _| {}).await?;
    println!(
        "      operator: {} invoices signed by the merchant's node, pool file {} bytes ({:.0} % of the BOLT 11 text)",
        pool.entries,
        group(pool.bytes.len() as u64),
        100.0 * pool.bytes.len() as f64 / pool.bolt11_bytes as f64
    );
    println!("      the pool holds payment hashes and signatures only: reading the machine yields no money");
    let dir = tempfile::tempdir()?;
    let enrolment = Enrolment { device_id: device, owner_node_id: pool.owner_node_id };
    let mut machine = VendingMachine::enrol(dir.path(), enrolment, SimulatedMotor::default())?;
    machine.install_pool(pool.bytes)?;
    println!("      machine {device}: pool installed and verified; now offline");

    let offer = machine.offer(1)?;
    println!("      customer presses [1] Cola: the machine shows invoice {}…", &offer.bolt11[..36]);
    let invoice = lnedge_node::parse_invoice(&offer.bolt11)?;
    let paid = payer.pay(pay_request(&invoice)).await?;
    let proof = hex::encode(paid.preimage.0);
    println!("      customer pays from their wallet and shows the preimage {}…", &proof[..12]);
    match machine.present(ClaimInput::Text(&proof))? {
        VendOutcome::Dispensed { product, .. } => println!(
            "      machine: SHA256 matches, claim saved to flash, product {product} dispensed"
        ),
        other => anyhow::bail!("unexpected {other:?}"),
    }
    let again = machine.present(ClaimInput::Text(&proof)).expect_err("a replay is refused");
    println!("      the same preimage again → {again}");

    let offer = machine.offer(2)?;
    let invoice = lnedge_node::parse_invoice(&offer.bolt11)?;
    let paid = payer.pay(pay_request(&invoice)).await?;
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
    let c = machine.counts()?;
    println!(
        "      ledger: {} dispensed, {} failed (refund due), {} never offered",
        c.dispensed, c.failed, c.unused
    );
    Ok(())
}
