//! The demo's refund story: a jammed motor, the machine's refund QR, the customer's proof of
//! payment, an LNURL-withdraw, and the owner's node paying the customer's node back.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::refunds::RefundState;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::watcher::{Handled, PaymentWatcher};
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNode;
use lnedge_node::{InvoiceState, LightningBackend, PaymentHash};
use lnedge_proto::DeviceId;
use lnedge_wire::error::ErrorBody;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::lnurl::{StatusResponse, WithdrawRequest};
use lnedge_wire::pools::ProvisionedPool;
use lnedge_wire::refunds::OpenedRefund;
use lnedge_wire::sync::SignedUpload;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{api, DEMO_TOKEN};
use crate::util::{group, params, pay_request, random_preimage};

const PUBLIC_URL: &str = "https://gateway.example";

/// A gateway answer parsed as `T`; the body in the error when it is not one.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .with_context(|| format!("unexpected answer: {}", String::from_utf8_lossy(bytes)))
}

/// The code of a refused call's error body (`?` when the answer is not one).
fn error_code(bytes: &[u8]) -> String {
    parse::<ErrorBody>(bytes).map_or_else(|_| "?".to_owned(), |b| b.error.code)
}

/// The refund story on the demo's network: `payer` is the customer, `merchant` the owner.
pub(super) async fn story(payer: &SandboxNode, merchant: Arc<SandboxNode>) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
    let master: [u8; 32] = rand::random();
    let gateway =
        GatewayBuilder::new(store.clone(), merchant.clone(), Arc::new(PoolKey::generate()), master)
            .refund_url_base(format!("{PUBLIC_URL}/v1/refunds"))
            .public_url(PUBLIC_URL)
            .build();
    let router = app(AppState::with_gateway(gateway, DEMO_TOKEN));
    let device = DeviceId(rand::random());
    let enrol = json!({"device_id": device.to_string(), "name": "Station vending machine",
        "products": [{"id": 1, "description": "Cola 0.33 l", "price_msat": 2_500_000}]});
    api(&router, "POST", "/v1/devices", enrol.to_string().into_bytes(), None).await?;
    let ask = json!({"entries_per_product": 4, "expiry_days": 30});
    let uri = format!("/v1/devices/{device}/pools");
    let (status, reply) = api(&router, "POST", &uri, ask.to_string().into_bytes(), None).await?;
    anyhow::ensure!(status == 201, "provisioning failed: {}", String::from_utf8_lossy(&reply));
    let pool: ProvisionedPool = parse(&reply)?;
    let (_, pool_bytes) = api(&router, "GET", &pool.file, Vec::new(), None).await?;
    let machine_dir = tempfile::tempdir()?;
    let enrolment = Enrolment { device_id: device, owner_node_id: merchant.node_id().serialize() };
    let mut machine =
        VendingMachine::enrol(machine_dir.path(), enrolment, SimulatedMotor::default())?;
    machine.install_pool(pool_bytes)?;

    // The sale whose motor jams.
    let offer = machine.offer(1)?;
    let invoice = lnedge_node::parse_invoice(&offer.bolt11)?;
    let paid = payer.pay(pay_request(&invoice)).await?;
    let preimage = hex::encode(paid.preimage.0);
    machine.dispenser_mut().jam_next(1);
    let VendOutcome::Failed { reason, voucher_text, .. } =
        machine.present(ClaimInput::Text(&preimage))?
    else {
        anyhow::bail!("the motor was meant to jam");
    };
    println!("      customer paid 2 500 sat for a cola, but {reason}");
    println!(
        "      the machine shows a refund QR: {}…",
        &voucher_text[..60.min(voucher_text.len())]
    );

    let watcher = PaymentWatcher {
        store: store.clone(),
        owner: merchant.clone(),
        rates: Arc::new(lnedge_gateway::accounting::FixedRates::default()),
        accounting_currency: None,
    };
    loop {
        let q = tokio::time::timeout(Duration::from_secs(30), merchant.next_event()).await??;
        let handled = watcher.handle(&q.event).await?;
        merchant.event_handled(q.id).await?;
        if handled == Handled::Recorded {
            break;
        }
    }
    let claim = json!({"voucher": voucher_text, "invoice": offer.bolt11, "preimage": preimage});
    let (status, reply) =
        api(&router, "POST", "/v1/refunds/claim", claim.to_string().into_bytes(), None).await?;
    println!(
        "      customer proves payment before the machine synced → {status} {}",
        error_code(&reply)
    );

    let batch = machine.sync_batch()?;
    let SignedUpload { body: sync, signature } = batch.signed(&device_sync_key(&master, &device));
    api(&router, "POST", &format!("/v1/devices/{device}/sync"), sync, Some(signature)).await?;
    println!("      the machine syncs: the gateway now knows the vend failed");

    // A bystander photographed the invoice but never learnt the preimage.
    let bystander = json!({"voucher": voucher_text, "invoice": offer.bolt11, "preimage": hex::encode(random_preimage().0 .0)});
    let (status, reply) =
        api(&router, "POST", "/v1/refunds/claim", bystander.to_string().into_bytes(), None).await?;
    println!(
        "      a bystander with the invoice but a guessed preimage → {status} {}",
        error_code(&reply)
    );
    let (status, reply) =
        api(&router, "POST", "/v1/refunds/claim", claim.to_string().into_bytes(), None).await?;
    anyhow::ensure!(status == 200, "refund refused: {}", String::from_utf8_lossy(&reply));
    let opened: OpenedRefund = parse(&reply)?;
    println!(
        "      customer proves payment (invoice + preimage) → {status}: LNURL-withdraw {}…",
        opened.lnurl.get(..24).unwrap_or(&opened.lnurl)
    );

    // The customer's wallet: the LUD-03 withdraw request, then its invoice to the callback.
    let withdraw = opened.withdraw_url.trim_start_matches(PUBLIC_URL);
    let (_, reply) = api(&router, "GET", withdraw, Vec::new(), None).await?;
    let request: WithdrawRequest = parse(&reply)?;
    let amount_msat = request.max_withdrawable;
    let (preimage, _) = random_preimage();
    let wallet_invoice = payer.create_invoice(preimage, params(amount_msat, "cola refund")).await?;
    let callback = format!(
        "{}?k1={}&pr={wallet_invoice}",
        request.callback.trim_start_matches(PUBLIC_URL),
        request.k1
    );
    let (_, reply) = api(&router, "GET", &callback, Vec::new(), None).await?;
    let answer: StatusResponse = parse(&reply)?;
    println!(
        "      wallet: withdraw {} sat → \"{}\"",
        group(amount_msat / 1000),
        answer.status.as_str()
    );

    let hash: [u8; 32] = lnedge_proto::pool::payment_hash(&paid.preimage.0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.refund(&hash).await?.map(|r| r.state) != Some(RefundState::Paid) {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the refund was not paid in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received =
        match payer.invoice_state(PaymentHash(*wallet_invoice.payment_hash().as_ref())).await? {
            InvoiceState::Settled { amount_msat } => amount_msat,
            other => anyhow::bail!("the customer's invoice is {}", other.name()),
        };
    println!(
        "      the merchant's node paid the customer's node back: {} sat received",
        group(received / 1000)
    );
    let (status, reply) =
        api(&router, "POST", "/v1/refunds/claim", claim.to_string().into_bytes(), None).await?;
    println!("      the same proof again → {status} {} (paid once)", error_code(&reply));
    Ok(())
}
