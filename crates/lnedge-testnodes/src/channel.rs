//! Channels between the nodes of one test network and the nodes' on-chain wallets, shared by
//! the LND and Core Lightning servers (each writes them in its daemon's own JSON).
//!
//! A channel carries the payments between its two nodes: a payment needs the payer's spendable
//! balance (its balance minus the reserve it must keep) and moves the amount from the payer's
//! side to the payee's when it settles. Modelled: balances in msat, the 1 % reserve both
//! daemons ask for by default, whether the peer is connected. Not modelled: the commitment fee,
//! pending HTLCs, anchors, on-chain funding.

use bitcoin::secp256k1::PublicKey;

/// One side's view of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Its id (the same on both sides; LND's `chan_id`, CLN's short channel id's block part).
    pub chan_id: u64,
    /// The peer.
    pub remote_pubkey: PublicKey,
    /// Capacity in sat.
    pub capacity_sat: u64,
    /// This side's balance, in msat.
    pub local_msat: u64,
    /// The peer's balance, in msat.
    pub remote_msat: u64,
    /// What this side must keep.
    pub local_reserve_sat: u64,
    /// What the peer must keep.
    pub remote_reserve_sat: u64,
    /// The peer is connected and the channel usable.
    pub active: bool,
    /// Whether this side opened it.
    pub initiator: bool,
}

impl Channel {
    /// What this side can send now, in msat.
    pub fn spendable_msat(&self) -> u64 {
        self.local_msat.saturating_sub(self.local_reserve_sat.saturating_mul(1_000))
    }

    /// What this side can receive now, in msat.
    pub fn receivable_msat(&self) -> u64 {
        self.remote_msat.saturating_sub(self.remote_reserve_sat.saturating_mul(1_000))
    }

    /// A settled payment of `amt_msat` left (`sent`) or reached this side.
    pub fn settle(&mut self, amt_msat: u64, sent: bool) {
        let (from, to) = if sent {
            (&mut self.local_msat, &mut self.remote_msat)
        } else {
            (&mut self.remote_msat, &mut self.local_msat)
        };
        *from = from.saturating_sub(amt_msat);
        *to = to.saturating_add(amt_msat);
    }

    /// Both sides of a new channel of `capacity_sat` from `opener` to `peer` with `push_sat` on
    /// the peer's side, each keeping the default 1 % reserve: (the opener's, the peer's).
    pub fn pair(
        chan_id: u64,
        opener: PublicKey,
        peer: PublicKey,
        capacity_sat: u64,
        push_sat: u64,
    ) -> (Channel, Channel) {
        let reserve = capacity_sat / 100;
        let side = |remote_pubkey, local_sat: u64, initiator| Channel {
            chan_id,
            remote_pubkey,
            capacity_sat,
            local_msat: local_sat * 1_000,
            remote_msat: (capacity_sat - local_sat) * 1_000,
            local_reserve_sat: reserve,
            remote_reserve_sat: reserve,
            active: true,
            initiator,
        };
        (side(peer, capacity_sat - push_sat, true), side(opener, push_sat, false))
    }
}

/// A node's on-chain wallet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wallet {
    /// Confirmed (sat).
    pub confirmed_sat: u64,
    /// Not confirmed yet (sat).
    pub unconfirmed_sat: u64,
}
