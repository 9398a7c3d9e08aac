//! Custom peer messages (BOLT 1 custom types) between two connected sandbox nodes.

use std::sync::Arc;
use std::time::Duration;

use lnedge_node::sandbox::{PeerMessage, SandboxNetwork, SandboxNode, MAX_PAYLOAD_LEN};
use lnedge_node::BackendError;
use tokio::sync::broadcast;

/// How long a test waits for a message: generous, the machine may be busy; only reached when
/// something is wrong.
const DEADLINE: Duration = Duration::from_secs(60);

const INITIATE_PAYMENT: u16 = 45001;
const REJECT_PAYMENT: u16 = 45003;

/// Two nodes, `a` connected to `b` (no channel needed).
async fn connected_pair() -> (SandboxNetwork, Arc<SandboxNode>, Arc<SandboxNode>) {
    let net = SandboxNetwork::new().await.expect("network");
    let a = net.add_node("a").await.expect("a");
    let b = net.add_node("b").await.expect("b");
    a.connect(b.node_id(), b.listen_addr()).await.expect("a connects to b");
    (net, a, b)
}

async fn next(rx: &mut broadcast::Receiver<PeerMessage>) -> PeerMessage {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("a peer message within the deadline")
        .expect("the subscription is open and not lagging")
}

fn assert_invalid(result: Result<(), BackendError>, expected_what: &str) {
    match result {
        Err(BackendError::InvalidInput { what, .. }) => assert_eq!(what, expected_what),
        other => panic!("expected InvalidInput({expected_what}), got {other:?}"),
    }
}

/// A sends `initiate_payment` to B; B answers `reject_payment`; each receives exactly what the
/// other sent, with the sender's node id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_messages_round_trip() {
    let (net, a, b) = connected_pair().await;
    let mut a_rx = a.subscribe_peer_messages();
    let mut b_rx = b.subscribe_peer_messages();

    let request = b"initiate: 21000 msat".to_vec();
    a.send_peer_message(b.node_id(), INITIATE_PAYMENT, request.clone()).expect("a sends");
    let got = next(&mut b_rx).await;
    assert_eq!(got, PeerMessage { peer: a.node_id(), type_id: INITIATE_PAYMENT, payload: request });

    let reply = b"reject: unknown invoice".to_vec();
    b.send_peer_message(a.node_id(), REJECT_PAYMENT, reply.clone()).expect("b replies");
    let got = next(&mut a_rx).await;
    assert_eq!(got, PeerMessage { peer: b.node_id(), type_id: REJECT_PAYMENT, payload: reply });

    // The size limit is exact: the largest payload and an empty one both arrive whole, in order.
    let largest: Vec<u8> = (0..MAX_PAYLOAD_LEN).map(|i| (i % 251) as u8).collect();
    a.send_peer_message(b.node_id(), INITIATE_PAYMENT, largest.clone()).expect("largest");
    a.send_peer_message(b.node_id(), INITIATE_PAYMENT, Vec::new()).expect("empty");
    assert_eq!(next(&mut b_rx).await.payload, largest);
    assert_eq!(next(&mut b_rx).await.payload, Vec::<u8>::new());

    // Nothing was delivered twice or to the sender itself.
    assert!(b_rx.is_empty(), "b received only what a sent");
    assert!(a_rx.is_empty(), "a received only b's reply");
    // The connection survived all of it.
    a.send_peer_message(b.node_id(), REJECT_PAYMENT, vec![1]).expect("still connected");
    assert_eq!(next(&mut b_rx).await.payload, vec![1]);
    net.shutdown().await;
}

/// Even types, types below the custom range, oversized payloads and unconnected peers are refused
/// with typed errors, before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_peer_messages_are_refused() {
    let (net, a, b) = connected_pair().await;
    let stranger = net.add_node("stranger").await.expect("stranger");
    let mut b_rx = b.subscribe_peer_messages();

    assert_invalid(a.send_peer_message(b.node_id(), 45002, vec![1]), "type_id");
    assert_invalid(a.send_peer_message(b.node_id(), 32767, vec![1]), "type_id");
    assert_invalid(a.send_peer_message(b.node_id(), 1, vec![1]), "type_id");
    assert_invalid(a.send_peer_message(b.node_id(), 45001, vec![0; 65534]), "payload");

    match a.send_peer_message(stranger.node_id(), INITIATE_PAYMENT, vec![1]) {
        Err(e @ BackendError::Unavailable(_)) => {
            assert!(e.to_string().contains("not connected"), "{e}");
        }
        other => panic!("expected Unavailable for an unconnected peer, got {other:?}"),
    }

    // The refusals sent nothing: b's first message is the valid one sent after them.
    a.send_peer_message(b.node_id(), INITIATE_PAYMENT, vec![7]).expect("valid");
    assert_eq!(
        next(&mut b_rx).await,
        PeerMessage { peer: a.node_id(), type_id: INITIATE_PAYMENT, payload: vec![7] }
    );
    net.shutdown().await;
}
