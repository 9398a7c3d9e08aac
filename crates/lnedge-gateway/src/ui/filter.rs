//! The sales page's filter: what the query string asks for, checked, and which rows match. The
//! page and its CSV export read the same filter, so the export is exactly what is shown
//! (every page of it).

use lnedge_proto::DeviceId;
use serde::Deserialize;

use crate::reconcile::{SaleRow, SaleStatus};

/// Rows per page of the sales table.
pub const SALES_PAGE_ROWS: usize = 100;

/// The query string of `/ui/sales` and `/ui/sales.csv`; empty fields mean "any".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SalesQuery {
    /// A device id (32 hex characters).
    #[serde(default)]
    pub device: String,
    /// A product number.
    #[serde(default)]
    pub product: String,
    /// A status (`delivered`, `refund_due`, …).
    #[serde(default)]
    pub status: String,
    /// A kind (`pool`, `deputy`, `card`, `token`).
    #[serde(default)]
    pub kind: String,
    /// First day, `YYYY-MM-DD` (UTC), by the day the sale was paid.
    #[serde(default)]
    pub from: String,
    /// Last day, `YYYY-MM-DD` (UTC), included.
    #[serde(default)]
    pub to: String,
    /// The page (1 first).
    #[serde(default)]
    pub page: String,
}

/// A checked filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SalesFilter {
    /// Only this device's rows.
    pub device: Option<DeviceId>,
    /// Only this product's (pool rows).
    pub product: Option<u16>,
    /// Only rows with this status.
    pub status: Option<SaleStatus>,
    /// Only rows of this kind.
    pub kind: Option<&'static str>,
    /// Paid at or after this second.
    pub from_secs: Option<u64>,
    /// Paid before this second.
    pub until_secs: Option<u64>,
    /// The page (1 first).
    pub page: usize,
}

/// Every status the filter knows, in the order the page lists them.
pub(super) const STATUSES: [SaleStatus; 8] = [
    SaleStatus::Delivered,
    SaleStatus::RefundDue,
    SaleStatus::Refunded,
    SaleStatus::RefundExpired,
    SaleStatus::OutcomeUnknown,
    SaleStatus::PaidNotClaimed,
    SaleStatus::ClaimedNotPaid,
    SaleStatus::Spent,
];

/// Every kind the filter knows.
pub(super) const KINDS: [&str; 4] = ["pool", "deputy", "card", "token"];

/// Seconds since the epoch at 00:00 UTC of `YYYY-MM-DD`.
fn day_start(field: &str, text: &str) -> Result<u64, String> {
    let bad = || format!("{field}: {text:?} is not a date (YYYY-MM-DD)");
    let mut parts = text.splitn(3, '-');
    let (y, m, d) = (parts.next(), parts.next(), parts.next());
    let (Some(y), Some(m), Some(d)) = (y, m, d) else { return Err(bad()) };
    let (y, m, d) = (
        y.parse::<i32>().map_err(|_| bad())?,
        m.parse::<u8>().map_err(|_| bad())?,
        d.parse::<u8>().map_err(|_| bad())?,
    );
    let month = time::Month::try_from(m).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(y, month, d).map_err(|_| bad())?;
    let secs = date.midnight().assume_utc().unix_timestamp();
    u64::try_from(secs).map_err(|_| format!("{field}: {text:?} is before 1970"))
}

impl SalesQuery {
    /// The checked filter, or a message naming the field that is wrong.
    pub fn check(&self) -> Result<SalesFilter, String> {
        let text = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
        let device = text(&self.device)
            .map(|d| {
                let bytes = hex::decode(&d).ok().and_then(|b| <[u8; 16]>::try_from(b).ok());
                bytes
                    .map(DeviceId)
                    .ok_or_else(|| format!("device: {d:?} is not a device id (32 hex characters)"))
            })
            .transpose()?;
        let product = text(&self.product)
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("product: {p:?} is not a product number (0–65535)"))
            })
            .transpose()?;
        let status = text(&self.status)
            .map(|s| {
                STATUSES
                    .into_iter()
                    .find(|k| k.as_str() == s)
                    .ok_or_else(|| format!("status: {s:?} is not a status"))
            })
            .transpose()?;
        let kind = text(&self.kind)
            .map(|k| {
                KINDS
                    .into_iter()
                    .find(|x| *x == k)
                    .ok_or_else(|| format!("kind: {k:?} is not a kind"))
            })
            .transpose()?;
        let from_secs = text(&self.from).map(|f| day_start("from", &f)).transpose()?;
        let until_secs =
            text(&self.to).map(|t| day_start("to", &t).map(|s| s + 86_400)).transpose()?;
        if let (Some(f), Some(u)) = (from_secs, until_secs) {
            if u <= f {
                return Err("to: the last day is before the first".into());
            }
        }
        let page = match text(&self.page) {
            None => 1,
            Some(p) => p
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| format!("page: {p:?} is not a page number"))?,
        };
        Ok(SalesFilter { device, product, status, kind, from_secs, until_secs, page })
    }
}

