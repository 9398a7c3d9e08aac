//! `lnedge card …`: the operator's Bolt Cards on a running gateway (issue #14): issue one (its
//! programming JSON, or the programmer app's deeplink, as text and a terminal QR code), list
//! them, disable / enable one, change its limits, wipe it.
//!
//! Every command is one call of the gateway's admin API (`crates/lnedge-gateway/src/api/payers.rs`)
//! with the admin token; the answers are the `lnedge_wire::payers` types. A refusal is printed
//! with the gateway's error code and message, and the command exits non-zero.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use lnedge_wire::payers::{
    IssueCard, IssuedCard, Payer, PayerList, PayerPayments, SetEnabled, SetLimits, WipedCard,
};

use crate::device::draw_qr;
use crate::http::AdminClient;
use crate::util::{msat_from, now_secs, sat};

/// `lnedge card …`
#[derive(Debug, Subcommand)]
pub(crate) enum CardCommand {
    /// Issue a card: with --uid it is programmed at once (prints the programming JSON);
    /// without, it waits for the Bolt Card programmer app (prints the deeplink).
    Issue(IssueArgs),
    /// List the cards: id, name, state, UID, counter, limits, spent today.
    List(ListArgs),
    /// Disable a card: its taps are refused until it is enabled again.
    Disable(IdArgs),
    /// Enable a card again (this also unlocks a card locked by wrong PINs).
    Enable(IdArgs),
    /// Set a card's limits (per payment and per day).
    Limits(LimitsArgs),
    /// Wipe a card: it never pays again; prints the wipe JSON (and its QR) the programmer app
    /// resets the chip with.
    Wipe(WipeArgs),
    /// Payments made for cards and payer devices (newest last): state, amount, fee, counter.
    Payments(PaymentsArgs),
}

/// Options of `lnedge card payments`.
#[derive(Debug, Args)]
pub(crate) struct PaymentsArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Only this card's (or payer device's) payments.
    #[arg(long)]
    payer: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
    /// Print the gateway's answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// The limits of a new card or payer device, in sat or msat; the gateway's defaults for those
/// not given.
#[derive(Debug, Args)]
pub(crate) struct NewLimits {
    /// Per-payment limit in sat (the gateway's default when absent).
    #[arg(long, conflicts_with = "per_payment_msat")]
    per_payment_sat: Option<u64>,
    /// Per-payment limit in msat.
    #[arg(long)]
    per_payment_msat: Option<u64>,
    /// Daily limit in sat (the gateway's default when absent).
    #[arg(long, conflicts_with = "per_day_msat")]
    per_day_sat: Option<u64>,
    /// Daily limit in msat.
    #[arg(long)]
    per_day_msat: Option<u64>,
}

impl NewLimits {
    /// (per payment, per day) in msat, each `None` when not given.
    pub(crate) fn msat(&self) -> Result<(Option<u64>, Option<u64>)> {
        Ok((
            msat_from(self.per_payment_sat, self.per_payment_msat, "per-payment")?,
            msat_from(self.per_day_sat, self.per_day_msat, "per-day")?,
        ))
    }
}

/// Where the gateway is and the operator's admin token.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    /// The gateway's base URL (`http://127.0.0.1:18080`).
    #[arg(long, env = "LNEDGE_GATEWAY_URL")]
    pub(crate) gateway: String,
    /// The gateway's admin token (prefer LNEDGE_ADMIN_TOKEN: flags show in `ps`).
    #[arg(long, env = "LNEDGE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
}

impl GatewayArgs {
    pub(crate) fn client(&self) -> AdminClient {
        AdminClient::new(&self.gateway, &self.admin_token)
    }
}

