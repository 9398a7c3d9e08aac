//! Key generation and signing between a device and a gateway, message by message.

use bitcoin::secp256k1::{Message, Secp256k1};
use lnedge_cosign::keygen::{
    DeviceKeygen, GatewayKeygen, KeygenDone, KeygenFinish, KeygenReply, KeygenStart,
};
use lnedge_cosign::sign::{
    DeviceSigning, GatewaySigning, SignAccept, SignDone, SignFinish, SignOpen,
};
use lnedge_cosign::{decode, encode, CosignError, KeyShare, Role};

/// Sends a message "over the link": encodes, counts the bytes, decodes.
fn carry<T: serde::Serialize + serde::de::DeserializeOwned>(
    what: &'static str,
    message: &T,
    bytes: &mut usize,
) -> T {
    let encoded = encode(message);
    *bytes += encoded.len();
    decode(what, &encoded).expect("a message decodes as it was encoded")
}

/// A joint key, generated as device and gateway would: (device share, gateway share, bytes).
pub(crate) fn joint_key() -> (KeyShare, KeyShare, usize) {
    let mut bytes = 0;
    let (device, start) = DeviceKeygen::start();
    let start: KeygenStart = carry("keygen start", &start, &mut bytes);
    let (gateway, reply) = GatewayKeygen::reply(start).unwrap();
    let reply: KeygenReply = carry("keygen reply", &reply, &mut bytes);
    let (device, finish) = device.finish(reply).unwrap();
    let finish: KeygenFinish = carry("keygen finish", &finish, &mut bytes);
    let (gateway_share, done) = gateway.finish(finish).unwrap();
    let done: KeygenDone = carry("keygen done", &done, &mut bytes);
    let device_share = device.done(done).unwrap();
    (device_share, gateway_share, bytes)
}

/// Runs one signature of `gateway_hash` (gateway side) / `device_hash` (device side).
fn sign(
    device: &KeyShare,
    gateway: &KeyShare,
    gateway_hash: [u8; 32],
    device_hash: [u8; 32],
) -> Result<(bitcoin::secp256k1::ecdsa::Signature, usize), CosignError> {
    let mut bytes = 0;
    let (g, open) = GatewaySigning::open(gateway, (), gateway_hash)?;
    let open: SignOpen<()> = carry("sign open", &open, &mut bytes);
    let (d, accept) = DeviceSigning::accept(device, &open, device_hash)?;
    let accept: SignAccept = carry("sign accept", &accept, &mut bytes);
    let (g, finish) = g.finish(gateway, accept)?;
    let finish: SignFinish = carry("sign finish", &finish, &mut bytes);
    let (done, device_view) = d.finish(device, finish)?;
    let done: SignDone = carry("sign done", &done, &mut bytes);
    let signature = g.done(gateway, done)?;
    assert_eq!(signature, device_view, "both parties end with the same signature");
    Ok((signature, bytes))
}

#[test]
fn a_joint_key_signs_only_with_both_shares_and_verifies_under_libsecp256k1() {
    let (device, gateway, keygen_bytes) = joint_key();
    assert_eq!(device.public_key(), gateway.public_key());
    assert_eq!(device.role(), Role::Device);
    assert_eq!(gateway.role(), Role::Gateway);
    assert!(keygen_bytes > 1_000, "key generation carries the OT setup: {keygen_bytes} B");

    for round in 0u8..3 {
        let hash = [round.wrapping_mul(37).wrapping_add(1); 32];
        let (signature, bytes) = sign(&device, &gateway, hash, hash).unwrap();
        Secp256k1::verification_only()
            .verify_ecdsa(&Message::from_digest(hash), &signature, &device.public_key())
            .expect("the joint signature verifies under the joint key");
        // Low S, as Bitcoin's standardness rules require.
        let mut normalized = signature;
        normalized.normalize_s();
        assert_eq!(normalized, signature);
        assert!(bytes > 0);
    }
}

