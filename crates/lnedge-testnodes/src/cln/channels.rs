//! Core Lightning's view of the network's channels ([`crate::channel`]): `listpeerchannels`
//! and `listfunds`, with the fields of CLN's schemas (amounts as integer msat; a reserve of 1 %
//! of the capacity, CLN's default). A channel's `state` is `CHANNELD_NORMAL`; the peer's
//! connection follows [`ClnNetwork::set_channel_active`](super::ClnNetwork::set_channel_active).

use serde_json::{json, Value};

use crate::channel::{Channel, Wallet};

/// The short channel id of a channel (block `chan_id >> 40`, transaction and output 0… kept
/// unique by the low bits).
fn scid(c: &Channel) -> String {
    format!("{}x{}x0", c.chan_id >> 40, c.chan_id & 0xff_ffff)
}

/// A 32-byte id for the channel (`channel_id`), and its funding transaction id.
fn channel_id(c: &Channel) -> String {
    format!("{:064x}", c.chan_id)
}

/// One entry of `listpeerchannels`.
pub(crate) fn peer_channel_json(c: &Channel) -> Value {
    json!({
        "peer_id": c.remote_pubkey.to_string(),
        "peer_connected": c.active,
        "reestablished": c.active,
        "state": "CHANNELD_NORMAL",
        "opener": if c.initiator { "local" } else { "remote" },
        "features": ["option_static_remotekey", "option_anchors"],
        "private": true,
        "short_channel_id": scid(c),
        "channel_id": channel_id(c),
        "funding_txid": channel_id(c),
        "funding_outnum": 0,
        "to_us_msat": c.local_msat,
        "min_to_us_msat": c.local_msat,
        "max_to_us_msat": c.local_msat,
        "total_msat": c.capacity_sat * 1_000,
        "our_reserve_msat": c.local_reserve_sat * 1_000,
        "their_reserve_msat": c.remote_reserve_sat * 1_000,
        "spendable_msat": if c.active { c.spendable_msat() } else { 0 },
        "receivable_msat": if c.active { c.receivable_msat() } else { 0 },
        "htlcs": [],
    })
}

/// `listfunds`: the wallet's outputs (one confirmed, one unconfirmed, when non-zero) and the
/// channels.
pub(crate) fn listfunds_json(channels: &[Channel], wallet: &Wallet) -> Value {
    let outputs: Vec<Value> =
        [(wallet.confirmed_sat, "confirmed"), (wallet.unconfirmed_sat, "unconfirmed")]
            .into_iter()
            .enumerate()
            .filter(|(_, (sat, _))| *sat > 0)
            .map(|(i, (sat, status))| {
                json!({
                    "txid": format!("{:064x}", i + 1),
                    "output": i,
                    "amount_msat": sat * 1_000,
                    "scriptpubkey": "0014".to_owned() + &"11".repeat(20),
                    "status": status,
                    "reserved": false,
                })
            })
            .collect();
    let channels: Vec<Value> = channels
        .iter()
        .map(|c| {
            json!({
                "peer_id": c.remote_pubkey.to_string(),
                "connected": c.active,
                "state": "CHANNELD_NORMAL",
                "short_channel_id": scid(c),
                "channel_id": channel_id(c),
                "funding_txid": channel_id(c),
                "funding_output": 0,
                "our_amount_msat": c.local_msat,
                "amount_msat": c.capacity_sat * 1_000,
            })
        })
        .collect();
    json!({ "outputs": outputs, "channels": channels })
}