/// Options of `lnedge card issue`.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The operator's name for the card (`Alice`, `Festival card 17`).
    #[arg(long)]
    name: String,
    #[command(flatten)]
    limits: NewLimits,
    /// A PIN of 4 to 8 digits the wallet or point of sale asks for (prefer LNEDGE_CARD_PIN).
    #[arg(long, env = "LNEDGE_CARD_PIN", hide_env_values = true)]
    pin: Option<String>,
    /// Ask the PIN from this amount (sat) up; every payment when absent.
    #[arg(long, requires = "pin", conflicts_with = "pin_limit_msat")]
    pin_limit_sat: Option<u64>,
    /// Ask the PIN from this amount (msat) up.
    #[arg(long, requires = "pin")]
    pin_limit_msat: Option<u64>,
    /// The card's UID (14 hex digits), when known: the card is programmed at once.
    #[arg(long)]
    uid: Option<String>,
    /// Don't draw the QR code.
    #[arg(long)]
    no_qr: bool,
    /// Print the gateway's answer as JSON instead.
    #[arg(long)]
    json: bool,
}

/// Options of `lnedge card list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Print the gateway's answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A card named by its id.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The card's id (32 hex characters, as `lnedge card list` shows it).
    id: String,
}

/// Options of `lnedge card limits`.
#[derive(Debug, Args)]
pub(crate) struct LimitsArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The card's id.
    id: String,
    /// Per-payment limit in sat.
    #[arg(long, conflicts_with = "per_payment_msat", required_unless_present = "per_payment_msat")]
    per_payment_sat: Option<u64>,
    /// Per-payment limit in msat.
    #[arg(long)]
    per_payment_msat: Option<u64>,
    /// Daily limit in sat.
    #[arg(long, conflicts_with = "per_day_msat", required_unless_present = "per_day_msat")]
    per_day_sat: Option<u64>,
    /// Daily limit in msat.
    #[arg(long)]
    per_day_msat: Option<u64>,
}

/// Options of `lnedge card wipe`.
#[derive(Debug, Args)]
pub(crate) struct WipeArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The card's id.
    id: String,
    /// Don't draw the QR code.
    #[arg(long)]
    no_qr: bool,
}

/// Runs `lnedge card …`.
pub(crate) async fn run(command: CardCommand) -> Result<()> {
    match command {
        CardCommand::Issue(args) => issue(args).await,
        CardCommand::List(args) => list(args).await,
        CardCommand::Disable(args) => set_enabled(args, false).await,
        CardCommand::Enable(args) => set_enabled(args, true).await,
        CardCommand::Limits(args) => limits(args).await,
        CardCommand::Wipe(args) => wipe(args).await,
        CardCommand::Payments(args) => payments(args).await,
    }
}

async fn payments(args: PaymentsArgs) -> Result<()> {
    let mut path = format!("/v1/payers/payments?limit={}", args.limit);
    if let Some(payer) = &args.payer {
        path.push_str(&format!("&payer={}", card_id(payer)?));
    }
    let list: PayerPayments = args.gateway.client().get(&path).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!(
        "{:<32}  {:<6}  {:>7}  {:<7}  {:>12}  {:>10}  payment hash",
        "payer", "kind", "counter", "state", "amount", "fee"
    );
    for p in &list.payments {
        println!(
            "{:<32}  {:<6}  {:>7}  {:<7}  {:>12}  {:>10}  {}",
            p.payer_id,
            p.kind,
            p.counter,
            p.state,
            format!("{} sat", sat(p.amount_msat)),
            p.fee_msat.map_or_else(|| "-".to_owned(), |f| format!("{f} msat")),
            p.payment_hash
        );
    }
    println!("{} payment(s)", list.payments.len());
    Ok(())
}

/// A card id as the gateway's routes take it: 32 hex characters (checked here so a typo is
/// named before anything is sent).
pub(crate) fn card_id(text: &str) -> Result<&str> {
    let id = text.trim();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{id:?} is not a card id (32 hex characters, as `lnedge card list` shows it)");
    }
    Ok(id)
}

