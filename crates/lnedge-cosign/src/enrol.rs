//! Enrolment: a new device and its gateway generate the device's joint key over the device link.
//!
//! The gateway drives it (it is the one that connects), in three round trips that carry the two
//! of [`crate::keygen`] (the device still sends the first key generation message):
//!
//! 1. [`GatewayRequest::KeygenBegin`] → [`DeviceAnswer::KeygenStart`];
//! 2. [`GatewayRequest::KeygenReply`] → [`DeviceAnswer::KeygenFinish`];
//! 3. [`GatewayRequest::KeygenDone`] → [`DeviceAnswer::KeyStored`]: the device answers only
//!    once its share is stored, so a gateway that got this answer holds a usable key.
//!
//! A device that restarts in between forgets the half-made key: the gateway starts again.

use crate::error::CosignError;
use crate::keygen::{DeviceKeygen, DeviceKeygenLast};
use crate::link::{DeviceAnswer, GatewayRequest};
use crate::share::KeyShare;

/// The device's side of an enrolment, before it holds a share.
#[derive(Debug, Default)]
pub struct DeviceEnrolment {
    stage: Option<Stage>,
}

#[derive(Debug)]
enum Stage {
    Started(DeviceKeygen),
    Finishing(DeviceKeygenLast),
}

impl DeviceEnrolment {
    /// A device waiting for its gateway to enrol it.
    pub fn new() -> DeviceEnrolment {
        DeviceEnrolment::default()
    }

    /// Serves one request of an enrolment. The second value is the device's new share once the
    /// key is made: store it (with the answer's joint key) before the answer leaves.
    pub fn handle(&mut self, request: GatewayRequest) -> (DeviceAnswer, Option<KeyShare>) {
        match (request, self.stage.take()) {
            (GatewayRequest::KeygenBegin, _) => {
                let (keygen, start) = DeviceKeygen::start();
                self.stage = Some(Stage::Started(keygen));
                (DeviceAnswer::KeygenStart(Box::new(start)), None)
            }
            (GatewayRequest::KeygenReply(reply), Some(Stage::Started(keygen))) => {
                match keygen.finish(*reply) {
                    Ok((last, finish)) => {
                        self.stage = Some(Stage::Finishing(last));
                        (DeviceAnswer::KeygenFinish(Box::new(finish)), None)
                    }
                    Err(e) => (failed(e), None),
                }
            }
            (GatewayRequest::KeygenDone(done), Some(Stage::Finishing(last))) => {
                match last.done(*done) {
                    Ok(share) => {
                        (DeviceAnswer::KeyStored { joint_key: share.public_key() }, Some(share))
                    }
                    Err(e) => (failed(e), None),
                }
            }
            (GatewayRequest::KeygenReply(_) | GatewayRequest::KeygenDone(_), stage) => {
                self.stage = stage;
                (
                    DeviceAnswer::Failed(
                        "no key generation is at this step: begin the enrolment again".into(),
                    ),
                    None,
                )
            }
            (_, stage) => {
                self.stage = stage;
                (
                    DeviceAnswer::Failed("the device is not enrolled yet: it holds no key".into()),
                    None,
                )
            }
        }
    }

    /// Serves one request's bytes (see [`DeviceEnrolment::handle`]).
    pub fn serve(&mut self, request: &[u8]) -> (Vec<u8>, Option<KeyShare>) {
        let (answer, share) = match crate::decode::<GatewayRequest>("gateway request", request) {
            Ok(request) => self.handle(request),
            Err(e) => (DeviceAnswer::Failed(e.to_string()), None),
        };
        (crate::encode(&answer), share)
    }
}

fn failed(e: CosignError) -> DeviceAnswer {
    DeviceAnswer::Failed(format!("key generation: {e}"))
}
