//! The driver of a sandbox node: handles LDK events, forwards HTLCs as soon as they are queued
//! (no random batching delay: see ADR 0002), flushes peer messages and persists the channel
//! manager.

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, OutPoint, Sequence, Transaction, TxIn, TxOut, Txid, Witness,
};
use lightning::events::{
    Event, EventsProvider, HTLCHandlingFailureType, PaymentFailureReason, ReplayEvent,
};
use lightning_types::payment::PaymentHash;

use super::node::SandboxNode;
use crate::backend::InvoiceState;
use crate::event::BackendEvent;

/// How often LDK's channel manager timer runs: "roughly once per minute", as LDK asks and as its
/// background processor does (`FRESHNESS_TIMER`). Several of its timeouts count these ticks; one
/// disconnects a peer that has not answered a commitment update within two ticks. Ticked every
/// second, that turned an answer slower than a second (a busy debug build) into a disconnection.
const CHANNEL_MANAGER_TICK: Duration = Duration::from_secs(60);

/// How often the peer manager pings its peers, and disconnects those that did not answer the last
/// ping: LDK's background processor's `PING_TIMER` (30 s without optimisations, where signing is
/// slow; 10 s otherwise).
const PEER_TICK: Duration = Duration::from_secs(if cfg!(debug_assertions) { 30 } else { 10 });

/// How often the driver checks that the channel peers it dials are connected.
const RECONNECT_CHECK: Duration = Duration::from_secs(1);

/// How soon to call `process_pending_htlc_forwards` again while LDK still says it is needed after a
/// pass. LDK says so for as long as a payment with retries left is in flight (its retry timeout is
/// checked there), not only when HTLCs are queued; queued HTLCs wake the driver at once anyway
/// (LDK notifies its event future whenever it queues or forwards).
const FORWARDS_RECHECK: Duration = Duration::from_millis(100);

/// Runs until the node is stopped.
///
/// `shutdown` must be subscribed before the task is spawned, so a stop issued before the task
/// first runs is not missed.
pub(crate) async fn drive(
    node: Arc<SandboxNode>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    // A driver held up (a busy machine) runs a missed tick once, late, not a burst of them: a
    // burst of channel manager ticks would expire LDK's tick-counted timeouts at once.
    let timer = |period: Duration, first: Duration| {
        let mut t = tokio::time::interval_at(tokio::time::Instant::now() + first, period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    };
    // LDK's channel manager timer also runs on startup.
    let mut manager_ticks = timer(CHANNEL_MANAGER_TICK, Duration::ZERO);
    let mut peer_ticks = timer(PEER_TICK, PEER_TICK);
    let mut reconnect_checks = timer(RECONNECT_CHECK, RECONNECT_CHECK);
    loop {
        let handler = |event: Event| handle_event(&node, event);
        node.channel_manager.process_pending_events(&handler);
        node.chain_monitor.process_pending_events(&handler);
        if node.channel_manager.needs_pending_htlc_processing() {
            node.channel_manager.process_pending_htlc_forwards();
        }
        node.peer_manager.process_events();
        if node.channel_manager.get_and_clear_needs_persistence() {
            node.persist_manager();
        }
        // Not a busy loop: LDK keeps this true while any payment with retries left is in flight.
        let recheck_forwards = node.channel_manager.needs_pending_htlc_processing();
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            _ = node.channel_manager.get_event_or_persistence_needed_future() => {}
            _ = node.chain_monitor.get_update_future() => {}
            _ = tokio::time::sleep(FORWARDS_RECHECK), if recheck_forwards => {}
            _ = manager_ticks.tick() => node.channel_manager.timer_tick_occurred(),
            _ = peer_ticks.tick() => node.peer_manager.timer_tick_occurred(),
            _ = reconnect_checks.tick() => {
                reconnect_channel_peers(&node);
                if node.disk.cosign.take_unreachable() {
                    node.retry_signatures();
                }
            }
        }
    }
}