/// `per payment / per day` limits, and the PIN rule, in words.
fn limits_text(p: &Payer) -> String {
    let mut text =
        format!("{} sat per payment, {} sat per day", sat(p.per_payment_msat), sat(p.per_day_msat));
    if p.has_pin {
        match p.pin_limit_msat {
            Some(limit) if limit > 0 => {
                text.push_str(&format!("; PIN asked from {} sat", sat(limit)))
            }
            _ => text.push_str("; PIN asked for every payment"),
        }
    }
    text
}

/// Prints `text` as a QR code unless `no_qr`.
fn print_qr(text: &str, no_qr: bool) -> Result<()> {
    if !no_qr {
        let qr = draw_qr(text).map_err(|e| anyhow::anyhow!("drawing the QR code: {e}"))?;
        println!("{qr}");
    }
    Ok(())
}

async fn issue(args: IssueArgs) -> Result<()> {
    let (per_payment_msat, per_day_msat) = args.limits.msat()?;
    let request = IssueCard {
        name: args.name.clone(),
        per_payment_msat,
        per_day_msat,
        pin: args.pin.clone(),
        pin_limit_msat: msat_from(args.pin_limit_sat, args.pin_limit_msat, "pin-limit")?,
        uid: args.uid.clone(),
    };
    let issued: IssuedCard =
        args.gateway.client().send("POST", "/v1/cards", Some(&request)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&issued)?);
        return Ok(());
    }
    let card = &issued.card;
    println!("card {} \"{}\" issued: {}", card.id, card.name, card.state);
    println!("  limits {}", limits_text(card));
    match &issued.programming {
        Some(programming) => {
            let json = serde_json::to_string(programming)?;
            println!("  UID {}: programmed at once", card.uid.as_deref().unwrap_or("?"));
            println!(
                "programming JSON (the Bolt Card programmer app scans it, then writes the card):"
            );
            println!("{json}");
            print_qr(&json, args.no_qr)?;
        }
        None => {
            let left = issued.program_expires_at.saturating_sub(now_secs());
            println!(
                "  pending until programmed: the link works for {} (until unix {})",
                duration_text(left),
                issued.program_expires_at
            );
            println!("program URL {}", issued.program_url);
            println!("deeplink    {}", issued.deeplink);
            println!(
                "open the deeplink on the phone with the Bolt Card programmer app (or scan the QR), then hold the blank card to it:"
            );
            print_qr(&issued.deeplink, args.no_qr)?;
        }
    }
    Ok(())
}