#[test]
fn a_device_that_computes_another_hash_makes_the_signature_fail() {
    let (device, gateway, _) = joint_key();
    let err = sign(&device, &gateway, [1; 32], [2; 32]).unwrap_err();
    assert!(matches!(err, CosignError::Aborted(_)), "{err:?}");
}

#[test]
fn shares_survive_storage_and_bad_bytes_are_named() {
    let (device, gateway, _) = joint_key();
    let stored = device.to_bytes();
    let device = KeyShare::from_bytes(&stored).unwrap();
    assert_eq!(device.role(), Role::Device);
    // The restored share still signs with the gateway's.
    sign(&device, &gateway, [9; 32], [9; 32]).unwrap();
    // Its Debug output carries no secret.
    let shown = format!("{device:?}");
    assert!(shown.contains("Device") && shown.len() < 200, "{shown}");

    let err = KeyShare::from_bytes(&stored[..stored.len() / 2]).unwrap_err();
    assert!(err.to_string().contains("key share"), "{err}");
    let mut future = stored.clone();
    future[0] = 99;
    let err = KeyShare::from_bytes(&future).unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
    assert!(KeyShare::from_bytes(&[]).is_err());
}

#[test]
fn garbage_on_the_link_is_a_named_error() {
    let Err(err) = decode::<KeygenReply>("keygen reply", &[0xff; 7]) else {
        panic!("seven 0xff bytes decoded as a keygen reply");
    };
    assert!(matches!(err, CosignError::Malformed { what: "keygen reply", .. }), "{err:?}");
}

#[test]
fn the_tcp_link_carries_requests_and_refuses_oversized_frames() {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use lnedge_cosign::device::{DeviceKeys, DeviceWallet};
    use lnedge_cosign::gateway::GatewayCosigner;
    use lnedge_cosign::host::LocalLink;
    use lnedge_cosign::policy::Policy;
    use lnedge_cosign::tcp::{serve, TcpLink, MAX_FRAME};

    let (device, gateway, _) = joint_key();
    let policy =
        Policy { max_payment_msat: 1, daily_budget_msat: 1, fee_cap_msat: 0, payees: None };
    let wallet = DeviceWallet::new(DeviceKeys::new([1; 32]), device, policy);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    serve(listener, Arc::new(LocalLink::new(wallet)));
    let link = Arc::new(TcpLink::new(addr, std::time::Duration::from_secs(30)));
    let cosigner = GatewayCosigner::new(gateway, link);
    let points = cosigner.points(0, 3).unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(cosigner.points(1, 1).unwrap()[0], points[1], "points are the device's, stable");
    // Without pinned terms the device refuses to revoke, and says why.
    let err = cosigner.revoke(0).unwrap_err();
    assert!(err.to_string().contains("no channel terms"), "{err}");
    let stats = cosigner.stats();
    assert_eq!(stats.requests, 3);
    assert!(stats.bytes_in > 3 * 33);

    // A frame announcing more than the limit closes the connection without an answer.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.write_all(&((MAX_FRAME as u32) + 1).to_be_bytes()).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(raw.read(&mut buf).unwrap_or(0), 0, "the device hung up");
}

#[test]
fn a_refresh_changes_both_shares_and_keeps_the_joint_key() {
    use lnedge_cosign::refresh::{DeviceRefresh, GatewayRefresh};

    let (device, gateway, _) = joint_key();
    let mut bytes = 0;
    let (g, open) = GatewayRefresh::open(&gateway);
    let open = carry("refresh open", &open, &mut bytes);
    let (d, reply) = DeviceRefresh::reply(&device, open);
    let reply = carry("refresh reply", &reply, &mut bytes);
    let (g, finish) = g.finish(&gateway, reply).unwrap();
    let finish = carry("refresh finish", &finish, &mut bytes);
    let (new_device, done) = d.finish(&device, finish).unwrap();
    let done = carry("refresh done", &done, &mut bytes);
    let new_gateway = g.done(&gateway, done).unwrap();

    assert_eq!(new_device.public_key(), device.public_key(), "the joint key stays");
    assert_eq!(new_gateway.public_key(), gateway.public_key());
    assert_eq!((new_device.epoch(), new_gateway.epoch()), (1, 1));
    assert_ne!(new_device.to_bytes(), device.to_bytes(), "the device's share changed");
    // The new pair signs under the same key; an old share with a new one does not.
    sign(&new_device, &new_gateway, [4; 32], [4; 32]).expect("the refreshed pair signs");
    assert!(sign(&device, &new_gateway, [5; 32], [5; 32]).is_err(), "an old share is useless");
    assert!(sign(&new_device, &gateway, [6; 32], [6; 32]).is_err());
    // A stored refreshed share keeps its epoch.
    assert_eq!(KeyShare::from_bytes(&new_device.to_bytes()).unwrap().epoch(), 1);
}