/// Dials again every peer this node dialed before and has a channel with, if it is not
/// connected (a dropped connection, e.g. a ping timeout under load): until it is, HTLCs on the
/// channel can be neither added nor resolved. Peers that dialed us dial again themselves; a dial
/// still under way is not repeated ([`SandboxNode::connect`]).
fn reconnect_channel_peers(node: &Arc<SandboxNode>) {
    let dialed = node.disk.peers.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let channels = node.channels();
    for (peer, addr) in dialed {
        let has_channel = channels.iter().any(|c| c.counterparty.node_id == peer);
        if has_channel && node.peer_manager.peer_by_node_id(&peer).is_none() && !node.dialing(&peer)
        {
            tracing::info!(node = %node.name(), %peer, "reconnecting to a channel peer");
            let node = node.clone();
            tokio::spawn(async move {
                if let Err(e) = node.connect(peer, addr).await {
                    tracing::info!(node = %node.name(), "reconnecting failed, retrying later: {e}");
                }
            });
        }
    }
}

/// A transaction paying `value_sat` to `script` from one made-up input (a funding transaction,
/// a device's deposit): the sandbox chain checks no UTXOs, and LDK only needs a non-empty
/// witness on a non-coinbase input.
pub(crate) fn funding_transaction(value_sat: u64, script: bitcoin::ScriptBuf) -> Transaction {
    let mut fake_prev = [0u8; 32];
    fake_prev.copy_from_slice(&rand::random::<[u8; 32]>());
    Transaction {
        version: transaction::Version::TWO,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint { txid: Txid::from_byte_array(fake_prev), vout: 0 },
            script_sig: bitcoin::ScriptBuf::new(),
            sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
            witness: Witness::from_slice(&[vec![1u8; 72], vec![2u8; 33]]),
        }],
        output: vec![TxOut { value: Amount::from_sat(value_sat), script_pubkey: script }],
    }
}

/// A stable code for a payment failure reason, decoded by [`crate::PayFailure::from_code`].
fn failure_code(reason: Option<PaymentFailureReason>) -> &'static str {
    match reason {
        Some(PaymentFailureReason::RecipientRejected) => "recipient_rejected",
        Some(PaymentFailureReason::RetriesExhausted) => "retries_exhausted",
        Some(PaymentFailureReason::PaymentExpired) => "payment_expired",
        Some(PaymentFailureReason::RouteNotFound) => "route_not_found",
        Some(PaymentFailureReason::UserAbandoned) => "abandoned",
        _ => "unexpected_error",
    }
}

