//! The threshold device wallet in the demo (issue #15, `docs/wallet.md`): a car with its own
//! channel, co-signed 2-of-2 with the gateway, passes three toll booths and pays each; the
//! gateway alone then tries to pay a fourth and cannot.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use lnedge_cosign::policy::Policy;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{InvoiceState, LightningBackend, PayRequest};

use crate::car::Car;
use crate::util::{group, params, pay_request, random_preimage, short_hex};

/// One toll, in millisatoshis.
const TOLL_MSAT: u64 = 2_000_000;

/// Runs the story: the car's channel goes to `bridge`; the toll operator is `operator`.
pub(crate) async fn story(
    net: &SandboxNetwork,
    bridge: &Arc<SandboxNode>,
    operator: &Arc<SandboxNode>,
) -> Result<()> {
    let gateway = net.add_node("car-gateway").await?;
    let policy = Policy {
        max_payment_msat: 5_000_000,
        daily_budget_msat: 20_000_000,
        fee_cap_msat: 200_000,
        payees: Some(vec![operator.node_id()]),
    };
    let car = Car::drive_onto(net, &gateway, bridge, 200_000, policy, None).await?;
    net.wait_for_gossip().await?;
    println!(
        "      the car's device and the gateway made a joint key in {} ms (neither holds it);",
        car.keygen.as_millis()
    );
    println!(
        "      the car funds its private channel to the router from its own coins: 200 000 sat;"
    );
    println!("      every channel state from now on is co-signed by the car's device");
    println!("      the car's policy: at most 5 000 sat a toll, 20 000 sat a day, the toll operator only");
    for booth in 1..=3 {
        let (preimage, _) = random_preimage();
        let invoice = operator
            .create_invoice(preimage, params(TOLL_MSAT, &format!("toll booth {booth}")))
            .await?;
        let (paid, took) = car.pay(&invoice).await?;
        if paid != preimage.0 {
            bail!("booth {booth} returned a wrong preimage");
        }
        println!(
            "      booth {booth}: {} sat paid in {} ms, preimage {}… checked by the car",
            group(TOLL_MSAT / 1000),
            took.as_millis(),
            short_hex(&paid)
        );
    }
    // The last toll's settled state may still be in co-signature: let it finish.
    car.settle(1 + 2 * 3).await;
    let stats = car.cosigner.stats();
    println!(
        "      {} joint signatures, {} KB over the car's link; the car's balance: {} sat",
        stats.signatures,
        group((stats.bytes_in + stats.bytes_out) / 1000),
        group(car.balance_sat())
    );

    let balance_sat = car.balance_sat();
    let (preimage, hash) = random_preimage();
    let invoice = operator.create_invoice(preimage, params(TOLL_MSAT, "toll booth 4")).await?;
    let alone = PayRequest { timeout: Duration::from_secs(3), ..pay_request(&invoice) };
    if gateway.pay(alone).await.is_ok() {
        bail!("the gateway paid booth 4 without the car");
    }
    let reason = car.device.read(|d| d.last_refusal().unwrap_or("-").to_owned());
    let state = operator.invoice_state(hash).await?;
    if !matches!(state, InvoiceState::Open) || car.balance_sat() < balance_sat {
        bail!("something moved without the car: booth 4 is {}", state.name());
    }
    println!("      the gateway alone tries booth 4 → the car's device refuses to co-sign:");
    println!("        {reason}");
    println!(
        "      nothing moved: booth 4's invoice is {}, the car still has {} sat",
        state.name(),
        group(balance_sat)
    );
    Ok(())
}