/// A device in memory that enrols over the link: an enrolment first, then its wallet.
struct Enrolling {
    enrolment: std::sync::Mutex<lnedge_cosign::enrol::DeviceEnrolment>,
    share: std::sync::Mutex<Option<KeyShare>>,
}

impl lnedge_cosign::link::DeviceLink for Enrolling {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, lnedge_cosign::link::LinkError> {
        let (answer, share) = self.enrolment.lock().unwrap().serve(request);
        if share.is_some() {
            *self.share.lock().unwrap() = share;
        }
        Ok(answer)
    }
}

#[test]
fn a_gateway_enrols_a_device_over_the_link_and_both_sign_with_the_key() {
    use lnedge_cosign::enrol::DeviceEnrolment;
    use lnedge_cosign::gateway::GatewayCosigner;
    use lnedge_cosign::link::{DeviceAnswer, DeviceLink, GatewayRequest};
    use std::sync::{Arc, Mutex};

    let device = Arc::new(Enrolling {
        enrolment: Mutex::new(DeviceEnrolment::new()),
        share: Mutex::new(None),
    });
    // Out of order: named, and the enrolment can still begin.
    let answer = device.call(&encode(&GatewayRequest::ChannelKeys)).unwrap();
    assert!(
        matches!(decode("answer", &answer), Ok(DeviceAnswer::Failed(r)) if r.contains("not enrolled"))
    );

    let cosigner = GatewayCosigner::enrol(device.clone()).expect("enrolled");
    let stats = cosigner.stats();
    assert_eq!(stats.requests, 3, "three round trips");
    assert!(stats.bytes_out + stats.bytes_in > 10_000, "key generation's messages: {stats:?}");
    let device_share = device.share.lock().unwrap().take().expect("the device stored its share");
    assert_eq!(device_share.public_key(), cosigner.joint_key());
    // The gateway's share survives storage, and the two shares sign together.
    let gateway_share = KeyShare::from_bytes(&cosigner.share_bytes()).expect("share");
    let hash = [7u8; 32];
    let (signature, _) = sign(&device_share, &gateway_share, hash, hash).expect("joint signature");
    let message = Message::from_digest(hash);
    Secp256k1::verification_only()
        .verify_ecdsa(&message, &signature, &cosigner.joint_key())
        .expect("verifies under the joint key");

    // A gateway that skips a step is told so.
    let fresh = Arc::new(Enrolling {
        enrolment: Mutex::new(DeviceEnrolment::new()),
        share: Mutex::new(None),
    });
    let (_, reply) = lnedge_cosign::keygen::GatewayKeygen::reply(
        match decode::<DeviceAnswer>(
            "answer",
            &fresh.call(&encode(&GatewayRequest::KeygenBegin)).unwrap(),
        ) {
            Ok(DeviceAnswer::KeygenStart(start)) => *start,
            _ => panic!("no start"),
        },
    )
    .expect("reply");
    let again = Arc::new(Enrolling {
        enrolment: Mutex::new(DeviceEnrolment::new()),
        share: Mutex::new(None),
    });
    let answer = again.call(&encode(&GatewayRequest::KeygenReply(Box::new(reply)))).unwrap();
    assert!(
        matches!(decode("answer", &answer), Ok(DeviceAnswer::Failed(r)) if r.contains("begin the enrolment again"))
    );
}
