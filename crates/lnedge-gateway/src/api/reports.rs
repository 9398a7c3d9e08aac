//! Sales reports: reconciled rows as JSON (with totals) or CSV.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_wire::reports::{FiatAmount, Quote, SalesReport, SalesRow};

use super::error::ApiError;
use super::AppState;
use crate::accounting::{write_sales_csv_row, SALES_CSV_HEADER};
use crate::reconcile::{SaleOrigin, SaleRow, SalesTotals};
use crate::store::StoreError;

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

/// `GET /v1/reports/sales.csv` → the same rows as CSV (`text/csv`), streamed: written a chunk
/// at a time while the store reads them, so memory stays flat however large the books. A
/// store failure part-way cuts the download short (logged): a client never gets a
/// complete-looking file that is not.
pub(crate) async fn sales_csv_file(State(state): State<AppState>) -> Response {
    let rows = state.gateway.sales_rows();
    let header = futures_util::stream::once(std::future::ready(Ok::<_, StoreError>(
        Bytes::from_static(SALES_CSV_HEADER.as_bytes()),
    )));
    let body = futures_util::stream::unfold(Some(rows), |rows| async move {
        let mut rows = rows?;
        let mut chunk = String::with_capacity(CSV_CHUNK_BYTES + 512);
        while chunk.len() < CSV_CHUNK_BYTES {
            match rows.recv().await {
                Some(Ok(row)) => write_sales_csv_row(&mut chunk, &row),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "sales report: the store failed part-way; the CSV download is cut short");
                    return Some((Err(e), None));
                }
                None if chunk.is_empty() => return None,
                None => return Some((Ok(Bytes::from(chunk)), None)),
            }
        }
        Some((Ok(Bytes::from(chunk)), Some(rows)))
    });
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"sales.csv\""),
        ],
        Body::from_stream(futures_util::StreamExt::chain(header, body)),
    )
        .into_response()
}

/// About how many bytes of CSV go out at a time.
const CSV_CHUNK_BYTES: usize = 64 * 1024;
