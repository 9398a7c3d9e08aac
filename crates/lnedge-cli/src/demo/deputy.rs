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
use serde_json::Value;

use super::{api, DEMO_TOKEN};
use crate::util::{group, pay_request};

const GATEWAY_URL: &str = "https://gw.example";

fn json(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).context("the gateway answered something that is not JSON")
}

async fn get(router: &axum::Router, url: &str) -> Result<Value> {
    let path = url.strip_prefix(GATEWAY_URL).unwrap_or(url);
    let (_, body) = api(router, "GET", path, Vec::new(), None).await?;
    json(&body)
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
    let (_, body) =
        api(&router, "GET", &format!("/v1/deputy/{device}/keys"), Vec::new(), None).await?;
    let keys = json(&body)?;
    let key = |name: &str| -> Result<[u8; 32]> {
        let text = keys[name].as_str().with_context(|| format!("no {name}"))?;
        hex::decode(text)?.try_into().map_err(|_| anyhow::anyhow!("{name} is not 32 bytes"))
    };
    let keys = TerminalKeys {
        device_id: device,
        seal_key: key("seal_key")?,
        claim_key: key("claim_key")?,
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
    let pay = get(&router, &shown.url).await?;
    let amount_msat = pay["minSendable"].as_u64().context("no amount")?;
    println!(
        "      wallet fetches it: pay exactly {} sat (4.20 EUR at 60 000 EUR/BTC, rate recorded)",
        group(amount_msat / 1000)
    );
    let callback =
        format!("{}&amount={amount_msat}", pay["callback"].as_str().context("no callback")?);
    let answer = get(&router, &callback).await?;
    let pr = answer["pr"].as_str().with_context(|| format!("no invoice: {answer}"))?;
    let invoice = lnedge_node::parse_invoice(pr)?;
    let outcome = payer.pay(pay_request(&invoice)).await?;
    let action = &answer["successAction"];
    let text = decrypt_aes_success_action(
        &outcome.preimage.0,
        action["ciphertext"].as_str().unwrap_or_default(),
        action["iv"].as_str().unwrap_or_default(),
    )
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

    let (_, body) = api(&router, "GET", "/v1/deputy/sales", Vec::new(), None).await?;
    let sales = json(&body)?;
    let row = &sales["sales"][0];
    println!(
        "      operator: sale {} {} — {} msat, {} at {} EUR/BTC",
        row["counter"],
        row["status"].as_str().unwrap_or("?"),
        row["amount_msat"],
        row["fiat"].as_str().unwrap_or("?"),
        row["rate_per_btc"]
    );
    Ok(())
}
