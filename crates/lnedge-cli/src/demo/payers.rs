//! Devices that pay (issue #14) in the demo: the operator's gateway, on the payer's node, spends
//! for a Bolt Card tapped at a point of sale and for an offline car unit's token at a parking
//! meter; the merchant two hops away is paid each time, and a replay is refused each time.

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
use lnedge_node::sandbox::SandboxNode;
use lnedge_node::{InvoiceState, LightningBackend, PaymentHash};
use lnedge_proto::envelope::{ndef, Envelope};
use lnedge_proto::payer::PayerKey;
use lnedge_proto::DeviceId;
use lnedge_wire::error::ErrorBody;
use lnedge_wire::lnurl::{Status, StatusResponse, WithdrawRequest};
use lnedge_wire::payers::{
    EnrolDevice, EnrolledDevice, IssueCard, IssuedCard, PayToken, PayerList, PayerPayment,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::api;
use crate::util::{group, now_secs, params, random_preimage, sat};

const GATEWAY_URL: &str = "https://gw.example";

/// The operator's gateway on the payer's node, for both stories.
pub(super) struct PayerGateway {
    router: axum::Router,
}

/// A gateway answer parsed as `T`; the body in the error when it is not one.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .with_context(|| format!("unexpected answer: {}", String::from_utf8_lossy(bytes)))
}

/// The code of a refused call's error body (`?` when the answer is not one).
fn error_code(bytes: &[u8]) -> String {
    parse::<ErrorBody>(bytes).map_or_else(|_| "?".to_owned(), |b| b.error.code)
}

