//! The gateway against a hostile network and hostile local users (issue #12): each finding of
//! the black-box run is kept here as a regression, one module per area.

mod edges;
mod files;
mod identity;
mod input;
mod limits;
mod purge;
mod rate;
