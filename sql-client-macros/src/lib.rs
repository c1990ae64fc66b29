//! Procedural macros of `sql-client`: `sql!` and `#[derive(SqlRow)]`. Use them through
//! `sql-client`, which re-exports both and documents them.
//!
//! Entry points only: each parses its input, calls the module that does the work, and
//! turns errors into `compile_error!`. The SQL checks are `sql-core`'s policy, the same
//! code the handler runs.

use proc_macro::TokenStream;

mod manifest;
mod row;
mod schema;
mod sql;
mod track;

/// Checks a statement at compile time and builds a `sql_client::Query` typed by its kind.
/// See `sql_client::sql!`.
#[proc_macro]
pub fn sql(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as sql::SqlInput);
    sql::expand(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `sql_client::SqlRow` for a struct with named fields. See `sql_client::SqlRow`.
#[proc_macro_derive(SqlRow, attributes(sql))]
pub fn derive_sql_row(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    row::expand(&input).into()
}
