//! `lnedge demo` end to end: every step is numbered in order, the payer steps show the merchant
//! paid and each replay refused with its code, and the toll booths the gateway alone refused.

use crate::cli::{lnedge, text};

#[test]
fn the_demo_tells_its_thirteen_steps_in_order() {
    let out = lnedge(&["demo"], "");
    let story = text(&out.stdout);
    assert!(out.status.success(), "{story}{}", text(&out.stderr));
    let steps: Vec<&str> = story.lines().filter(|l| l.starts_with('[')).collect();
    let expected: Vec<String> = (1..=13).map(|n| format!("[{n}/13] ")).collect();
    assert_eq!(steps.len(), 13, "{story}");
    for (line, prefix) in steps.iter().zip(&expected) {
        assert!(line.starts_with(prefix.as_str()), "{line} should start with {prefix}: {story}");
    }
    assert!(steps[8].contains("Bolt Card"), "{story}");
    assert!(steps[9].contains("token"), "{story}");
    assert!(steps[10].contains("toll booths"), "{story}");
    for line in [
        "the merchant's node received 12 000 sat",
        "the same tap (same p and c) replayed → refused: replayed_counter",
        "meter: POST /v1/pay/token → 200 paid",
        "the same token shown with another invoice → 422 wrong_invoice",
        "booth 3: 2 000 sat paid in",
        "the gateway alone tries booth 4 → the car's device refuses to co-sign:",
        "approved payments allow",
        "nothing moved: booth 4's invoice is open",
    ] {
        assert!(story.contains(line), "{line:?} in {story}");
    }
}
