//! A car with its own channel (the threshold device wallet, `docs/wallet.md`), for the demo and
//! the toll bench: its device holds the funding key 2-of-2 with a gateway node, serves the
//! gateway's signature requests on a loopback TCP port, and sends its own payments to the
//! gateway's payment service on another.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use lnedge_cosign::device::{Coin, DeviceKeys, DeviceWallet};
use lnedge_cosign::gateway::GatewayCosigner;
use lnedge_cosign::host::LocalLink;
use lnedge_cosign::policy::Policy;
use lnedge_cosign::tcp::{serve, TcpLink};
use lnedge_node::lightning_invoice::Bolt11Invoice;
use lnedge_node::sandbox::cosigned::serve_device_requests;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};

/// Days since the epoch (UTC): the device's budget day.
pub(crate) fn today() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0)
}

/// The car's device and its two links.
pub(crate) struct Car {
    /// The device (its wallet in memory, or saved to a file before every answer).
    pub(crate) device: Arc<LocalLink>,
    /// The gateway's co-signer for the car's channel.
    pub(crate) cosigner: Arc<GatewayCosigner>,
    /// The car's connection to its gateway's payment service.
    service: Arc<TcpLink>,
    /// How long key generation took.
    pub(crate) keygen: Duration,
}

impl Car {
    /// Generates the car's joint key with `gateway`, serves its device on loopback, opens its
    /// co-signed channel of `capacity_sat` to `bridge` and starts the gateway's payment service.
    /// With `saved_to`, the device writes its wallet there before every answer (as a real
    /// device does); in memory otherwise.
    pub(crate) async fn drive_onto(
        net: &SandboxNetwork,
        gateway: &Arc<SandboxNode>,
        bridge: &SandboxNode,
        capacity_sat: u64,
        policy: Policy,
        saved_to: Option<std::path::PathBuf>,
    ) -> Result<Car> {
        let t = Instant::now();
        let (device_share, gateway_share) =
            tokio::task::spawn_blocking(lnedge_cosign::keygen::in_process).await??;
        let keygen = t.elapsed();
        let keys = DeviceKeys::new(rand::random());
        let mut wallet = DeviceWallet::new(keys.clone(), device_share, policy);
        // The car's own coins fund its channel.
        let value_sat = capacity_sat + 10_000;
        let outpoint = net.deposit(keys.deposit_script(), value_sat).await;
        wallet.add_coin(Coin { outpoint, value_sat });
        let device = Arc::new(match saved_to {
            Some(path) => LocalLink::saved(wallet, keys, path)?,
            None => LocalLink::new(wallet),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let link = TcpLink::new(listener.local_addr()?, Duration::from_secs(30));
        serve(listener, device.clone());
        let cosigner = Arc::new(GatewayCosigner::new(gateway_share, Arc::new(link)));
        net.open_cosigned_channel(gateway, bridge, capacity_sat, cosigner.clone())
            .await
            .context("opening the car's channel")?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let service = Arc::new(TcpLink::new(listener.local_addr()?, Duration::from_secs(90)));
        serve_device_requests(listener, gateway.clone(), tokio::runtime::Handle::current());
        Ok(Car { device, cosigner, service, keygen })
    }

    /// The car pays `invoice`: its device approves it, asks the gateway, checks the preimage.
    /// Returns the preimage and the time from the device's decision to the preimage.
    pub(crate) async fn pay(&self, invoice: &Bolt11Invoice) -> Result<([u8; 32], Duration)> {
        let (device, service, text) =
            (self.device.clone(), self.service.clone(), invoice.to_string());
        let (paid, elapsed) = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let paid = device.pay(&*service, &text, today());
            (paid, t.elapsed())
        })
        .await?;
        Ok((paid?, elapsed))
    }

    /// Waits (10 s at most) until the gateway has made `signatures` joint signatures in all:
    /// the last co-signature of a payment may finish just after its preimage is in hand.
    pub(crate) async fn settle(&self, signatures: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.cosigner.stats().signatures < signatures
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The device's balance in the last state it co-signed.
    pub(crate) fn balance_sat(&self) -> u64 {
        self.device.read(|d| d.book().map_or(0, |b| b.balance_sat()))
    }
}
