//! The threshold device wallet's routes on a gateway in sandbox mode (`/v1/sandbox/cosigned…`,
//! admin): enrol a device (its joint key made over its device link), fund it on the sandbox
//! chain, open its co-signed channel, list them (`docs/wallet.md`).
//!
//! | route | body → answer |
//! | --- | --- |
//! | `POST /v1/sandbox/cosigned` | [`EnrolBody`] → [`CosignedWallet`] (201) |
//! | `GET /v1/sandbox/cosigned` | → [`CosignedList`] |
//! | `POST /v1/sandbox/cosigned/{id}/channel` | [`OpenBody`] → [`CosignedWallet`] |
//! | `POST /v1/sandbox/deposit` | [`DepositBody`] → [`Deposited`] |

use serde::{Deserialize, Serialize};

/// Path of the enrol (`POST`) and list (`GET`) routes.
pub const WALLETS_PATH: &str = "/v1/sandbox/cosigned";
/// Path of the route that opens a device's co-signed channel.
pub const CHANNEL_PATH: &str = "/v1/sandbox/cosigned/{id}/channel";
/// Path of the sandbox chain's faucet.
pub const DEPOSIT_PATH: &str = "/v1/sandbox/deposit";

/// `POST /v1/sandbox/cosigned`: the device to enrol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolBody {
    /// Where the device listens for its gateway (`host:port`, as `lnedge device simulate
    /// --mode wallet` prints it).
    pub device: String,
}

/// `POST /v1/sandbox/cosigned/{id}/channel`: the channel to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenBody {
    /// The channel's capacity, funded by the device from its own coins.
    pub capacity_sat: u64,
}

/// `POST /v1/sandbox/deposit`: pay coins on the sandbox chain (as an exchange would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositBody {
    /// The output script to pay, hex (a wallet device's `deposit-script`).
    pub script: String,
    /// How much.
    pub amount_sat: u64,
}

/// The mined output of a deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposited {
    /// `txid:vout`.
    pub outpoint: String,
    /// What it holds.
    pub amount_sat: u64,
}

/// A device's co-signed channel, once opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignedChannel {
    /// LDK's channel id, hex.
    pub channel_id: String,
    /// The gateway's node for this device (the channel's local end).
    pub node_id: String,
    /// The bridge: the owner's node (the channel's remote end, an unmodified LDK node).
    pub bridge_node_id: String,
    /// The channel's capacity.
    pub capacity_sat: u64,
    /// What the gateway's side can send now (the device's balance less the reserve), in msat.
    pub outbound_msat: u64,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignedWallet {
    /// The gateway's number for it.
    pub id: u32,
    /// Where the device listens.
    pub device: String,
    /// The joint funding key (hex, compressed).
    pub joint_key: String,
    /// Its channel, once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<CosignedChannel>,
    /// Joint signatures made with the device so far.
    pub signatures: u64,
    /// Bytes the device link carried so far (both directions).
    pub link_bytes: u64,
}

/// `GET /v1/sandbox/cosigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CosignedList {
    /// Where devices send their own payments (`--gateway` of `lnedge device simulate --mode
    /// wallet`).
    pub payment_service: String,
    /// The enrolled devices, by id.
    pub wallets: Vec<CosignedWallet>,
}
