//! Custom Lightning peer messages (BOLT 1 custom message types) between sandbox nodes.
//!
//! Each node's `PeerManager` carries a [`PeerMessageHandler`] as its custom message handler. It
//! accepts the BOLT 1 custom range only for *odd* types (`>= 32768`, odd: "it's ok to be odd"):
//!
//! - an odd type `>= 32768` received from a peer is delivered, with the sender's node id, to every
//!   subscriber of [`SandboxNode::subscribe_peer_messages`];
//! - an even type is never claimed by the reader, so LDK sees it as an unknown even message and
//!   disconnects the peer, as BOLT 1 requires ("upon receiving a message of even, unknown type:
//!   MUST close the connection");
//! - any other odd type unknown to LDK is ignored by LDK.
//!
//! Outgoing messages ([`SandboxNode::send_peer_message`]) are queued in the handler and handed to
//! the peer manager by `get_and_clear_pending_msg`, which `process_events` calls. Delivery is
//! best-effort, as for any Lightning message: there is no acknowledgement, and a message queued
//! for a peer that disconnects before it is written is dropped.
//!
//! The message meanings (e.g. 45001 `initiate_payment`, 45003 `reject_payment`) are not this
//! module's concern: it carries opaque payloads. See `docs/protocols/peer-messages.md`.

use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;
use lightning::ln::msgs::{DecodeError, Init, LightningError};
use lightning::ln::peer_handler::CustomMessageHandler;
use lightning::ln::wire::{CustomMessageReader, Type};
use lightning::util::ser::{LengthLimitedRead, Writeable, Writer};
use lightning_types::features::{InitFeatures, NodeFeatures};
use tokio::sync::broadcast;

use super::node::SandboxNode;
use crate::error::BackendError;

/// The lowest type of the BOLT 1 custom message range (`32768..=65535`).
pub const CUSTOM_TYPE_MIN: u16 = 32768;

/// The largest payload of a peer message: a Lightning message is at most 65535 bytes, including
/// its 2-byte type.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - 2;

/// How many received messages the subscription channel buffers. A subscriber that falls further
/// behind loses the oldest ones (its next `recv` returns
/// [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged) with the number lost,
/// then resumes with the oldest message still buffered).
pub const SUBSCRIPTION_CAPACITY: usize = 1024;

/// A custom peer message, received from or sent to a directly connected peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMessage {
    /// The peer the message came from (for a received message).
    pub peer: PublicKey,
    /// The message type: odd and in the BOLT 1 custom range (`>= 32768`).
    pub type_id: u16,
    /// The message payload (everything after the 2-byte type), at most [`MAX_PAYLOAD_LEN`] bytes.
    pub payload: Vec<u8>,
}

/// A custom message as it travels on the wire: type and raw payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireMessage {
    type_id: u16,
    payload: Vec<u8>,
}

impl Type for WireMessage {
    fn type_id(&self) -> u16 {
        self.type_id
    }
}

impl Writeable for WireMessage {
    /// Writes the raw payload; the peer manager writes the type before it.
    fn write<W: Writer>(&self, w: &mut W) -> Result<(), lightning::io::Error> {
        w.write_all(&self.payload)
    }
}

/// Whether `type_id` is one this handler sends and receives: odd, in the custom range.
fn is_accepted_type(type_id: u16) -> bool {
    type_id >= CUSTOM_TYPE_MIN && type_id % 2 == 1
}

/// Checks an outgoing message's type and payload size.
fn check_outgoing(type_id: u16, payload_len: usize) -> Result<(), BackendError> {
    if type_id < CUSTOM_TYPE_MIN {
        return Err(BackendError::invalid(
            "type_id",
            format!("{type_id} is below the custom message range (>= {CUSTOM_TYPE_MIN})"),
        ));
    }
    if type_id % 2 == 0 {
        return Err(BackendError::invalid(
            "type_id",
            format!(
                "{type_id} is even: a peer that does not know it must disconnect; use an odd type"
            ),
        ));
    }
    if payload_len > MAX_PAYLOAD_LEN {
        return Err(BackendError::invalid(
            "payload",
            format!("{payload_len} bytes is over the {MAX_PAYLOAD_LEN}-byte limit of a message"),
        ));
    }
    Ok(())
}

/// The custom message handler of a sandbox node's `PeerManager`: reads and delivers incoming odd
/// custom messages to subscribers, and queues outgoing ones.
pub(crate) struct PeerMessageHandler {
    /// Outgoing messages, in the order they were sent, until the peer manager takes them.
    pending: Mutex<Vec<(PublicKey, WireMessage)>>,
    /// Received messages, to every current subscriber.
    incoming: broadcast::Sender<PeerMessage>,
}

impl std::fmt::Debug for PeerMessageHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerMessageHandler")
            .field("pending", &self.lock_pending().len())
            .field("subscribers", &self.incoming.receiver_count())
            .finish()
    }
}

