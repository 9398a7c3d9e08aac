//! Sales reports: reconciled rows as JSON (with totals) or CSV.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::accounting::sales_csv;
use crate::reconcile::{sales_report, SaleOrigin, SaleRow};

fn row_json(r: &SaleRow) -> Value {
    let (pool_id, index, product, counter) = match r.origin {
        SaleOrigin::Pool { pool_id, index, product } => {
            (Some(pool_id.to_string()), Some(index), Some(product), None)
        }
        SaleOrigin::Deputy { counter } => (None, None, None, Some(counter)),
    };
    json!({
        "device_id": r.device_id.to_string(),
        "kind": r.origin.kind(),
        "pool_id": pool_id,
        "index": index,
        "product": product,
        "deputy_counter": counter,
        "payment_hash": hex::encode(r.payment_hash),
        "status": r.status.as_str(),
        "amount_msat": r.amount_msat,
        "paid_at": r.paid_at,
        "quote": r.quote.as_ref().map(|q| json!({
            "currency": q.currency,
            "rate_per_btc": q.rate_per_btc,
            "source": q.source,
        })),
        // A decimal string with 2 places (as in the CSV): money is never a float in the API.
        "fiat": r.fiat_amount().map(|(currency, amount)| json!({ "currency": currency, "amount": format!("{amount:.2}") })),
    })
}

#[derive(Default)]
struct Total {
    amount_msat: u64,
    rows: u64,
    by_status: BTreeMap<&'static str, u64>,
}

impl Total {
    fn add(&mut self, r: &SaleRow) {
        self.amount_msat = self.amount_msat.saturating_add(r.amount_msat);
        self.rows += 1;
        *self.by_status.entry(r.status.as_str()).or_default() += 1;
    }

    fn json(&self) -> Value {
        json!({ "amount_msat": self.amount_msat, "rows": self.rows, "by_status": self.by_status })
    }
}

/// `GET /v1/reports/sales` → `{rows: [...], totals: {amount_msat, rows, by_device, by_product}}`.
///
/// `by_product` is keyed `<device_id>/<product id>` (product ids are a device's slots), and
/// `<device_id>/deputy` for the device's deputy sales.
pub(crate) async fn sales(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let rows = sales_report(state.gateway.store().as_ref()).await?;
    let mut all = Total::default();
    let mut by_device: BTreeMap<String, Total> = BTreeMap::new();
    let mut by_product: BTreeMap<String, Total> = BTreeMap::new();
    for r in &rows {
        all.add(r);
        by_device.entry(r.device_id.to_string()).or_default().add(r);
        let product = match r.origin {
            SaleOrigin::Pool { product, .. } => product.to_string(),
            SaleOrigin::Deputy { .. } => "deputy".to_owned(),
        };
        by_product.entry(format!("{}/{product}", r.device_id)).or_default().add(r);
    }
    let map = |m: &BTreeMap<String, Total>| {
        m.iter().map(|(k, t)| (k.clone(), t.json())).collect::<serde_json::Map<_, _>>()
    };
    let mut totals = all.json();
    totals["by_device"] = Value::Object(map(&by_device));
    totals["by_product"] = Value::Object(map(&by_product));
    Ok(Json(json!({ "rows": rows.iter().map(row_json).collect::<Vec<_>>(), "totals": totals })))
}

/// `GET /v1/reports/sales.csv` → the same rows as CSV (`text/csv`).
pub(crate) async fn sales_csv_file(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rows = sales_report(state.gateway.store().as_ref()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"sales.csv\""),
        ],
        sales_csv(&rows),
    )
        .into_response())
}