/// What `node` received for the invoice with `hash`, once it is settled (30 s at most).
async fn received(node: &SandboxNode, hash: PaymentHash) -> Result<u64> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match node.invoice_state(hash).await? {
            InvoiceState::Settled { amount_msat } => return Ok(amount_msat),
            other if tokio::time::Instant::now() > deadline => {
                bail!("the merchant's invoice is still {} after 30 s", other.name())
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// The first 8 characters of an id.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

impl PayerGateway {
    /// A gateway whose node is `payer` (the operator's node, which spends for cards and
    /// devices), its public URL `https://gw.example`.
    pub(super) fn start(payer: Arc<SandboxNode>) -> Result<Self> {
        let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory()?);
        let gateway =
            GatewayBuilder::new(store, payer, Arc::new(PoolKey::generate()), rand::random())
                .public_url(GATEWAY_URL)
                .build();
        Ok(PayerGateway { router: app(AppState::with_gateway(gateway, super::DEMO_TOKEN)) })
    }

    /// `method path` with `body` as JSON: the status and the body.
    async fn call(&self, method: &str, path: &str, body: impl Serialize) -> Result<(u16, Vec<u8>)> {
        api(&self.router, method, path, serde_json::to_vec(&body)?, None).await
    }

    /// `GET url` (the gateway's public URL stripped): the body.
    async fn get(&self, url: &str) -> Result<Vec<u8>> {
        let path = url.strip_prefix(GATEWAY_URL).unwrap_or(url);
        Ok(api(&self.router, "GET", path, Vec::new(), None).await?.1)
    }

    /// The Bolt Card step: issued, tapped at the merchant's point of sale, paid; the same tap
    /// replayed is refused.
    pub(super) async fn card_story(&self, merchant: &SandboxNode) -> Result<()> {
        let uid = hex::encode(rand::random::<[u8; 7]>());
        let issue = IssueCard {
            name: "Alice's card".into(),
            per_payment_msat: Some(50_000_000),
            per_day_msat: Some(100_000_000),
            uid: Some(uid.clone()),
            ..Default::default()
        };
        let (status, body) = self.call("POST", "/v1/cards", &issue).await?;
        anyhow::ensure!(status == 201, "issuing failed: {}", String::from_utf8_lossy(&body));
        let issued: IssuedCard = parse(&body)?;
        let programming = issued.programming.context("a card with a UID comes programmed")?;
        println!(
            "      gateway: POST /v1/cards → {status}: card {}…, 50 000 sat per payment, 100 000 sat a day",
            short(&issued.card.id)
        );
        println!(
            "      the programmer app writes the keys and {} to the chip (UID {uid})",
            programming.lnurlw_base
        );
        let mut card = SimulatedCard::programmed(
            &uid,
            &programming.keys.k1,
            &programming.keys.k2,
            &programming.lnurlw_base,
        )?;

        let (preimage, hash) = random_preimage();
        let invoice = merchant.create_invoice(preimage, params(12_000_000, "lunch")).await?;
        println!(
            "      the merchant's point of sale asks 12 000 sat for lunch; Alice taps her card"
        );
        let url = card.tap()?;
        let query = url.split_once('?').map(|(_, q)| q).context("the card's URL has no p and c")?;
        println!("      the card reads {}…", &url[..url.len().min(60)]);
        let t = Instant::now();
        let request: WithdrawRequest = parse(&self.get(&format!("/v1/card?{query}")).await?)?;
        println!(
            "      point of sale: GET /v1/card?p&c → withdrawRequest up to {} sat (SUN checked, counter {} stored)",
            group(request.max_withdrawable / 1000),
            card.counter()
        );
        let callback = format!("{}?k1={}&pr={invoice}", request.callback, request.k1);
        let answer: StatusResponse = parse(&self.get(&callback).await?)?;
        if answer.status != Status::Ok {
            bail!("the card's payment was refused: {answer:?}");
        }
        println!(
            "      point of sale: callback with its invoice → \"OK\" after {:.1} ms: the gateway's node paid over two hops",
            t.elapsed().as_secs_f64() * 1000.0
        );
        println!("      the merchant's node received {} sat", sat(received(merchant, hash).await?));

        let replayed: StatusResponse = parse(&self.get(&format!("/v1/card?{query}")).await?)?;
        println!(
            "      the same tap (same p and c) replayed → refused: {}",
            replayed.code.as_deref().unwrap_or("?")
        );
        if replayed.status == Status::Ok {
            bail!("a replayed tap was accepted");
        }
        let cards: PayerList = parse(&self.get("/v1/cards").await?)?;
        let row = cards.payers.first().context("the gateway lists no card")?;
        println!(
            "      operator: card {}… {}, counter {}, {} sat spent today",
            short(&row.id),
            row.state,
            row.counter.unwrap_or(0),
            sat(row.spent_today_msat)
        );
        Ok(())
    }

    /// The payer device step: an offline car unit signs the parking meter's invoice; the meter
    /// hands token + invoice to the gateway, which pays; the token with another invoice is
    /// refused.
    pub(super) async fn token_story(&self, merchant: &SandboxNode) -> Result<()> {
        let enrol = EnrolDevice {
            name: "Car unit".into(),
            per_payment_msat: Some(20_000_000),
            per_day_msat: Some(50_000_000),
            ..Default::default()
        };
        let (status, body) = self.call("POST", "/v1/payer-devices", &enrol).await?;
        anyhow::ensure!(status == 201, "enrolling failed: {}", String::from_utf8_lossy(&body));
        let enrolled: EnrolledDevice = parse(&body)?;
        let id: [u8; 16] = hex::decode(&enrolled.device.id)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the device id is not 16 bytes"))?;
        let key: [u8; 32] = hex::decode(&enrolled.token_key)?
            .try_into()
            .map_err(|_| anyhow::anyhow!("the token key is not 32 bytes"))?;
        let limits = PayerLimits { max_per_payment_msat: 20_000_000, budget_msat: 200_000_000 };
        let flash = MemFlash::from_bytes(vec![0xFF; FLASH_LEN]);
        let mut car = PayerDevice::open(DeviceId(id), PayerKey(key), limits, flash)?;
        println!(
            "      gateway: POST /v1/payer-devices → {status}: the car unit gets its token key once; it has no connection"
        );

        let (preimage, hash) = random_preimage();
        let meter = merchant.create_invoice(preimage, params(3_000_000, "parking, 2 h")).await?;
        let text = meter.to_string();
        println!("      the parking meter shows an invoice for 3 000 sat: {}…", &text[..40]);
        let payee = meter.recover_payee_pub_key().serialize();
        let token = car.authorize(hash.0, 3_000_000, payee, now_secs() + 600)?;
        let envelope = Envelope::PayerToken(token);
        let token_text = envelope.to_text()?;
        let nfc = ndef::Message::from_envelope(envelope).to_vec()?;
        println!(
            "      the car signs exactly that invoice: token {} (counter on flash first), {} chars of QR text or {} bytes of NFC",
            token.authorization.counter,
            token_text.len(),
            nfc.len()
        );
        println!("        {}…", &token_text[..48]);
        let pay = PayToken { token: token_text.clone(), invoice: text.clone() };
        let t = Instant::now();
        let (status, body) = self.call("POST", "/v1/pay/token", &pay).await?;
        anyhow::ensure!(status == 200, "the token was refused: {}", String::from_utf8_lossy(&body));
        let paid: PayerPayment = parse(&body)?;
        println!(
            "      meter: POST /v1/pay/token → {status} {} in {:.1} ms; the merchant's node received {} sat",
            paid.state,
            t.elapsed().as_secs_f64() * 1000.0,
            sat(received(merchant, hash).await?)
        );
        car.receipt(token.authorization.counter, &preimage.0)?;
        println!("      the meter hands back the preimage: the car records the receipt");

        let (other_preimage, _) = random_preimage();
        let other =
            merchant.create_invoice(other_preimage, params(3_000_000, "parking, bay 9")).await?;
        let stolen = PayToken { token: token_text, invoice: other.to_string() };
        let (status, body) = self.call("POST", "/v1/pay/token", &stolen).await?;
        if status == 200 {
            bail!("a token paid an invoice it does not name");
        }
        println!(
            "      the same token shown with another invoice → {status} {}",
            error_code(&body)
        );
        let (status, body) = self.call("POST", "/v1/pay/token", &pay).await?;
        println!(
            "      and with its own invoice again → {status} {} (paid once)",
            error_code(&body)
        );
        Ok(())
    }
}
