//! The threshold wallet's device (`lnedge device simulate --mode wallet`; `docs/wallet.md`): a
//! car, a charger or a sensor that holds its own channel's funding key 2-of-2 with its gateway.
//!
//! [`WalletDevice`] keeps its state in a directory — its master secret (`wallet.key`) and its
//! wallet (`wallet.bin`: key share, policy, channel book, coins), both readable by the owner
//! only, the wallet rewritten atomically before every answer — and serves its gateway's
//! requests ([`WalletDevice::serve`]): enrolment (the joint key's generation) while it has no
//! key, then channel keys, funding, terms, co-signatures, points, revocations and refreshes,
//! every one checked by `lnedge_cosign`'s device against the owner's [`Policy`]. Its own
//! payments go to the gateway's payment service ([`WalletDevice::pay`]). [`repl`] drives it from
//! text commands.
//!
//! The protocol and every message live in `lnedge-cosign`; this module is the device's runtime
//! around them (files, the listening socket, the owner's commands).

pub mod repl;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bitcoin::secp256k1::PublicKey;
use bitcoin::{OutPoint, ScriptBuf};
use lnedge_cosign::device::{Coin, DeviceKeys, DeviceWallet};
use lnedge_cosign::enrol::DeviceEnrolment;
use lnedge_cosign::host::LocalLink;
use lnedge_cosign::link::DeviceLink;
use lnedge_cosign::policy::Policy;
use lnedge_cosign::CosignError;

/// The file holding the device's master secret (64 hex characters).
pub const KEY_FILE: &str = "wallet.key";
/// The file holding the device's wallet once it is enrolled.
pub const WALLET_FILE: &str = "wallet.bin";

/// Why the wallet device could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum WalletDeviceError {
    /// A file of the state directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The master secret's file is not 64 hex characters.
    #[error("{0}: not a device key (64 hex characters expected)")]
    BadKeyFile(PathBuf),
    /// Nothing can be paid or funded before the gateway enrolled the device.
    #[error("the device is not enrolled yet: its gateway must generate its key first")]
    NotEnrolled,
    /// The coin is in the wallet already.
    #[error("the coin {0} is in the wallet already")]
    DuplicateCoin(OutPoint),
    /// The policy, the link or the gateway said no (the reason is named).
    #[error(transparent)]
    Cosign(#[from] CosignError),
}

/// What the device shows its owner (all empty before it is enrolled).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletStatus {
    /// The joint key, once enrolled.
    pub joint_key: Option<PublicKey>,
    /// The key shares' epoch (how many refreshes).
    pub epoch: u32,
    /// The device's balance in the last channel state it co-signed, once the channel is pinned.
    pub channel_balance_sat: Option<u64>,
    /// What its on-chain coins hold.
    pub coins_sat: u64,
    /// Joint signatures completed.
    pub signatures: u64,
    /// Requests refused.
    pub refusals: u64,
    /// The latest refusal's reason.
    pub last_refusal: Option<String>,
}

enum State {
    Enrolling { enrolment: Box<DeviceEnrolment>, policy: Policy },
    Enrolled(Arc<LocalLink>),
}

/// The device: its keys, and its wallet or the enrolment that will make it.
pub struct WalletDevice {
    dir: PathBuf,
    keys: DeviceKeys,
    state: Mutex<State>,
}

impl std::fmt::Debug for WalletDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletDevice").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalletDeviceError + '_ {
    move |source| WalletDeviceError::Io { path: path.to_owned(), source }
}

