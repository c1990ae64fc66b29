//! Procedural macros of `sql-client`.
//!
//! The `sql!` macro and `#[derive(SqlRow)]` arrive with the compile-time checking work;
//! this crate exists now so that the workspace layout is complete.
