//! Code generation for `sql!`. Decides nothing: the call was checked.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use sql_core::StatementKind;
use syn::spanned::Spanned;

use super::check::{Checked, check};
use super::input::SqlInput;

pub(crate) fn expand(input: SqlInput) -> Result<TokenStream, syn::Error> {
    let checked = check(&input)?;
    let Checked {
        kind,
        template,
        placeholders,
        plugin,
        manifest,
        columns,
    } = checked;
    let kind = match kind {
        StatementKind::Insert => quote!(::sql_client::Insert),
        StatementKind::Update => quote!(::sql_client::Update),
        StatementKind::Delete => quote!(::sql_client::Delete),
        _ => quote!(::sql_client::Select),
    };
    let shape = if template {
        quote!(::sql_client::Rows<#placeholders>)
    } else {
        quote!(::sql_client::Bound)
    };
    let sql = &input.sql;
    // Arguments are borrowed and encoded now; an encoding failure surfaces when the query
    // runs, so `sql!` itself never needs `?`.
    let args = input.args.iter().map(|arg| {
        quote_spanned! {arg.span()=> ::sql_client::__private::encode(&(#arg)) }
    });
    // Tracks the manifest, so that changing the declared plugin recompiles the queries.
    let track = manifest.map(|path| {
        let path = path.display().to_string();
        quote! { const _: &[u8] = ::core::include_bytes!(#path); }
    });
    let columns_check = match (&input.row_type, columns) {
        (Some(ty), Some(columns)) => Some(quote_spanned! {ty.span()=>
            const _: () = ::sql_client::__private::require_columns::<#ty>(&[#(#columns),*]);
        }),
        _ => None,
    };
    Ok(quote! {
        {
            #track
            #columns_check
            ::sql_client::Query::<#kind, #shape>::__from_macro(#sql, #placeholders, ::std::vec![#(#args),*], #plugin)
        }
    })
}