impl WalletDevice {
    /// Opens the device in `dir`: created, with a fresh master secret, on the first run; its
    /// wallet as last saved once enrolled. Until then it waits for its gateway's enrolment with
    /// [`default_policy`] (see [`WalletDevice::set_policy`]).
    pub fn open(dir: &Path) -> Result<WalletDevice, WalletDeviceError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let keys = DeviceKeys::new(master_secret(&dir.join(KEY_FILE))?);
        let wallet = dir.join(WALLET_FILE);
        let state = if wallet.exists() {
            State::Enrolled(Arc::new(LocalLink::load(keys.clone(), wallet)?))
        } else {
            State::Enrolling { enrolment: Box::default(), policy: default_policy() }
        };
        Ok(WalletDevice { dir: dir.to_owned(), keys, state: Mutex::new(state) })
    }

    /// The owner's spending policy.
    pub fn policy(&self) -> Policy {
        match &*self.state() {
            State::Enrolling { policy, .. } => policy.clone(),
            State::Enrolled(link) => link.read(|d| d.policy().clone()),
        }
    }

    /// Replaces the owner's spending policy (stored with the wallet once enrolled; what was
    /// spent today stays spent).
    pub fn set_policy(&self, new: Policy) {
        match &mut *self.state() {
            State::Enrolling { policy, .. } => *policy = new,
            State::Enrolled(link) => link.with_device(|d| d.set_policy(new)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers one request of the gateway (bytes in, bytes out). The wallet is on disk before
    /// the answer is returned.
    pub fn answer(&self, request: &[u8]) -> Vec<u8> {
        let mut state = self.state();
        match &mut *state {
            State::Enrolled(link) => link.call(request).unwrap_or_else(|e| {
                lnedge_cosign::encode(&lnedge_cosign::link::DeviceAnswer::Failed(e.0))
            }),
            State::Enrolling { enrolment, policy } => {
                let (answer, share) = enrolment.serve(request);
                let Some(share) = share else { return answer };
                let wallet = DeviceWallet::new(self.keys.clone(), share, policy.clone());
                match LocalLink::saved(wallet, self.keys.clone(), self.dir.join(WALLET_FILE)) {
                    Ok(link) => {
                        *state = State::Enrolled(Arc::new(link));
                        answer
                    }
                    Err(e) => lnedge_cosign::encode(&lnedge_cosign::link::DeviceAnswer::Failed(
                        format!("the device could not store its share: {e}"),
                    )),
                }
            }
        }
    }

    /// Serves the gateway's connections on `listener` (one thread each) until it fails.
    pub fn serve(self: &Arc<Self>, listener: TcpListener) -> JoinHandle<()> {
        let device = self.clone();
        lnedge_cosign::tcp::serve_frames(listener, move |request| device.answer(request))
    }

    /// Where coins for the device's channel go: its deposit script (P2WPKH of its wallet key).
    pub fn deposit_script(&self) -> ScriptBuf {
        self.keys.deposit_script()
    }

    /// A coin paid to the deposit script (a real device would watch the chain for it).
    pub fn add_coin(&self, outpoint: OutPoint, value_sat: u64) -> Result<(), WalletDeviceError> {
        self.with_wallet(|wallet| {
            if wallet.coins().iter().any(|c| c.outpoint == outpoint) {
                return Err(WalletDeviceError::DuplicateCoin(outpoint));
            }
            wallet.add_coin(Coin { outpoint, value_sat });
            Ok(())
        })?
    }

    /// Pays a BOLT 11 invoice: the device approves it against its policy, asks its gateway over
    /// `gateway`, and checks the preimage against the invoice's hash. `day`: days since the
    /// epoch, UTC.
    pub fn pay(
        &self,
        gateway: &dyn DeviceLink,
        invoice: &str,
        day: u64,
    ) -> Result<[u8; 32], WalletDeviceError> {
        // The state is not held while the gateway pays: it asks the device to co-sign meanwhile.
        let link = match &*self.state() {
            State::Enrolled(link) => link.clone(),
            State::Enrolling { .. } => return Err(WalletDeviceError::NotEnrolled),
        };
        Ok(link.pay(gateway, invoice, day)?)
    }

    /// What the device shows its owner.
    pub fn status(&self) -> WalletStatus {
        match &*self.state() {
            State::Enrolling { .. } => WalletStatus::default(),
            State::Enrolled(link) => link.read(|d| WalletStatus {
                joint_key: Some(d.joint_key()),
                epoch: d.epoch(),
                channel_balance_sat: d.book().map(|b| b.balance_sat()),
                coins_sat: d.coins().iter().map(|c| c.value_sat).sum(),
                signatures: d.counts().1,
                refusals: d.counts().0,
                last_refusal: d.last_refusal().map(str::to_owned),
            }),
        }
    }

    /// Runs `f` on the enrolled wallet (saved afterwards).
    fn with_wallet<R>(
        &self,
        f: impl FnOnce(&mut DeviceWallet) -> R,
    ) -> Result<R, WalletDeviceError> {
        match &*self.state() {
            State::Enrolled(link) => Ok(link.with_device(f)),
            State::Enrolling { .. } => Err(WalletDeviceError::NotEnrolled),
        }
    }
}

/// The policy of a device whose owner gave none: 20,000 sat a payment, 100,000 sat a day,
/// 2,000 sat of fees, any payee.
pub fn default_policy() -> Policy {
    Policy {
        max_payment_msat: 20_000_000,
        daily_budget_msat: 100_000_000,
        fee_cap_msat: 2_000_000,
        payees: None,
    }
}

/// Reads the master secret at `path`, or makes one there (owner-only) on the first run.
fn master_secret(path: &Path) -> Result<[u8; 32], WalletDeviceError> {
    match std::fs::read_to_string(path) {
        Ok(text) => hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| WalletDeviceError::BadKeyFile(path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let master: [u8; 32] = rand::random();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io(path))?;
            use std::io::Write;
            file.write_all(hex::encode(master).as_bytes()).map_err(io(path))?;
            file.sync_all().map_err(io(path))?;
            Ok(master)
        }
        Err(e) => Err(io(path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoGateway;

    impl DeviceLink for NoGateway {
        fn call(&self, _: &[u8]) -> Result<Vec<u8>, lnedge_cosign::link::LinkError> {
            panic!("nothing may reach the gateway before the device is enrolled")
        }
    }

    #[test]
    fn a_device_not_enrolled_pays_nothing_and_keeps_its_key_across_opens() {
        let dir = tempfile::tempdir().unwrap();
        let device = WalletDevice::open(dir.path()).unwrap();
        let script = device.deposit_script();
        assert!(matches!(
            device.pay(&NoGateway, "lnbcrt1", 0),
            Err(WalletDeviceError::NotEnrolled)
        ));
        assert!(matches!(
            device.add_coin(OutPoint::null(), 1_000),
            Err(WalletDeviceError::NotEnrolled)
        ));
        assert_eq!(device.status().joint_key, None);
        drop(device);
        // The master secret is kept (owner-only): the same deposit script after a restart.
        let again = WalletDevice::open(dir.path()).unwrap();
        assert_eq!(again.deposit_script(), script);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key file is private: {mode:o}");
        }
    }

    #[test]
    fn a_damaged_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "not hex").unwrap();
        let err = WalletDevice::open(dir.path()).unwrap_err();
        assert!(matches!(err, WalletDeviceError::BadKeyFile(_)), "{err}");
        assert!(err.to_string().contains("wallet.key"), "{err}");
    }
}
