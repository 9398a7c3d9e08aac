//! Sessions (a proof of payment or an LNURL-auth login → a bearer token) and the refund records
//! the operator and the wallet pages read: the rules behind `/v1/sessions`, `/v1/auth/lnurl`,
//! `/v1/reports/refunds`, the attestation flag, the voucher page and the withdraw request.

use lnedge_proto::proof::attestation_key;
use lnedge_proto::DeviceId;

use super::{lnurl_auth, random_hex, token_hash, Refunds};
use crate::store::refunds::{AuthOutcome, RefundRecord, SessionRecord};
use crate::store::StoreError;

/// A session just issued: the bearer token (secret, shown once) and what is stored of it.
pub struct IssuedSession {
    /// The bearer token.
    pub token: String,
    /// The stored session (its token only as a hash).
    pub record: SessionRecord,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("token", &"<secret>")
            .field("record", &self.record)
            .finish()
    }
}

/// Why an LNURL-auth answer was refused before the challenge was looked at.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The signature does not verify for the key (or either is malformed).
    #[error("{0}")]
    BadSignature(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refunds<'_> {
    /// The refund of a payment, if one was opened (the voucher page shows its state).
    pub async fn of_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<RefundRecord>, StoreError> {
        self.gateway.store().refund(payment_hash).await
    }

    /// The refund bound to `k1` (the LNURL-withdraw request).
    pub async fn by_k1(&self, k1: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        self.gateway.store().refund_by_k1(k1).await
    }

    /// Every refund, due ones past their expiry marked expired first (the operator's report).
    pub async fn report(&self) -> Result<Vec<RefundRecord>, StoreError> {
        let store = self.gateway.store();
        store.expire_refunds(self.gateway.now_secs()).await?;
        store.refunds().await
    }

    /// Turns attestation of `device`'s refund vouchers on or off; when on, answers the
    /// device's attestation key (derived per device and purpose from the master key) to write
    /// into the device.
    pub async fn set_attestation(
        &self,
        device: DeviceId,
        enabled: bool,
    ) -> Result<Option<zeroize::Zeroizing<[u8; 32]>>, StoreError> {
        self.gateway.store().set_attestation(device, enabled).await?;
        Ok(enabled.then(|| {
            zeroize::Zeroizing::new(attestation_key(self.gateway.device_master_key(), &device))
        }))
    }

    /// Issues a session for a proven, paid payment: one live session per payment (an earlier
    /// one is revoked, so re-presenting the proof recovers the session), living
    /// [`session_ttl_secs`](super::RefundSettings::session_ttl_secs).
    pub async fn issue_payment_session(
        &self,
        payment_hash: [u8; 32],
    ) -> Result<IssuedSession, StoreError> {
        let (_, token) = random_hex();
        let now = self.gateway.now_secs();
        let record = SessionRecord {
            token_hash: token_hash(&token),
            subject: format!("payment:{}", hex::encode(payment_hash)),
            payment_hash: Some(payment_hash),
            created_at: now,
            expires_at: now.saturating_add(self.gateway.settings().refunds.session_ttl_secs),
        };
        self.gateway.store().issue_payment_session(&record).await?;
        Ok(IssuedSession { token, record })
    }

    /// The live session of a bearer `token`, if any.
    pub async fn session(&self, token: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.gateway.store().session(&token_hash(token), self.gateway.now_secs()).await
    }

    /// A wallet's LNURL-auth answer (LUD-04): the signature over `k1` must verify for `key`;
    /// then the challenge is answered once, before it expires, and its session becomes live for
    /// the linking key.
    pub async fn complete_login(
        &self,
        k1: &[u8; 32],
        sig: &str,
        key: &str,
    ) -> Result<AuthOutcome, LoginError> {
        let linking_key = lnurl_auth::verify(k1, sig, key)
            .map_err(|e| LoginError::BadSignature(e.to_string()))?;
        let now = self.gateway.now_secs();
        let until = now.saturating_add(self.gateway.settings().refunds.session_ttl_secs);
        Ok(self.gateway.store().complete_auth(k1, &linking_key.to_string(), now, until).await?)
    }
}