/// `secs` for reading: `24 h`, `1 h 30 min`, `5 min`, `42 s`.
fn duration_text(secs: u64) -> String {
    match (secs / 3600, secs % 3600 / 60) {
        (0, 0) => format!("{secs} s"),
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

/// `text`, cut to `width` characters (an ellipsis marks the cut).
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The cards as a table.
pub(crate) fn table(cards: &[Payer]) -> String {
    let mut out = format!(
        "{:<32}  {:<20}  {:<8}  {:<14}  {:>7}  {:>12}  {:>12}  {:>12}\n",
        "id", "name", "state", "uid", "counter", "per payment", "per day", "spent today"
    );
    for c in cards {
        out.push_str(&format!(
            "{:<32}  {:<20}  {:<8}  {:<14}  {:>7}  {:>12}  {:>12}  {:>12}\n",
            c.id,
            fit(&c.name, 20),
            c.state,
            c.uid.as_deref().unwrap_or("-"),
            c.counter.map_or_else(|| "-".to_owned(), |n| n.to_string()),
            format!("{} sat", sat(c.per_payment_msat)),
            format!("{} sat", sat(c.per_day_msat)),
            format!("{} sat", sat(c.spent_today_msat)),
        ));
    }
    out
}

async fn list(args: ListArgs) -> Result<()> {
    let list: PayerList = args.gateway.client().get("/v1/cards").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.payers.is_empty() {
        println!("no cards yet: `lnedge card issue --name …` issues one");
        return Ok(());
    }
    print!("{}", table(&list.payers));
    println!("{} card(s)", list.payers.len());
    Ok(())
}

async fn set_enabled(args: IdArgs, enabled: bool) -> Result<()> {
    let id = card_id(&args.id)?;
    let path = format!("/v1/payers/{id}/enabled");
    let card: Payer =
        args.gateway.client().send("POST", &path, Some(&SetEnabled { enabled })).await?;
    println!("card {} \"{}\": {}", card.id, card.name, card.state);
    Ok(())
}

async fn limits(args: LimitsArgs) -> Result<()> {
    let id = card_id(&args.id)?;
    let per_payment = msat_from(args.per_payment_sat, args.per_payment_msat, "per-payment")?;
    let per_day = msat_from(args.per_day_sat, args.per_day_msat, "per-day")?;
    let (Some(per_payment_msat), Some(per_day_msat)) = (per_payment, per_day) else {
        bail!("give both limits: --per-payment-sat (or -msat) and --per-day-sat (or -msat)");
    };
    let path = format!("/v1/payers/{id}/limits");
    let body = SetLimits { per_payment_msat, per_day_msat };
    let card: Payer = args.gateway.client().send("PUT", &path, Some(&body)).await?;
    println!("card {} \"{}\": {}", card.id, card.name, limits_text(&card));
    Ok(())
}

async fn wipe(args: WipeArgs) -> Result<()> {
    let id = card_id(&args.id)?;
    let path = format!("/v1/cards/{id}/wipe");
    let wiped: WipedCard =
        args.gateway.client().send("POST", &path, Some(&serde_json::json!({}))).await?;
    println!(
        "card {} \"{}\": {}; it never pays again",
        wiped.card.id, wiped.card.name, wiped.card.state
    );
    match &wiped.wipe {
        Some(wipe) => {
            let json = serde_json::to_string(wipe)?;
            println!("wipe JSON (the Bolt Card programmer app scans it to reset the chip):");
            println!("{json}");
            print_qr(&json, args.no_qr)?;
            if let Some(link) = &wiped.reset_deeplink {
                println!("or, on the phone: reset deeplink (one use, with the card) {link}");
            }
        }
        None => println!("the card was never programmed: there is nothing to reset on the chip"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payer(name: &str) -> Payer {
        Payer {
            id: "00112233445566778899aabbccddeeff".into(),
            kind: "card".into(),
            name: name.into(),
            state: "active".into(),
            uid: Some("04996c6a926980".into()),
            key_version: 1,
            counter: Some(3),
            per_payment_msat: 50_000_000,
            per_day_msat: 100_000_500,
            spent_today_msat: 12_000_000,
            has_pin: true,
            pin_limit_msat: Some(20_000_000),
            created_at: 1_700_000_000,
        }
    }

    #[test]
    fn the_table_lines_up_and_long_names_are_cut() {
        let text = table(&[payer("Alice"), payer("A name far too long for the column")]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].contains("Alice"), "{text}");
        assert!(lines[1].contains("04996c6a926980"), "{text}");
        assert!(lines[1].contains("100 000.500 sat"), "{text}");
        assert!(lines[2].contains("A name far too long…"), "{text}");
        assert_eq!(lines[1].chars().count(), lines[2].chars().count(), "{text}");
    }

    #[test]
    fn limits_and_ids_read_well() {
        assert_eq!(
            limits_text(&payer("x")),
            "50 000 sat per payment, 100 000.500 sat per day; PIN asked from 20 000 sat"
        );
        let mut every = payer("x");
        every.pin_limit_msat = Some(0);
        assert!(limits_text(&every).ends_with("; PIN asked for every payment"));
        assert_eq!(
            [duration_text(86_400), duration_text(5_400), duration_text(300), duration_text(42)],
            ["24 h", "1 h 30 min", "5 min", "42 s"]
        );
        assert!(card_id("0011").is_err());
        assert!(card_id("zz112233445566778899aabbccddeeff").is_err());
        assert_eq!(
            card_id(" 00112233445566778899aabbccddeeff").ok(),
            Some("00112233445566778899aabbccddeeff")
        );
    }
}
