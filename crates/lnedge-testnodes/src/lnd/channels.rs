//! LND's view of the network's channels ([`crate::channel`]): `lnrpc.Channel` as
//! `ListChannels` writes it, and `WalletBalance`. LND reports balances in whole sat; its default
//! reserve is 1 % of the capacity. Nodes without a channel between them keep paying each other
//! over an unlimited direct link (the rest of the server's tests).

use serde_json::{json, Value};

pub use crate::channel::{Channel, Wallet};

/// The channel as `ListChannels` writes it (64-bit integers as strings, balances in sat).
pub fn channel_json(c: &Channel) -> Value {
    let s = |n: u64| n.to_string();
    json!({
        "active": c.active,
        "remote_pubkey": c.remote_pubkey.to_string(),
        "channel_point": format!("{:064x}:0", c.chan_id),
        "chan_id": s(c.chan_id),
        "capacity": s(c.capacity_sat),
        "local_balance": s(c.local_msat / 1_000),
        "remote_balance": s(c.remote_msat / 1_000),
        "commit_fee": "0",
        "commit_weight": "0",
        "fee_per_kw": "253",
        "unsettled_balance": "0",
        "total_satoshis_sent": "0",
        "total_satoshis_received": "0",
        "num_updates": "0",
        "pending_htlcs": [],
        "csv_delay": 144,
        "private": true,
        "initiator": c.initiator,
        "chan_status_flags": "ChanStatusDefault",
        "local_chan_reserve_sat": s(c.local_reserve_sat),
        "remote_chan_reserve_sat": s(c.remote_reserve_sat),
        "static_remote_key": false,
        "commitment_type": "ANCHORS",
        "lifetime": "0",
        "uptime": "0",
        "close_address": "",
        "push_amount_sat": "0",
        "thaw_height": 0,
        "local_constraints": {
            "csv_delay": 144,
            "chan_reserve_sat": s(c.local_reserve_sat),
            "dust_limit_sat": "354",
            "max_pending_amt_msat": s(c.capacity_sat * 990),
            "min_htlc_msat": "1",
            "max_accepted_htlcs": 483,
        },
        "remote_constraints": {
            "csv_delay": 144,
            "chan_reserve_sat": s(c.remote_reserve_sat),
            "dust_limit_sat": "354",
            "max_pending_amt_msat": s(c.capacity_sat * 990),
            "min_htlc_msat": "1",
            "max_accepted_htlcs": 483,
        },
        "peer_alias": "",
    })
}

/// `WalletBalanceResponse`.
pub fn wallet_json(w: &Wallet) -> Value {
    let s = |n: u64| n.to_string();
    json!({
        "total_balance": s(w.confirmed_sat + w.unconfirmed_sat),
        "confirmed_balance": s(w.confirmed_sat),
        "unconfirmed_balance": s(w.unconfirmed_sat),
        "locked_balance": "0",
        "reserved_balance_anchor_chan": "0",
        "account_balance": {
            "default": {
                "confirmed_balance": s(w.confirmed_sat),
                "unconfirmed_balance": s(w.unconfirmed_sat),
            },
        },
    })
}