fn handle_event(node: &SandboxNode, event: Event) -> Result<(), ReplayEvent> {
    let replay = |e: crate::BackendError| {
        tracing::error!(node = %node.name(), "event handling failed, LDK will replay it: {e}");
        ReplayEvent()
    };
    match event {
        Event::FundingGenerationReady {
            temporary_channel_id,
            counterparty_node_id,
            channel_value_satoshis,
            output_script,
            user_channel_id,
            ..
        } => {
            let tx = match node.disk.cosign.get(user_channel_id) {
                // A co-signed channel is funded by its device, from its own coins.
                Some(cosigned) => match super::cosigned::device_funding(
                    node,
                    &cosigned,
                    temporary_channel_id,
                    channel_value_satoshis,
                    &output_script,
                ) {
                    Ok(tx) => tx,
                    Err(e) => {
                        tracing::error!(node = %node.name(), "the device did not fund its channel: {e}");
                        return Ok(());
                    }
                },
                None => funding_transaction(channel_value_satoshis, output_script),
            };
            if let Err(e) = node.channel_manager.funding_transaction_generated(
                temporary_channel_id,
                counterparty_node_id,
                tx,
            ) {
                tracing::error!(node = %node.name(), "funding failed: {e:?}");
            }
        }
        Event::PaymentClaimable { payment_hash, amount_msat, claim_deadline, .. } => {
            on_claimable(node, payment_hash, amount_msat, claim_deadline).map_err(replay)?;
        }
        Event::PaymentClaimed { payment_hash, amount_msat, .. } => {
            let event = BackendEvent::InvoiceSettled { payment_hash, amount_msat };
            node.store
                .transition(&payment_hash, InvoiceState::Settled { amount_msat }, Some(&event))
                .map_err(replay)?;
        }
        Event::HTLCHandlingFailed {
            failure_type: HTLCHandlingFailureType::Receive { payment_hash },
            ..
        } => {
            // LDK failed a received HTLC back. If we were holding the hash and its claim
            // deadline came, that was our held set. LDK also fails a second HTLC set paying a
            // hash it already holds; that one leaves the held set alone (issue #7).
            if let Some(invoice) = node.store.invoice(&payment_hash).map_err(replay)? {
                // LDK fails timed-out HTLCs from `transactions_confirmed` of the deadline's block,
                // before `best_block_updated` moves its best block to that height: the best block
                // may lag the failing one by one.
                let height = node.channel_manager.current_best_block().height;
                if let InvoiceState::Held { claim_deadline_height, .. } = invoice.state {
                    if claim_deadline_height
                        .is_some_and(|deadline| height.saturating_add(1) < deadline)
                    {
                        return Ok(());
                    }
                    let event = BackendEvent::InvoiceCancelled { payment_hash };
                    node.store
                        .transition(&payment_hash, InvoiceState::Cancelled, Some(&event))
                        .map_err(replay)?;
                }
            }
        }
        Event::PaymentSent { payment_hash, payment_preimage, fee_paid_msat, .. } => {
            let event = BackendEvent::PaymentSucceeded {
                payment_hash,
                preimage: payment_preimage,
                fee_paid_msat,
            };
            node.store.payment_resolved(&event).map_err(replay)?;
            node.payment_resolved.notify_waiters();
        }
        Event::PaymentFailed { payment_hash: Some(payment_hash), reason, .. } => {
            let event = BackendEvent::PaymentFailed {
                payment_hash,
                reason: failure_code(reason).to_owned(),
            };
            node.store.payment_resolved(&event).map_err(replay)?;
            node.payment_resolved.notify_waiters();
        }
        Event::ChannelReady { channel_id, counterparty_node_id, .. } => {
            tracing::debug!(node = %node.name(), %channel_id, peer = %counterparty_node_id, "channel ready");
        }
        Event::ChannelClosed { channel_id, reason, .. } => {
            tracing::info!(node = %node.name(), %channel_id, %reason, "channel closed");
        }
        _ => {}
    }
    Ok(())
}

fn on_claimable(
    node: &SandboxNode,
    payment_hash: PaymentHash,
    amount_msat: u64,
    claim_deadline: Option<u32>,
) -> Result<(), crate::BackendError> {
    let Some(invoice) = node.store.invoice(&payment_hash)? else {
        // Not an invoice of ours (the node's own stateless invoices are not used).
        node.channel_manager.fail_htlc_backwards(&payment_hash);
        return Ok(());
    };
    match (invoice.preimage, invoice.state) {
        // Auto-settling invoice, or a hold invoice already settled before a restart.
        (
            Some(preimage),
            InvoiceState::Open | InvoiceState::Settled { .. } | InvoiceState::Held { .. },
        ) => {
            node.channel_manager.claim_funds(preimage);
        }
        (_, InvoiceState::Cancelled) => node.channel_manager.fail_htlc_backwards(&payment_hash),
        (None, InvoiceState::Open) => {
            let state = InvoiceState::Held { amount_msat, claim_deadline_height: claim_deadline };
            let event = BackendEvent::InvoiceHeld {
                payment_hash,
                amount_msat,
                claim_deadline_height: claim_deadline,
            };
            node.store.transition(&payment_hash, state, Some(&event))?;
        }
        // Replayed after a restart while held: keep holding.
        (None, InvoiceState::Held { .. }) => {}
        (None, InvoiceState::Settled { .. }) => {
            tracing::warn!(node = %node.name(), %payment_hash, "settled hold invoice without preimage");
        }
    }
    Ok(())
}