impl SalesFilter {
    /// Whether `row` is one the filter keeps. A date range keeps only paid rows.
    pub fn matches(&self, row: &SaleRow) -> bool {
        use crate::reconcile::SaleOrigin;
        let product_ok = match (self.product, row.origin) {
            (None, _) => true,
            (Some(p), SaleOrigin::Pool { product, .. }) => p == product,
            (Some(_), _) => false,
        };
        let dated = self.from_secs.is_some() || self.until_secs.is_some();
        let date_ok = match row.paid_at {
            Some(at) => {
                self.from_secs.is_none_or(|f| at >= f) && self.until_secs.is_none_or(|u| at < u)
            }
            None => !dated,
        };
        self.device.is_none_or(|d| d == row.device_id)
            && product_ok
            && self.status.is_none_or(|s| s == row.status)
            && self.kind.is_none_or(|k| k == row.origin.kind())
            && date_ok
    }

    /// The query string of this filter without the page (for the CSV link and the pages').
    pub fn query(&self, query: &SalesQuery) -> String {
        let pairs = [
            ("device", &query.device),
            ("product", &query.product),
            ("status", &query.status),
            ("kind", &query.kind),
            ("from", &query.from),
            ("to", &query.to),
        ];
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            if !value.trim().is_empty() {
                out.append_pair(name, value.trim());
            }
        }
        out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::SaleOrigin;
    use lnedge_proto::PoolId;

    fn row(device: u8, product: u16, status: SaleStatus, paid_at: Option<u64>) -> SaleRow {
        SaleRow {
            device_id: DeviceId([device; 16]),
            origin: SaleOrigin::Pool { pool_id: PoolId([1; 8]), index: 0, product },
            payment_hash: [device; 32],
            status,
            amount_msat: 1_000,
            paid_at,
            quote: None,
        }
    }

    #[test]
    fn each_field_filters_and_bad_values_are_named() {
        let q = |f: fn(&mut SalesQuery)| {
            let mut q = SalesQuery::default();
            f(&mut q);
            q.check()
        };
        let all = q(|_| {}).unwrap();
        assert!(all.matches(&row(1, 1, SaleStatus::Delivered, None)));
        let dev = q(|q| q.device = hex::encode([2u8; 16])).unwrap();
        assert!(!dev.matches(&row(1, 1, SaleStatus::Delivered, None)));
        assert!(dev.matches(&row(2, 1, SaleStatus::Delivered, None)));
        let status = q(|q| q.status = "refund_due".into()).unwrap();
        assert!(status.matches(&row(1, 1, SaleStatus::RefundDue, None)));
        assert!(!status.matches(&row(1, 1, SaleStatus::Delivered, None)));
        // 2026-12-07 is 1,796,601,600 s; `to` includes its whole day.
        let days = q(|q| {
            q.from = "2026-12-07".into();
            q.to = "2026-12-07".into();
        })
        .unwrap();
        assert_eq!(days.from_secs, Some(1_796_601_600));
        assert!(days.matches(&row(1, 1, SaleStatus::Delivered, Some(1_796_601_600 + 86_399))));
        assert!(!days.matches(&row(1, 1, SaleStatus::Delivered, Some(1_796_601_600 + 86_400))));
        assert!(!days.matches(&row(1, 1, SaleStatus::Delivered, None)), "unpaid rows have no day");
        let product = q(|q| q.product = "2".into()).unwrap();
        assert!(!product.matches(&row(1, 1, SaleStatus::Delivered, None)));

        for (f, field) in [
            ((|q: &mut SalesQuery| q.device = "zz".into()) as fn(&mut SalesQuery), "device"),
            (|q| q.product = "x".into(), "product"),
            (|q| q.status = "paid".into(), "status"),
            (|q| q.kind = "cash".into(), "kind"),
            (|q| q.from = "2026-13-01".into(), "from"),
            (|q| q.to = "yesterday".into(), "to"),
            (|q| q.page = "0".into(), "page"),
        ] {
            let e = q(f).unwrap_err();
            assert!(e.starts_with(field), "{field}: {e}");
        }
        let reversed = q(|q| {
            q.from = "2026-12-07".into();
            q.to = "2026-12-01".into();
        });
        assert!(reversed.unwrap_err().starts_with("to"));
    }
}
