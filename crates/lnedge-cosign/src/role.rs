//! The two parties of a joint key.

use dkls23::protocols::PartyIndex;
use serde::{Deserialize, Serialize};

/// Which side of the 2-of-2 a party is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The device that owns the money: it approves every signature against its policy.
    Device,
    /// The operator's gateway, which runs the Lightning node and channel.
    Gateway,
}

impl Role {
    /// The DKLs23 party index of this role (the device is 1, the gateway 2).
    pub(crate) fn index(self) -> PartyIndex {
        let raw = match self {
            Role::Device => 1,
            Role::Gateway => 2,
        };
        PartyIndex::new(raw).expect("1 and 2 are valid party indexes")
    }

    /// The other party.
    pub fn peer(self) -> Role {
        match self {
            Role::Device => Role::Gateway,
            Role::Gateway => Role::Device,
        }
    }
}
