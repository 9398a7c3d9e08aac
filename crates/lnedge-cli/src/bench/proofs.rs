//! `lnedge bench --proofs`: what verifying a proof of payment costs the gateway — the check behind
//! refunds, receipts and session recovery — for honest proofs and for the two forgeries that must
//! fail (a routing node's: the preimage with an invoice signed by another node; a bystander's:
//! the real invoice with a guessed preimage).
//!
//! It calls `refunds::proof::verify` directly (BOLT 11 parse with signature recovery, payee
//! check, constant-time hash and secret checks, store and node lookups) on a sandbox owner node
//! and a SQLite store, one proof at a time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use lnedge_gateway::api::AppState;
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_node::LightningBackend;
use serde::Serialize;

use super::stats::{self, per_sec, us, Summary};
use crate::util::{params, random_preimage};

/// Figures of one kind of proof.
#[derive(Debug, Serialize)]
pub(crate) struct ProofCase {
    proofs: usize,
    p50_us: f64,
    p99_us: f64,
    per_sec: f64,
}

/// Figures of the proof benchmark.
#[derive(Debug, Serialize)]
pub(crate) struct ProofFigures {
    scenario: &'static str,
    build: &'static str,
    store: &'static str,
    valid: ProofCase,
    routing_node_forgery: ProofCase,
    bystander_guess: ProofCase,
}

fn case(mut samples: Vec<Duration>, wall: Duration) -> ProofCase {
    // In microseconds with one decimal: milliseconds would round a verification to 10 µs.
    let s = Summary::of(&mut samples);
    ProofCase {
        proofs: s.count,
        p50_us: us(s.p50),
        p99_us: us(s.p99),
        per_sec: per_sec(s.count, wall, 0),
    }
}

/// Times `verify` over `proofs`, checking each answer is `expect_ok` (or a refusal).
async fn time(state: &AppState, proofs: &[(String, String)], expect_ok: bool) -> Result<ProofCase> {
    let mut samples = Vec::with_capacity(proofs.len());
    let started = Instant::now();
    for (invoice, preimage) in proofs {
        let t = Instant::now();
        let answer = state.gateway.refunds().verify_proof(invoice, preimage).await;
        samples.push(t.elapsed());
        ensure!(answer.is_ok() == expect_ok, "unexpected verdict: {:?}", answer.err());
    }
    Ok(case(samples, started.elapsed()))
}

/// Runs the benchmark with `n` proofs of each kind.
pub(crate) async fn run(n: usize) -> Result<ProofFigures> {
    let dir = tempfile::tempdir()?;
    let net = SandboxNetwork::new().await?;
    let owner = net.add_node("owner").await?;
    let other = net.add_node("routing").await?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
    let state =
        AppState::new(store, owner.clone(), Arc::new(PoolKey::generate()), rand::random(), "b");

    let (mut valid, mut forged, mut guessed) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (preimage, _) = random_preimage();
        let description = format!("level pack {i}");
        let invoice = owner.create_invoice(preimage, params(2_500_000, &description)).await?;
        // The routing node saw the preimage; the best it can present is an invoice of its own
        // node for the same payment hash.
        let own = other.create_invoice(preimage, params(2_500_000, &description)).await?;
        let (guess, _) = random_preimage();
        valid.push((invoice.to_string(), hex::encode(preimage.0)));
        forged.push((own.to_string(), hex::encode(preimage.0)));
        guessed.push((invoice.to_string(), hex::encode(guess.0)));
    }
    // Warm-up (caches, lazy statics): not measured.
    for (invoice, preimage) in valid.iter().take(20) {
        let _ = state.gateway.refunds().verify_proof(invoice, preimage).await;
    }
    let figures = ProofFigures {
        scenario: "proof_of_payment_verify",
        build: stats::build(),
        store: "sqlite",
        valid: time(&state, &valid, true).await?,
        routing_node_forgery: time(&state, &forged, false).await?,
        bystander_guess: time(&state, &guessed, false).await?,
    };
    net.shutdown().await;
    Ok(figures)
}
