//! HTTP routes of [`crate::refunds`].

use axum::Router;

use super::AppState;

/// This module's routes: (method, path, summary), merged into [`ROUTES`](super::ROUTES).
pub(crate) const ROUTES: &[(&str, &str, &str)] = &[];

/// This module's routes, merged into [`app`](super::app). Admin routes take their
/// `route_layer(auth::require_admin)` here.
pub(crate) fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}
