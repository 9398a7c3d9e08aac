//! The deputy story: a terminal with no connection asks for 4.20 EUR, shows one LNURL, the
//! customer's node pays, the wallet decrypts the claim, the terminal checks the code offline.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use lnedge_device::claim::ClaimInput;
use lnedge_device::deputy::{DeputyTerminal, Presented, FLASH_LEN};
use lnedge_device::MemFlash;
use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::deputy::decrypt_aes_success_action;
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNode;
use lnedge_node::LightningBackend;
use lnedge_proto::deputy::{Currency, TerminalKeys};
use lnedge_proto::DeviceId;
use lnedge_wire::deputy::{DeputyKeys, DeputySales};
use lnedge_wire::lnurl::{PayCallback, PayRequest};
use serde::de::DeserializeOwned;

use super::{api, DEMO_TOKEN};
use crate::util::{group, pay_request};

const GATEWAY_URL: &str = "https://gw.example";

/// `GET url` on the gateway, its answer parsed as `T` (the body in the error when it is not one).
async fn get<T: DeserializeOwned>(router: &axum::Router, url: &str) -> Result<T> {
    let path = url.strip_prefix(GATEWAY_URL).unwrap_or(url);
    let (_, body) = api(router, "GET", path, Vec::new(), None).await?;
    serde_json::from_slice(&body).with_context(|| {
        format!("the gateway answered {path} with {}", String::from_utf8_lossy(&body))
    })
}

/// The deputy step of the demo.
pub(super) async fn deputy_story(payer: &SandboxNode, merchant: Arc<SandboxNode>) -> Result<()> {
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory()?);
    let master: [u8; 32] = rand::random();
    let gateway =
        GatewayBuilder::new(store.clone(), merchant, Arc::new(PoolKey::generate()), master)
            .rates(Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)])))
            .public_url(GATEWAY_URL)
            .build();
    let router = app(AppState::with_gateway(gateway, DEMO_TOKEN));
    let device = DeviceId(rand::random());
    store.insert_device(device, "Market stall", &[], 1_700_000_000).await?;
    let keys: DeputyKeys = get(&router, &format!("/v1/deputy/{device}/keys")).await?;
    let key = |name: &str, text: &str| -> Result<[u8; 32]> {
        hex::decode(text)?.try_into().map_err(|_| anyhow::anyhow!("{name} is not 32 bytes"))
    };
    let keys = TerminalKeys {
        device_id: device,
        seal_key: key("seal_key", &keys.seal_key)?,
        claim_key: key("claim_key", &keys.claim_key)?,
    };
    let mut terminal =
        DeputyTerminal::open(keys, GATEWAY_URL, MemFlash::from_bytes(vec![0xFF; FLASH_LEN]))?;
    println!(
        "      the terminal holds a seal key and a claim key (never a preimage key); no network"
    );

    let shown = terminal.new_sale(420, Currency::parse("EUR")?)?;
    println!(
        "      terminal: 4.20 EUR, sale {} (counter on flash first) → QR of {} chars:",
        shown.sale.counter,
        shown.lnurl.len()
    );
    println!("      {}…", &shown.lnurl[..60]);

    // The customer's wallet: LUD-06 fetch, callback, pay, LUD-10 decrypt.
    let pay: PayRequest = get(&router, &shown.url).await?;
    let amount_msat = pay.min_sendable;
    println!(
        "      wallet fetches it: pay exactly {} sat (4.20 EUR at 60 000 EUR/BTC, rate recorded)",
        group(amount_msat / 1000)
    );
    let callback = lnedge_wire::lnurl::with_param(&pay.callback, "amount", amount_msat);
    let answer: PayCallback = get(&router, &callback).await?;
    let invoice = lnedge_node::parse_invoice(&answer.pr)?;
    let outcome = payer.pay(pay_request(&invoice)).await?;
    let action = &answer.success_action;
    let text = decrypt_aes_success_action(&outcome.preimage.0, &action.ciphertext, &action.iv)
        .context("the success action does not decrypt with the preimage")?;
    let (code, claim) = text.split_once(' ').unwrap_or((&text, ""));
    println!("      payer pays; its wallet decrypts the success action with the preimage:");
    println!("        code {code}   claim {}…", &claim[..claim.len().min(24)]);

    // The terminal, still offline.
    let mut wrong: Vec<char> = code.chars().collect();
    wrong[0] = if wrong[0] == '9' { '0' } else { char::from(wrong[0] as u8 + 1) };
    let wrong: String = wrong.into_iter().collect();
    match terminal.present(ClaimInput::Keypad(&wrong))? {
        Presented::Wrong { tries_left, .. } => {
            println!(
                "      terminal, code {wrong} → refused ({tries_left} tries left, then locked)"
            )
        }
        other => bail!("a wrong code was not refused: {other:?}"),
    }
    match terminal.present(ClaimInput::Keypad(code))? {
        Presented::Paid(sale) => {
            println!("      terminal, code {code} → PAID, sale {}: deliver", sale.counter)
        }
        other => bail!("the right code was refused: {other:?}"),
    }
    let preimage_hex = hex::encode(outcome.preimage.0);
    let err =
        terminal.present(ClaimInput::Text(&preimage_hex)).expect_err("a preimage is no claim");
    println!("      the preimage the router saw, as a claim → {err}");

    let sales: DeputySales = get(&router, "/v1/deputy/sales").await?;
    let row = sales.sales.first().context("the gateway lists no deputy sale")?;
    println!(
        "      operator: sale {} {} — {} msat, {} at {} EUR/BTC",
        row.counter,
        row.status,
        row.amount_msat,
        row.fiat.as_deref().unwrap_or("?"),
        // As JSON shows it (`60000.0`).
        row.rate_per_btc.map_or_else(|| "?".to_owned(), |r| format!("{r:?}"))
    );
    Ok(())
}
