//! The `htlc_accepted` hook: HTLCs for the plugin's hashes are decided by the [`Book`]; held
//! ones get their answer when the invoice is settled or cancelled (the hook call stays open
//! until then, as lightningd allows).

use cln_plugin::Plugin;
use serde::Deserialize;
use serde_json::{json, Value};

use super::book::{Decision, Incoming, MPP_TIMEOUT_SECS};
use super::{now, State};
use crate::wire::RecordState;

/// `htlc_accepted`'s payload, the fields the plugin reads.
#[derive(Debug, Deserialize)]
struct Payload {
    onion: Onion,
    htlc: HtlcPayload,
    /// Present when the HTLC is to be forwarded: not for the plugin.
    #[serde(default)]
    forward_to: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Onion {
    /// Present when the HTLC is to be forwarded.
    #[serde(default)]
    short_channel_id: Option<String>,
    #[serde(default)]
    payment_secret: Option<String>,
    #[serde(default)]
    total_msat: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct HtlcPayload {
    #[serde(default)]
    short_channel_id: Option<String>,
    id: u64,
    amount_msat: u64,
    cltv_expiry: u32,
    cltv_expiry_relative: i64,
    payment_hash: String,
}

/// `{"result": "continue"}`: lightningd handles it (its own invoices, forwards).
fn proceed() -> Value {
    json!({"result": "continue"})
}

/// Fails an HTLC back with `incorrect_or_unknown_payment_details` (BOLT 4: PERM|15, with the
/// HTLC's amount and the current height).
pub(super) fn fail(amount_msat: u64, height: u32) -> Value {
    let mut message = vec![0x40, 0x0f];
    message.extend_from_slice(&amount_msat.to_be_bytes());
    message.extend_from_slice(&height.to_be_bytes());
    json!({"result": "fail", "failure_message": hex::encode(message)})
}

/// Fails back the parts of a multi-part payment still incomplete [`MPP_TIMEOUT_SECS`] after its
/// part `key` arrived, with `mpp_timeout` (BOLT 4: 23), as lightningd does for its own invoices.
async fn mpp_timeout(state: State, hash: String, key: String) {
    tokio::time::sleep(std::time::Duration::from_secs(MPP_TIMEOUT_SECS)).await;
    let mut guard = state.book().await;
    let Some(book) = guard.as_mut() else { return };
    if book.drop_partial(&hash, &key) {
        if let Some(entry) = book.get(&hash).cloned() {
            if let Err(e) = state.persist(&entry).await {
                tracing::warn!(payment_hash = %hash, error = %e, "recording an MPP timeout");
            }
            state.changed(entry.updated_index);
        }
        state.release(&hash, |_| json!({"result": "fail", "failure_message": "0017"}));
    }
}

/// The hook.
pub(super) async fn htlc_accepted(p: Plugin<State>, payload: Value) -> anyhow::Result<Value> {
    let state = p.state().clone();
    let payload: Payload = match serde_json::from_value(payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "htlc_accepted payload not understood: leaving it to lightningd");
            return Ok(proceed());
        }
    };
    if payload.forward_to.is_some() || payload.onion.short_channel_id.is_some() {
        return Ok(proceed());
    }
    let hash = payload.htlc.payment_hash.to_ascii_lowercase();
    let htlc = Incoming {
        key: format!(
            "{}/{}",
            payload.htlc.short_channel_id.as_deref().unwrap_or("-"),
            payload.htlc.id
        ),
        amount_msat: payload.htlc.amount_msat,
        cltv_expiry: payload.htlc.cltv_expiry,
        cltv_expiry_relative: payload.htlc.cltv_expiry_relative,
        payment_secret: payload.onion.payment_secret.map(|s| s.to_ascii_lowercase()),
        total_msat: payload.onion.total_msat,
    };
    let waiting = {
        let mut guard = state.book().await;
        let Some(book) = guard.as_mut() else { return Ok(proceed()) };
        let (decision, changed) = book.on_htlc(&hash, &htlc, now().as_secs());
        if changed {
            if let Some(entry) = book.get(&hash).cloned() {
                if let Err(e) = state.persist(&entry).await {
                    // Undecided on disk: refuse rather than take money the books may forget.
                    tracing::warn!(payment_hash = %hash, error = %e, "cannot record an HTLC: failing it back");
                    return Ok(fail(htlc.amount_msat, state.height()));
                }
                state.changed(entry.updated_index);
            }
        }
        match decision {
            Decision::NotOurs => return Ok(proceed()),
            Decision::Fail => return Ok(fail(htlc.amount_msat, state.height())),
            Decision::Resolve(preimage) => {
                let answer = json!({"result": "resolve", "payment_key": preimage});
                state.release(&hash, |_| answer.clone());
                return Ok(answer);
            }
            // Registered under the book's lock, so a settle or cancel that follows finds it.
            Decision::Hold => {
                let partial = book.get(&hash).is_some_and(|e| e.state == RecordState::Open);
                if partial {
                    tokio::spawn(mpp_timeout(state.clone(), hash.clone(), htlc.key.clone()));
                }
                state.wait_on(&hash, &htlc.key, htlc.amount_msat)
            }
        }
    };
    tracing::debug!(payment_hash = %hash, key = %htlc.key, "holding an HTLC");
    Ok(waiting.await.unwrap_or_else(|_| fail(htlc.amount_msat, state.height())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_carry_bolt4s_incorrect_or_unknown_payment_details() {
        let answer = fail(5_000, 0x0102_0304);
        assert_eq!(answer["result"], "fail");
        assert_eq!(answer["failure_message"], "400f000000000000138801020304");
    }
}
