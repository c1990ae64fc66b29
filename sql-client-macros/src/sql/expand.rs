//! Code generation for `sql!`. Decides nothing: the call was checked.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use sql_core::{Dialect, OutputColumn, ParamUse, SqlType, StatementKind};
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
        facts,
    } = checked;
    let kind = match kind {
        StatementKind::Insert => quote!(::sql_client::Insert),
        StatementKind::Update => quote!(::sql_client::Update),
        StatementKind::Delete => quote!(::sql_client::Delete),
        _ => quote!(::sql_client::Select),
    };
    let shape = match (template, &facts) {
        // Rows are typed per column up to the longest tuple a row can be.
        (true, Some(facts)) if placeholders <= 12 => {
            let columns = (1..=placeholders).map(|n| column_marker(facts.analysis.param(n)));
            quote!(::sql_client::Rows<#placeholders, (#(#columns,)*)>)
        }
        (true, _) => quote!(::sql_client::Rows<#placeholders>),
        (false, _) => quote!(::sql_client::Bound),
    };
    let sql = &input.sql;
    // Arguments are borrowed and encoded now; an encoding failure surfaces when the query
    // runs, so `sql!` itself never needs `?`.
    let args = input.args.iter().enumerate().map(|(i, arg)| {
        let param = facts.as_ref().and_then(|f| f.analysis.param(i + 1));
        match param.and_then(|p| marker(p.ty()).map(|m| (p, m))) {
            Some((param, marker)) => typed_encode(i + 1, param, &marker, arg, sql.span()),
            None => quote_spanned! {arg.span()=> ::sql_client::__private::encode(&(#arg)) },
        }
    });
    // Tracks the manifest and the migrations, so that changing the declared plugin or a
    // migration recompiles the queries.
    let tracked = crate::track::untracked(manifest.as_deref())
        .into_iter()
        .chain(facts.iter().flat_map(|f| f.track.iter().cloned()))
        .map(|path| {
            let path = path.display().to_string();
            quote! { const _: &[u8] = ::core::include_bytes!(#path); }
        });
    let track = quote! { #(#tracked)* };
    let columns_check = match (&input.row_type, columns) {
        (Some(ty), Some(columns)) => Some(quote_spanned! {ty.span()=>
            const _: () = ::sql_client::__private::require_columns::<#ty>(&[#(#columns),*]);
        }),
        _ => None,
    };
    let fields_check = match (&input.row_type, facts.as_ref()) {
        (Some(ty), Some(facts)) => facts.analysis.columns().map(|columns| {
            let type_name = quote!(#ty).to_string().replace(' ', "");
            let known = columns
                .iter()
                .map(|c| known_column(c, facts.dialect, &type_name));
            quote_spanned! {ty.span()=>
                const _: () = ::sql_client::__private::check_fields::<#ty>(&[#(#known),*]);
            }
        }),
        _ => None,
    };
    // The database must see `AS "top"` where the check read `AS "top!"`.
    let sent = sql_core::strip_nullability_overrides(
        &sql.value(),
        facts
            .as_ref()
            .map_or(sql_core::Dialect::Sqlite, |f| f.dialect),
    );
    let sql = match &sent {
        Some(text) => quote_spanned! {sql.span()=> #text },
        None => quote!(#sql),
    };
    Ok(quote! {
        {
            #track
            #columns_check
            #fields_check
            ::sql_client::Query::<#kind, #shape>::__from_macro(#sql, #placeholders, ::std::vec![#(#args),*], #plugin)
        }
    })
}

/// The `sql_client::types` marker of a column type; `None` where nothing is checked.
fn marker(ty: SqlType) -> Option<TokenStream> {
    let name = match ty {
        SqlType::Integer => "Integer",
        SqlType::Real => "Real",
        SqlType::Numeric => "Numeric",
        SqlType::Text => "Text",
        SqlType::Blob => "Blob",
        SqlType::Boolean => "Boolean",
        SqlType::Date => "Date",
        SqlType::Time => "Time",
        SqlType::Timestamp => "Timestamp",
        SqlType::TimestampTz => "TimestampTz",
        SqlType::Json => "Json",
        SqlType::Uuid => "Uuid",
        _ => return None,
    };
    let ident = syn::Ident::new(name, Span::call_site());
    Some(quote!(::sql_client::types::#ident))
}

/// The column type of one placeholder of a row template.
fn column_marker(param: Option<&ParamUse>) -> TokenStream {
    match param.and_then(|p| marker(p.ty()).map(|m| (p, m))) {
        Some((p, m)) if p.accepts_null() => quote!(::sql_client::types::Nullable<#m>),
        Some((_, m)) => m,
        None => quote!(::sql_client::types::Unchecked),
    }
}

/// Encodes argument `n` through a function whose bound requires it to fit its column.
/// The function's name says which placeholder and column it stands for, so the compiler's
/// "required by a bound in ..." note names both; its bound is spanned at the SQL.
fn typed_encode(
    n: usize,
    param: &ParamUse,
    marker: &TokenStream,
    arg: &syn::Expr,
    sql: Span,
) -> TokenStream {
    let column: String = param
        .column()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let name = syn::Ident::new(&format!("placeholder_{n}_takes_{column}"), sql);
    let bound = match (param.takes_list(), param.accepts_null()) {
        (true, true) => {
            quote_spanned! {sql=> ::sql_client::types::FitsIn<::sql_client::types::Nullable<#marker>> }
        }
        (true, false) => quote_spanned! {sql=> ::sql_client::types::FitsIn<#marker> },
        (false, true) => quote_spanned! {sql=> ::sql_client::types::FitsNullable<#marker> },
        (false, false) => quote_spanned! {sql=> ::sql_client::types::Fits<#marker> },
    };
    let call = quote_spanned! {arg.span()=> #name(&(#arg)) };
    quote_spanned! {sql=>
        {
            #[allow(non_snake_case)]
            fn #name<T: ?::core::marker::Sized + ::sql_client::__private::Serialize + #bound>(
                value: &T,
            ) -> ::core::result::Result<::sql_client::__private::Value, ::std::string::String> {
                ::sql_client::__private::encode(value)
            }
            #call
        }
    }
}

/// One result column for `check_fields`: its name, type bit, whether it can be NULL, and
/// the two messages a field that cannot hold it gets.
fn known_column(column: &OutputColumn, dialect: Dialect, row_type: &str) -> TokenStream {
    let name = column.name();
    let (bit, read_as) = read_bit(column.ty(), dialect);
    let bit = syn::Ident::new(bit, Span::call_site());
    let nullable = column.nullability().may_be_null();
    let from = column
        .origin()
        .map_or_else(String::new, |origin| format!(" ({origin})"));
    let wrong_type = format!(
        "column `{name}`{from} is {}, which the field of `{row_type}` that reads it cannot hold; read it as {read_as}",
        column.ty()
    );
    let why = match column.origin() {
        Some(origin) => format!(
            "{origin} has no NOT NULL, or is on the nullable side of an outer join"
        ),
        None => "an aggregate over no rows, a scalar subquery, a CASE without ELSE or a NULL input makes it NULL".to_owned(),
    };
    let maybe_null = format!(
        "column `{name}` can be NULL ({why}), but the field of `{row_type}` that reads it is not an Option: make it Option<_>, or alias the column AS \"{name}!\" if it is never NULL"
    );
    quote! { (#name, ::sql_client::__private::read::#bit, #nullable, #wrong_type, #maybe_null) }
}

/// The `__private::read` constant of a column type (its SQL name; PostgreSQL's NUMERIC
/// arrives as text) and the field types that hold it.
fn read_bit(ty: SqlType, dialect: Dialect) -> (&'static str, &'static str) {
    let postgres = dialect == Dialect::Postgres;
    let constant = if postgres && ty == SqlType::Numeric {
        "NUMERIC_TEXT"
    } else {
        ty.as_str()
    };
    let read_as = match ty {
        SqlType::Integer => "i64 (or another integer type), or bool for 0/1",
        SqlType::Real => "f64 or f32",
        SqlType::Numeric if postgres => "f64, or String for the exact value",
        SqlType::Numeric => "f64 or an integer type",
        SqlType::Text => "String (or a chrono or time type for dates kept as text)",
        SqlType::Blob => "Vec<u8>",
        SqlType::Boolean => "bool",
        SqlType::Date => "String, chrono::NaiveDate or time::Date",
        SqlType::Time => "String, chrono::NaiveTime or time::Time",
        SqlType::Timestamp => "String, chrono::NaiveDateTime or time::PrimitiveDateTime",
        SqlType::TimestampTz => "String, chrono::DateTime<Utc> or time::OffsetDateTime",
        SqlType::Json => "serde_json::Value, or a #[sql(json)] field",
        SqlType::Uuid => "String",
        _ => "any type",
    };
    (constant, read_as)
}
