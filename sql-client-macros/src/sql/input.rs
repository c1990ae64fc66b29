//! The call syntax of `sql!`:
//!
//! ```text
//! sql!("SELECT ...", arg1, arg2)
//! sql!(plugin = "analytics-db", "SELECT ...", arg1)
//! sql!(as Event, "SELECT id, name FROM ...", arg1)
//! sql!(dialect = "postgres", "SELECT ...")
//! ```

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, LitStr, Token, Type};

syn::custom_keyword!(plugin);
syn::custom_keyword!(dialect);

/// A parsed `sql!` call.
pub(crate) struct SqlInput {
    pub(crate) plugin: Option<LitStr>,
    pub(crate) dialect: Option<LitStr>,
    pub(crate) row_type: Option<Type>,
    pub(crate) sql: LitStr,
    pub(crate) args: Vec<Expr>,
}

impl Parse for SqlInput {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut plugin = None;
        let mut dialect = None;
        let mut row_type = None;
        // Options come first, each followed by a comma, in any order.
        loop {
            let lookahead = input.lookahead1();
            if lookahead.peek(LitStr) {
                break;
            } else if lookahead.peek(self::plugin) {
                let key: self::plugin = input.parse()?;
                input.parse::<Token![=]>()?;
                if plugin.replace(input.parse::<LitStr>()?).is_some() {
                    return Err(syn::Error::new(key.span, "duplicate `plugin`"));
                }
            } else if lookahead.peek(self::dialect) {
                let key: self::dialect = input.parse()?;
                input.parse::<Token![=]>()?;
                if dialect.replace(input.parse::<LitStr>()?).is_some() {
                    return Err(syn::Error::new(key.span, "duplicate `dialect`"));
                }
            } else if lookahead.peek(Token![as]) {
                let key: Token![as] = input.parse()?;
                if row_type.replace(input.parse::<Type>()?).is_some() {
                    return Err(syn::Error::new(key.span, "duplicate `as`"));
                }
            } else {
                return Err(lookahead.error());
            }
            input.parse::<Token![,]>()?;
        }
        let sql: LitStr = input.parse()?;
        let args = if input.is_empty() {
            Vec::new()
        } else {
            input.parse::<Token![,]>()?;
            Punctuated::<Expr, Token![,]>::parse_terminated(input)?
                .into_iter()
                .collect()
        };
        Ok(Self {
            plugin,
            dialect,
            row_type,
            sql,
            args,
        })
    }
}