impl PeerMessageHandler {
    /// A handler with no queued message and no subscriber.
    pub(crate) fn new() -> Arc<Self> {
        let (incoming, _) = broadcast::channel(SUBSCRIPTION_CAPACITY);
        Arc::new(PeerMessageHandler { pending: Mutex::new(Vec::new()), incoming })
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<(PublicKey, WireMessage)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a message for `peer` after checking its type and size; the peer manager sends it at
    /// its next `process_events`.
    pub(crate) fn queue(
        &self,
        peer: PublicKey,
        type_id: u16,
        payload: Vec<u8>,
    ) -> Result<(), BackendError> {
        check_outgoing(type_id, payload.len())?;
        self.lock_pending().push((peer, WireMessage { type_id, payload }));
        Ok(())
    }

    /// A new subscription to the messages received from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<PeerMessage> {
        self.incoming.subscribe()
    }
}

impl CustomMessageReader for PeerMessageHandler {
    type CustomMessage = WireMessage;

    /// Claims odd custom types and reads their whole payload. Returns `Ok(None)` ("unknown") for
    /// every other type: LDK then disconnects the peer if the type is even, and ignores it if odd.
    fn read<R: LengthLimitedRead>(
        &self,
        message_type: u16,
        buffer: &mut R,
    ) -> Result<Option<WireMessage>, DecodeError> {
        if !is_accepted_type(message_type) {
            return Ok(None);
        }
        // Bounded by the 65535-byte message limit the peer manager enforces.
        let len =
            usize::try_from(buffer.remaining_bytes()).map_err(|_| DecodeError::InvalidValue)?;
        let mut payload = vec![0u8; len];
        buffer.read_exact(&mut payload).map_err(|_| DecodeError::ShortRead)?;
        Ok(Some(WireMessage { type_id: message_type, payload }))
    }
}

impl CustomMessageHandler for PeerMessageHandler {
    fn handle_custom_message(
        &self,
        msg: WireMessage,
        sender_node_id: PublicKey,
    ) -> Result<(), LightningError> {
        let message =
            PeerMessage { peer: sender_node_id, type_id: msg.type_id, payload: msg.payload };
        // No subscriber is not an error: the message is simply not kept.
        if self.incoming.send(message).is_err() {
            tracing::debug!(peer = %sender_node_id, type_id = msg.type_id, "peer message with no subscriber dropped");
        }
        Ok(())
    }

    fn get_and_clear_pending_msg(&self) -> Vec<(PublicKey, WireMessage)> {
        std::mem::take(&mut *self.lock_pending())
    }

    fn peer_disconnected(&self, their_node_id: PublicKey) {
        // Not for a later connection: what was queued for this one is dropped.
        self.lock_pending().retain(|(peer, _)| *peer != their_node_id);
    }

    fn peer_connected(
        &self,
        _their_node_id: PublicKey,
        _msg: &Init,
        _inbound: bool,
    ) -> Result<(), ()> {
        Ok(())
    }

    fn provided_node_features(&self) -> NodeFeatures {
        NodeFeatures::empty()
    }

    fn provided_init_features(&self, _their_node_id: PublicKey) -> InitFeatures {
        InitFeatures::empty()
    }
}

impl SandboxNode {
    /// Sends a custom peer message of `type_id` with `payload` to the connected peer `peer`.
    ///
    /// `type_id` must be odd and `>= 32768` (the BOLT 1 custom range; an even type would make a
    /// peer that does not know it disconnect), and `payload` at most [`MAX_PAYLOAD_LEN`] (65533)
    /// bytes: otherwise [`BackendError::InvalidInput`] (`what` = `"type_id"` or `"payload"`).
    /// A peer that is not connected (handshake complete), or a stopped node, is
    /// [`BackendError::Unavailable`]: connect and retry.
    ///
    /// `Ok` means the message was handed to the peer manager for a connected peer. Delivery is
    /// best-effort: there is no acknowledgement, and a connection that drops before the message
    /// is written loses it.
    pub fn send_peer_message(
        &self,
        peer: PublicKey,
        type_id: u16,
        payload: Vec<u8>,
    ) -> Result<(), BackendError> {
        check_outgoing(type_id, payload.len())?;
        if self.is_stopped() {
            return Err(BackendError::Unavailable(format!("{} is stopped", self.name())));
        }
        if self.peer_manager.peer_by_node_id(&peer).is_none() {
            return Err(BackendError::Unavailable(format!(
                "peer {peer} is not connected to {}",
                self.name()
            )));
        }
        self.peer_messages.queue(peer, type_id, payload)?;
        self.peer_manager.process_events();
        Ok(())
    }

