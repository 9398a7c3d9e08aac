//! One entry's state and its one-byte flash encoding.
//!
//! The byte is four groups of two bits; an erased byte (`0xFF`) is [`EntryState::Unused`] and every
//! transition only clears bits:
//!
//! | bits      | group | cleared when the entry reaches |
//! |-----------|-------|--------------------------------|
//! | `0b0000_0011` | O | offered (and every later state) |
//! | `0b0000_1100` | C | claimed (and every later state) |
//! | `0b0011_0000` | D | dispensed                      |
//! | `0b1100_0000` | F | failed                         |
//!
//! See [`EntryState::decode`] for what a byte left behind by a torn write means.

use core::fmt;

/// The value of an erased entry byte: [`EntryState::Unused`].
pub const ERASED: u8 = 0xFF;

/// Bits cleared by the offer.
const GROUP_O: u8 = 0b0000_0011;
/// Bits cleared by the claim.
const GROUP_C: u8 = 0b0000_1100;
/// Bits cleared by "dispensed".
const GROUP_D: u8 = 0b0011_0000;
/// Bits cleared by "failed".
const GROUP_F: u8 = 0b1100_0000;

/// How far a two-bit group has been cleared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Both bits still set: the write that clears this group never started.
    Untouched,
    /// One bit cleared: the write was cut.
    Partial,
    /// Both bits cleared: the write completed.
    Done,
}

const fn group(byte: u8, mask: u8) -> Group {
    let left = byte & mask;
    if left == mask {
        Group::Untouched
    } else if left == 0 {
        Group::Done
    } else {
        Group::Partial
    }
}

/// The life of one pool entry: `Unused → Offered → Claimed → Dispensed | Failed`.
///
/// `Offered → Offered` is allowed (an unpaid offer is simply shown again); no state ever goes
/// back, in particular an offered entry never becomes unused again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryState {
    /// Never shown to a customer.
    Unused,
    /// Its invoice was shown; nobody has presented the preimage yet.
    Offered,
    /// The preimage was presented and the claim persisted; the outcome of the vend is not
    /// recorded yet (before the motor ran, while it runs, or after a crash).
    Claimed,
    /// The product was released. Final.
    Dispensed,
    /// The vend failed after a claim: the entry is refundable. Final.
    Failed,
}

impl EntryState {
    /// Every state, in order of progress.
    pub const ALL: [EntryState; 5] = [
        EntryState::Unused,
        EntryState::Offered,
        EntryState::Claimed,
        EntryState::Dispensed,
        EntryState::Failed,
    ];

    /// The canonical byte of this state (what a completed write leaves in flash).
    ///
    /// `Unused = 0xFF`, `Offered = 0xFC`, `Claimed = 0xF0`, `Dispensed = 0xC0`, `Failed = 0x30`.
    pub const fn encoding(self) -> u8 {
        match self {
            EntryState::Unused => ERASED,
            EntryState::Offered => ERASED & !GROUP_O,
            EntryState::Claimed => ERASED & !GROUP_O & !GROUP_C,
            EntryState::Dispensed => ERASED & !GROUP_O & !GROUP_C & !GROUP_D,
            EntryState::Failed => ERASED & !GROUP_O & !GROUP_C & !GROUP_F,
        }
    }

    /// Decodes any byte; total (every one of the 256 values maps to a state).
    ///
    /// The rule, first match wins:
    /// 1. D group fully cleared → `Dispensed` (also when F is fully cleared too, which no
    ///    sequence of legal writes produces: a refund needs an unambiguous `Failed`);
    /// 2. F group fully cleared → `Failed`;
    /// 3. any bit of C, D or F cleared → `Claimed`. A cut claim counts as claimed (the entry is
    ///    never offered again; it is reported pending and the motor never ran for it), and a cut
    ///    `dispensed`/`failed` write leaves the entry claimed, i.e. pending;
    /// 4. any bit of O cleared → `Offered` (a cut offer is harmless either way);
    /// 5. otherwise `Unused`.
    ///
    /// So writes *before* the motor (offer, claim) are rounded up when cut, writes of the
    /// *outcome* are rounded down: a cut write always leaves the entry unusable for a new sale
    /// and, if it was paid, pending for a human.
    pub const fn decode(byte: u8) -> Self {
        let d = group(byte, GROUP_D);
        let f = group(byte, GROUP_F);
        if matches!(d, Group::Done) {
            EntryState::Dispensed
        } else if matches!(f, Group::Done) {
            EntryState::Failed
        } else if byte & (GROUP_C | GROUP_D | GROUP_F) != (GROUP_C | GROUP_D | GROUP_F) {
            EntryState::Claimed
        } else if byte & GROUP_O != GROUP_O {
            EntryState::Offered
        } else {
            EntryState::Unused
        }
    }

