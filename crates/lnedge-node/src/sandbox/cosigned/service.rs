//! The gateway's service for devices' own requests: a device asks its gateway to pay an invoice
//! it approved; the gateway pays from the device's channel (co-signing every state with the
//! device on the other link) and answers with the preimage.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;

use lnedge_cosign::link::{DeviceRequest, GatewayAnswer};
use lnedge_cosign::tcp::serve_frames;
use lnedge_cosign::{decode, encode};

use crate::backend::{parse_invoice, LightningBackend, PayRequest};
use crate::sandbox::SandboxNode;

/// How long a device's payment may take before the gateway answers that it failed.
const PAY_TIMEOUT: Duration = Duration::from_secs(60);

/// Finds the node that pays for the device whose channel has this joint key (`None`: no such
/// device here).
pub type DeviceRoute = Arc<dyn Fn(&PublicKey) -> Option<Arc<SandboxNode>> + Send + Sync>;

/// Serves devices' requests on `listener` (TCP frames, one thread per connection): each
/// `SendPayment` is paid from `node` on `runtime` and answered with its outcome, if `node` has
/// the co-signed channel the request names. In the sandbox the gateway's node for a device has
/// that device's channel only, so the payment leaves through it; a gateway with several would
/// pin the route's first hop to the device's channel.
pub fn serve_device_requests(
    listener: TcpListener,
    node: Arc<SandboxNode>,
    runtime: tokio::runtime::Handle,
) -> JoinHandle<()> {
    let route: DeviceRoute =
        Arc::new(move |joint_key| node.disk.cosign.holds(joint_key).then(|| node.clone()));
    serve_device_requests_for(listener, route, runtime)
}

/// [`serve_device_requests`] for several devices, each paid from the node `route` finds by the
/// joint key the request names.
pub fn serve_device_requests_for(
    listener: TcpListener,
    route: DeviceRoute,
    runtime: tokio::runtime::Handle,
) -> JoinHandle<()> {
    serve_frames(listener, move |request| encode(&runtime.block_on(answer(&route, request))))
}

async fn answer(route: &DeviceRoute, request: &[u8]) -> GatewayAnswer {
    let request = match decode::<DeviceRequest>("device request", request) {
        Ok(request) => request,
        Err(e) => return GatewayAnswer::PaymentFailed(e.to_string()),
    };
    let DeviceRequest::SendPayment { joint_key, invoice, max_fee_msat } = request;
    let Some(node) = route(&joint_key) else {
        return GatewayAnswer::PaymentFailed(format!(
            "no co-signed channel with the joint key {joint_key} here"
        ));
    };
    let invoice = match parse_invoice(&invoice) {
        Ok(invoice) => invoice,
        Err(e) => return GatewayAnswer::PaymentFailed(e.to_string()),
    };
    let pay = PayRequest {
        invoice,
        amount_msat: None,
        max_fee_msat,
        timeout: PAY_TIMEOUT,
        max_total_cltv_expiry_delta: None,
    };
    match node.pay(pay).await {
        Ok(outcome) => GatewayAnswer::PaymentSuccess {
            preimage: outcome.preimage.0,
            fee_msat: outcome.fee_paid_msat,
        },
        Err(e) => {
            tracing::warn!(error = %e, "a device's payment failed");
            GatewayAnswer::PaymentFailed(e.to_string())
        }
    }
}
