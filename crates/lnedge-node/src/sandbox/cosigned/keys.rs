//! The node's signer provider: `KeysManager`, plus the registry of co-signed channels.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bitcoin::ScriptBuf;
use lightning::ln::script::ShutdownScript;
use lightning::sign::{KeysManager, SignerProvider};
use lnedge_cosign::gateway::{DeviceChannelKeys, GatewayCosigner};

use super::signer::CosignedSigner;

/// One co-signed channel's gateway side: the co-signer (share + device link), the device's keys,
/// what the device's funding gives it, and the signing state every signer instance of the
/// channel shares (LDK derives one for the channel manager and one for the monitor).
pub struct Cosigned {
    /// The gateway's share and the link to the device.
    pub cosigner: Arc<GatewayCosigner>,
    /// The device's keys for this channel.
    pub device_keys: DeviceChannelKeys,
    /// What the channel's funding gives the device (its opening balance).
    pub opening_balance_sat: u64,
    pub(super) state: super::signer::SigningState,
}

impl std::fmt::Debug for Cosigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigned").field("cosigner", &self.cosigner).finish_non_exhaustive()
    }
}

/// Tells LDK that a signature it asked for is ready (`signer_unblocked`); set by the node.
pub(super) type Wake = Arc<dyn Fn() + Send + Sync>;

/// The co-signed channels of a node, by LDK `user_channel_id`. It survives node restarts (it
/// lives with the node's disk); a production gateway keeps it in its store.
#[derive(Default)]
pub struct CosignRegistry {
    channels: Mutex<HashMap<u128, Arc<Cosigned>>>,
    wake: Arc<std::sync::RwLock<Option<Wake>>>,
    unreachable: Arc<AtomicBool>,
}

impl std::fmt::Debug for CosignRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignRegistry").field("channels", &self.lock().len()).finish()
    }
}

impl CosignRegistry {
    /// Registers a channel about to be opened with `user_channel_id`.
    pub fn register(
        &self,
        user_channel_id: u128,
        cosigner: Arc<GatewayCosigner>,
        device_keys: DeviceChannelKeys,
        opening_balance_sat: u64,
    ) {
        let state = super::signer::SigningState::new(self.wake.clone(), self.unreachable.clone());
        let cosigned = Cosigned { cosigner, device_keys, opening_balance_sat, state };
        self.lock().insert(user_channel_id, Arc::new(cosigned));
    }

    /// Sets what tells the running node that a co-signature is ready (the node does at start).
    pub(crate) fn set_wake(&self, wake: Wake) {
        *self.wake.write().unwrap_or_else(|p| p.into_inner()) = Some(wake);
    }

    /// Whether a co-signature failed because a device was out of reach (or its link broke)
    /// since the last call: the node then asks LDK to retry its signatures (every second, see
    /// the driver), so a device that comes back is asked again without anyone's help. A device
    /// that refused is not asked again until something changes (a retry is asked explicitly).
    pub(crate) fn take_unreachable(&self) -> bool {
        self.unreachable.swap(false, Ordering::SeqCst)
    }

    /// Whether a co-signed channel of this node has the joint key `joint_key`.
    pub fn holds(&self, joint_key: &bitcoin::secp256k1::PublicKey) -> bool {
        self.lock().values().any(|c| c.cosigner.joint_key() == *joint_key)
    }

    /// The co-signed channel opened with `user_channel_id`, if it is one.
    pub fn get(&self, user_channel_id: u128) -> Option<Arc<Cosigned>> {
        self.lock().get(&user_channel_id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Arc<Cosigned>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

thread_local! {
    /// The close script of the co-signed channel LDK is creating on this thread: LDK asks for
    /// the channel's keys id, then (same call, same thread) for its upfront shutdown script.
    static CREATING: RefCell<Option<ScriptBuf>> = const { RefCell::new(None) };
}

/// The node's signer provider.
pub struct NodeKeys {
    inner: Arc<KeysManager>,
    registry: Arc<CosignRegistry>,
}

impl std::fmt::Debug for NodeKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeKeys").finish_non_exhaustive()
    }
}

impl NodeKeys {
    /// `KeysManager`'s channels, and the co-signed ones of `registry`.
    pub fn new(inner: Arc<KeysManager>, registry: Arc<CosignRegistry>) -> NodeKeys {
        NodeKeys { inner, registry }
    }

    /// LDK's keys id carries the `user_channel_id` in its last 16 bytes.
    fn user_channel_id(channel_keys_id: &[u8; 32]) -> u128 {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&channel_keys_id[16..]);
        u128::from_be_bytes(bytes)
    }
}

impl SignerProvider for NodeKeys {
    type EcdsaSigner = CosignedSigner;

    fn generate_channel_keys_id(&self, inbound: bool, user_channel_id: u128) -> [u8; 32] {
        let id = self.inner.generate_channel_keys_id(inbound, user_channel_id);
        let creating =
            self.registry.get(user_channel_id).map(|c| c.device_keys.close_script.clone());
        CREATING.with(|c| *c.borrow_mut() = creating);
        id
    }

    fn derive_channel_signer(&self, channel_keys_id: [u8; 32]) -> CosignedSigner {
        let inner = self.inner.derive_channel_signer(channel_keys_id);
        let cosigned = self.registry.get(Self::user_channel_id(&channel_keys_id));
        CosignedSigner::new(inner, cosigned)
    }

    fn get_destination_script(&self, channel_keys_id: [u8; 32]) -> Result<ScriptBuf, ()> {
        self.inner.get_destination_script(channel_keys_id)
    }

    fn get_shutdown_scriptpubkey(&self) -> Result<ShutdownScript, ()> {
        match CREATING.with(|c| c.borrow_mut().take()) {
            Some(script) => ShutdownScript::try_from(script).map_err(|_| ()),
            None => self.inner.get_shutdown_scriptpubkey(),
        }
    }
}
