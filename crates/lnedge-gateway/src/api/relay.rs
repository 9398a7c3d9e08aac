//! HTTP routes of [`crate::relay`].

use axum::Router;

use super::AppState;

/// This module's routes: (method, path, summary), merged into [`ROUTES`](super::ROUTES).
pub(crate) const ROUTES: &[super::ops::Route] = &[];

/// This module's routes, merged into [`app`](super::app). Admin routes take their
/// `route_layer(auth::require_admin)` here.
pub(crate) fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
}
