//! Sales reports: reconciled rows as JSON (with totals) or CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_wire::reports::{FiatAmount, Quote, SalesReport, SalesRow};

use super::error::ApiError;
use super::AppState;
use crate::accounting::sales_csv;
use crate::reconcile::{SaleOrigin, SaleRow, SalesTotals};

fn row(r: &SaleRow) -> SalesRow {
    let (pool_id, index, product, deputy_counter) = match r.origin {
        SaleOrigin::Pool { pool_id, index, product } => {
            (Some(pool_id.to_string()), Some(index), Some(product), None)
        }
        SaleOrigin::Deputy { counter } => (None, None, None, Some(counter)),
        SaleOrigin::Card { .. } | SaleOrigin::Token { .. } => (None, None, None, None),
    };
    SalesRow {
        device_id: r.device_id.to_string(),
        kind: r.origin.kind().to_owned(),
        pool_id,
        index,
        product,
        deputy_counter,
        payer_counter: r.origin.payer_counter(),
        payment_hash: hex::encode(r.payment_hash),
        status: r.status.as_str().to_owned(),
        amount_msat: r.amount_msat,
        paid_at: r.paid_at,
        quote: r.quote.as_ref().map(|q| Quote {
            currency: q.currency.clone(),
            rate_per_btc: q.rate_per_btc,
            source: q.source.clone(),
        }),
        // A decimal string with 2 places (as in the CSV): money is never a float in the API.
        fiat: r
            .fiat_amount()
            .map(|(currency, amount)| FiatAmount { currency, amount: format!("{amount:.2}") }),
    }
}

/// `GET /v1/reports/sales` → [`SalesReport`]: `{rows: [...], totals: {amount_msat, rows,
/// by_status, by_device, by_product}}` ([`SalesTotals`]).
pub(crate) async fn sales(
    State(state): State<AppState>,
) -> Result<Json<SalesReport<SalesTotals>>, ApiError> {
    let rows = state.gateway.sales_report().await?;
    let totals = SalesTotals::of(&rows);
    Ok(Json(SalesReport { rows: rows.iter().map(row).collect(), totals }))
}

/// `GET /v1/reports/sales.csv` → the same rows as CSV (`text/csv`).
pub(crate) async fn sales_csv_file(State(state): State<AppState>) -> Result<Response, ApiError> {
    let rows = state.gateway.sales_report().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"sales.csv\""),
        ],
        sales_csv(&rows),
    )
        .into_response())
}
