//! A device in this process: its wallet behind a lock, saved to a file before every answer,
//! restartable from it — the device side of the sandbox, the tests, the demo and the bench.

use crate::error::CosignError;
use crate::link::DeviceLink;
use crate::{decode, encode};

/// A device in the same process (the sandbox, tests and benchmarks), optionally saving its
/// wallet to a file after every answer, as a real device writes its flash before it replies.
pub struct LocalLink {
    device: std::sync::Mutex<crate::device::DeviceWallet>,
    saved_to: Option<(std::path::PathBuf, crate::device::DeviceKeys)>,
}

impl LocalLink {
    /// A link to `device`, kept in memory only.
    pub fn new(device: crate::device::DeviceWallet) -> LocalLink {
        LocalLink { device: std::sync::Mutex::new(device), saved_to: None }
    }

    /// A link to `device` that saves it to `path` after every answer (atomically: a temporary
    /// file, fsync, rename). `keys` are the device's (kept in memory, as a device keeps its
    /// master secret apart from its data).
    pub fn saved(
        device: crate::device::DeviceWallet,
        keys: crate::device::DeviceKeys,
        path: std::path::PathBuf,
    ) -> std::io::Result<LocalLink> {
        let link =
            LocalLink { device: std::sync::Mutex::new(device), saved_to: Some((path, keys)) };
        link.save(&link.device.lock().unwrap_or_else(|p| p.into_inner()))?;
        Ok(link)
    }

    /// The device an earlier run saved to `path` (with [`LocalLink::saved`]), saving there again.
    pub fn load(
        keys: crate::device::DeviceKeys,
        path: std::path::PathBuf,
    ) -> Result<LocalLink, CosignError> {
        let wallet = read_saved(&keys, &path)?;
        Ok(LocalLink { device: std::sync::Mutex::new(wallet), saved_to: Some((path, keys)) })
    }

    fn save(&self, device: &crate::device::DeviceWallet) -> std::io::Result<()> {
        let Some((path, _)) = &self.saved_to else { return Ok(()) };
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            // It holds the device's key share: readable by its owner only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&device.save())?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// Restarts the device: its wallet as last saved (signatures in flight are lost).
    pub fn restart(&self) -> Result<(), CosignError> {
        let Some((path, keys)) = &self.saved_to else {
            return Err(CosignError::Unexpected("a device kept in memory only cannot restart"));
        };
        let wallet = read_saved(keys, path)?;
        *self.device.lock().unwrap_or_else(|p| p.into_inner()) = wallet;
        Ok(())
    }

    /// The device pays a BOLT 11 invoice: approves it against its policy, sends the request to
    /// its gateway over `gateway`, and checks the preimage it gets back against the invoice's
    /// hash (the proof of payment). `day`: days since the epoch, UTC.
    pub fn pay(
        &self,
        gateway: &dyn DeviceLink,
        invoice: &str,
        day: u64,
    ) -> Result<[u8; 32], CosignError> {
        let (request, hash) = self
            .with_device(|d| d.request_payment(invoice, day))
            .map_err(|refusal| CosignError::Refused(refusal.to_string()))?;
        let answer = gateway.call(&encode(&request)).map_err(|e| CosignError::Link(e.0))?;
        match decode::<crate::link::GatewayAnswer>("gateway answer", &answer)? {
            crate::link::GatewayAnswer::PaymentSuccess { preimage, .. } => {
                use bitcoin::hashes::{sha256, Hash};
                if sha256::Hash::hash(&preimage).to_byte_array() != hash {
                    return Err(CosignError::PaymentFailed(
                        "the gateway's preimage is not the invoice's".into(),
                    ));
                }
                Ok(preimage)
            }
            crate::link::GatewayAnswer::PaymentFailed(reason) => {
                Err(CosignError::PaymentFailed(reason))
            }
        }
    }

    /// Reads the device (its book, policy, counts) without changing it: nothing to save.
    pub fn read<R>(&self, f: impl FnOnce(&crate::device::DeviceWallet) -> R) -> R {
        f(&self.device.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `f` on the device (to approve a payment or read its book), then saves it.
    pub fn with_device<R>(&self, f: impl FnOnce(&mut crate::device::DeviceWallet) -> R) -> R {
        let mut device = self.device.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut device);
        if let Err(e) = self.save(&device) {
            tracing::error!(error = %e, "the device could not save its wallet");
        }
        out
    }
}

/// The wallet saved at `path`.
fn read_saved(
    keys: &crate::device::DeviceKeys,
    path: &std::path::Path,
) -> Result<crate::device::DeviceWallet, CosignError> {
    let bytes =
        std::fs::read(path).map_err(|e| CosignError::Link(format!("{}: {e}", path.display())))?;
    crate::device::DeviceWallet::restore(keys.clone(), &bytes)
}

impl DeviceLink for LocalLink {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, crate::link::LinkError> {
        let mut device = self.device.lock().unwrap_or_else(|p| p.into_inner());
        let answer = device.serve(request);
        // An answer leaves only once what it depends on is on the device's disk.
        self.save(&device)
            .map_err(|e| crate::link::LinkError(format!("saving the device: {e}")))?;
        Ok(answer)
    }
}