    /// Subscribes to the custom peer messages this node receives from now on (odd types
    /// `>= 32768`, from any connected peer), with the sender's node id.
    ///
    /// The channel holds [`SUBSCRIPTION_CAPACITY`] (1024) messages: a subscriber that falls
    /// further behind loses the oldest ones and is told how many by
    /// [`RecvError::Lagged`](tokio::sync::broadcast::error::RecvError::Lagged). The subscription
    /// ends ([`RecvError::Closed`](tokio::sync::broadcast::error::RecvError::Closed)) when this
    /// node's stack is dropped: after a restart, subscribe on the new handle.
    pub fn subscribe_peer_messages(&self) -> broadcast::Receiver<PeerMessage> {
        self.peer_messages.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> PublicKey {
        let secret = bitcoin::secp256k1::SecretKey::from_slice(&[byte; 32]).expect("key");
        PublicKey::from_secret_key(&bitcoin::secp256k1::Secp256k1::new(), &secret)
    }

    #[test]
    fn outgoing_types_and_sizes_are_checked() {
        assert!(check_outgoing(45001, 0).is_ok());
        assert!(check_outgoing(65535, MAX_PAYLOAD_LEN).is_ok());
        for (type_id, len, what) in [
            (45002, 0, "type_id"),
            (32767, 0, "type_id"),
            (1, 0, "type_id"),
            (45001, MAX_PAYLOAD_LEN + 1, "payload"),
        ] {
            match check_outgoing(type_id, len) {
                Err(BackendError::InvalidInput { what: w, .. }) => assert_eq!(w, what),
                other => panic!("{type_id}/{len}: {other:?}"),
            }
        }
    }

    #[test]
    fn reader_claims_only_odd_custom_types() {
        let handler = PeerMessageHandler::new();
        let bytes = [1u8, 2, 3];
        let read = handler.read(45001, &mut &bytes[..]).expect("odd custom");
        assert_eq!(read, Some(WireMessage { type_id: 45001, payload: bytes.to_vec() }));
        for unknown in [45002, 32768, 32767, 1, 2] {
            assert_eq!(handler.read(unknown, &mut &bytes[..]).expect("read"), None, "{unknown}");
        }
    }

    #[test]
    fn wire_message_writes_its_raw_payload() {
        let msg = WireMessage { type_id: 45003, payload: vec![9, 8, 7] };
        assert_eq!(msg.encode(), vec![9, 8, 7]);
        assert_eq!(msg.type_id(), 45003);
    }

    /// An even custom type is not claimed by the reader, so the receiving peer manager treats it
    /// as an unknown even message and drops the connection (BOLT 1). It can only be sent by
    /// bypassing [`SandboxNode::send_peer_message`], as here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_even_custom_type_disconnects_the_sender() {
        let net = crate::sandbox::SandboxNetwork::new().await.expect("network");
        let a = net.add_node("a").await.expect("a");
        let b = net.add_node("b").await.expect("b");
        a.connect(b.node_id(), b.listen_addr()).await.expect("connect");
        let mut b_rx = b.subscribe_peer_messages();
        // A valid message first: once b has it, b has seen a's `init` as well.
        a.send_peer_message(b.node_id(), 45001, vec![1]).expect("valid");
        let first = tokio::time::timeout(std::time::Duration::from_secs(60), b_rx.recv())
            .await
            .expect("within the deadline")
            .expect("received");
        assert_eq!(first.payload, vec![1]);
        a.peer_messages
            .lock_pending()
            .push((b.node_id(), WireMessage { type_id: 45002, payload: vec![2] }));
        a.peer_manager.process_events();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while b.peer_manager.peer_by_node_id(&a.node_id()).is_some() {
            assert!(tokio::time::Instant::now() < deadline, "b did not disconnect a");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(b_rx.try_recv().is_err(), "the even message was not delivered");
        net.shutdown().await;
    }

    #[test]
    fn queue_subscribe_and_disconnect() {
        let handler = PeerMessageHandler::new();
        let (a, b) = (key(1), key(2));
        handler.queue(a, 45001, vec![1]).expect("queued");
        handler.queue(b, 45003, vec![2]).expect("queued");
        handler.queue(a, 45005, vec![3]).expect("queued");
        handler.peer_disconnected(b);
        let pending = handler.get_and_clear_pending_msg();
        assert_eq!(
            pending.iter().map(|(p, m)| (*p, m.type_id)).collect::<Vec<_>>(),
            [(a, 45001), (a, 45005)]
        );
        assert!(handler.get_and_clear_pending_msg().is_empty());

        let mut rx = handler.subscribe();
        let msg = WireMessage { type_id: 45001, payload: vec![4, 5] };
        handler.handle_custom_message(msg, b).expect("handled");
        assert_eq!(
            rx.try_recv().expect("delivered"),
            PeerMessage { peer: b, type_id: 45001, payload: vec![4, 5] }
        );
    }
}
