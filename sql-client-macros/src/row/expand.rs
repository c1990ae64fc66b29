//! Code generation for `#[derive(SqlRow)]`. Decides nothing: the attributes were checked.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields};

use super::attr::{self, Errors, FieldAttrs};

/// The derive's output: the impl, or the errors next to a stub impl so that uses of the
/// type raise no follow-on errors.
pub(crate) fn expand(input: &DeriveInput) -> TokenStream {
    match generate(input) {
        Ok(tokens) => tokens,
        Err(error) => {
            let ident = &input.ident;
            let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
            let error = error.into_compile_error();
            quote! {
                #error
                #[automatically_derived]
                impl #impl_generics ::sql_client::SqlRow for #ident #ty_generics #where_clause {
                    fn from_row(_: &::sql_client::Row) -> ::core::result::Result<Self, ::sql_client::RowError> {
                        ::core::unimplemented!()
                    }
                }
            }
        }
    }
}

fn generate(input: &DeriveInput) -> Result<TokenStream, syn::Error> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "SqlRow can be derived for structs with named fields only",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new(
            input.ident.span(),
            "SqlRow needs named fields: each field reads the column of its name",
        ));
    };
    let mut errors = Errors::default();
    let container = attr::container(&input.attrs, &mut errors);
    let fields: Vec<(&syn::Field, FieldAttrs)> = fields
        .named
        .iter()
        .map(|f| (f, attr::field(&f.attrs, &mut errors)))
        .collect();
    errors.finish()?;

    let ident = &input.ident;
    let mut inits = Vec::new();
    let mut required = Vec::new();
    // What each field's type reads, for `sql!(as Self, ...)` with a schema.
    let mut reads = Vec::new();
    for (field, attrs) in &fields {
        let Some(name) = &field.ident else { continue };
        let ty = &field.ty;
        let field_name = name.to_string().trim_start_matches("r#").to_owned();
        let column = match (&attrs.rename, container.rename_all) {
            (Some((rename, _)), _) => rename.value(),
            (None, Some(rule)) => rule.apply(&field_name),
            (None, None) => field_name.clone(),
        };
        let value = if attrs.skip.is_some() {
            quote_spanned! {ty.span()=> ::core::default::Default::default() }
        } else if attrs.flatten.is_some() {
            quote_spanned! {ty.span()=> <#ty as ::sql_client::SqlRow>::from_row(row)? }
        } else {
            let field_reads = match (&attrs.json, &attrs.try_from) {
                (Some(_), _) => quote! { ::sql_client::__private::Reads::ANY },
                (None, Some((from, _))) => {
                    quote! { <#from as ::sql_client::FromSqlValue>::READS }
                }
                (None, None) => quote! { <#ty as ::sql_client::FromSqlValue>::READS },
            };
            reads.push(quote! { (#column, #field_reads) });
            let read = match (&attrs.json, &attrs.try_from) {
                (Some(_), _) => quote_spanned! {ty.span()=> row.get_json::<#ty>(#column) },
                (None, Some((from, _))) => {
                    quote_spanned! {ty.span()=> ::sql_client::__private::try_from_column::<#from, #ty>(row, #column) }
                }
                (None, None) => quote_spanned! {ty.span()=> row.get::<#ty>(#column) },
            };
            if attrs.default.is_some() {
                quote! { ::sql_client::__private::or_default(row, #column, #read)? }
            } else {
                let message = format!(
                    "the select list has no column `{column}` for field `{field_name}` of `{ident}`; select it (or alias an expression AS {column})"
                );
                required.push(quote! { (#column, #message) });
                quote! { #read? }
            }
        };
        inits.push(quote! { #name: #value });
    }

    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::sql_client::SqlRow for #ident #ty_generics #where_clause {
            const REQUIRED_COLUMNS: &'static [(&'static str, &'static str)] = &[#(#required),*];
            const FIELDS: &'static [(&'static str, ::sql_client::__private::Reads)] = &[#(#reads),*];

            fn from_row(row: &::sql_client::Row) -> ::core::result::Result<Self, ::sql_client::RowError> {
                ::core::result::Result::Ok(Self { #(#inits),* })
            }
        }
    })
}