    /// True for `Dispensed` and `Failed`: nothing may be written to the entry any more.
    pub const fn is_final(self) -> bool {
        matches!(self, EntryState::Dispensed | EntryState::Failed)
    }

    /// True once a customer has presented the preimage (`Claimed`, `Dispensed`, `Failed`).
    pub const fn is_claimed(self) -> bool {
        matches!(self, EntryState::Claimed | EntryState::Dispensed | EntryState::Failed)
    }

    /// Progress rank: 0 unused, 1 offered, 2 claimed, 3 dispensed or failed.
    pub const fn rank(self) -> u8 {
        match self {
            EntryState::Unused => 0,
            EntryState::Offered => 1,
            EntryState::Claimed => 2,
            EntryState::Dispensed | EntryState::Failed => 3,
        }
    }

    /// True if an entry in `self` may later be seen in `later` (equal included).
    pub const fn may_become(self, later: EntryState) -> bool {
        match self {
            EntryState::Unused => true,
            EntryState::Offered => !matches!(later, EntryState::Unused),
            EntryState::Claimed => later.is_claimed(),
            EntryState::Dispensed => matches!(later, EntryState::Dispensed),
            EntryState::Failed => matches!(later, EntryState::Failed),
        }
    }

    /// Lower-case name, as in messages.
    pub const fn name(self) -> &'static str {
        match self {
            EntryState::Unused => "unused",
            EntryState::Offered => "offered",
            EntryState::Claimed => "claimed",
            EntryState::Dispensed => "dispensed",
            EntryState::Failed => "failed",
        }
    }
}

impl fmt::Display for EntryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one entry byte says: its state and whether the byte is that state's canonical encoding
/// (`false` means a write to it was cut).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Reading {
    /// The decoded state ([`EntryState::decode`]).
    pub state: EntryState,
    /// The raw byte.
    pub byte: u8,
}

impl Reading {
    /// Reads one entry byte.
    pub const fn of(byte: u8) -> Self {
        Reading { state: EntryState::decode(byte), byte }
    }

    /// True when the byte is exactly the encoding of its state (no cut write left a trace).
    pub const fn is_canonical(&self) -> bool {
        self.byte == self.state.encoding()
    }

    /// For a `Claimed` entry, why it is still pending; `None` for every other state.
    pub const fn pending_reason(&self) -> Option<PendingReason> {
        if !matches!(self.state, EntryState::Claimed) {
            return None;
        }
        let o = group(self.byte, GROUP_O);
        let c = group(self.byte, GROUP_C);
        let d = group(self.byte, GROUP_D);
        let f = group(self.byte, GROUP_F);
        Some(match (d, f) {
            (Group::Partial, Group::Untouched) => PendingReason::DispensedCut,
            (Group::Untouched, Group::Partial) => PendingReason::FailedCut,
            (Group::Untouched, Group::Untouched)
                if !matches!(c, Group::Done) || !matches!(o, Group::Done) =>
            {
                PendingReason::ClaimCut
            }
            _ => PendingReason::Unresolved,
        })
    }
}

/// Why a claimed entry has no recorded outcome (found when a ledger is opened after a crash).
///
/// None of these may run the motor again by themselves: the operator (or the customer through
/// the refund flow) resolves them as `dispensed` or `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PendingReason {
    /// The claim write itself was cut: the claim was never acknowledged and the motor never ran
    /// for it. The customer paid (only a valid preimage starts a claim): resolve as `failed`.
    ClaimCut,
    /// The claim completed but no outcome was written: the motor may or may not have run.
    Unresolved,
    /// Writing `dispensed` was cut: the motor ran and reported success.
    DispensedCut,
    /// Writing `failed` was cut: the motor reported a failure.
    FailedCut,
}

impl fmt::Display for PendingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PendingReason::ClaimCut => "claim write cut, motor never ran",
            PendingReason::Unresolved => "claimed, outcome unknown",
            PendingReason::DispensedCut => "dispensed write cut",
            PendingReason::FailedCut => "failed write cut",
        })
    }
}
