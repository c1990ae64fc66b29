//! `#[sql(...)]` attributes of the derive, parsed with every mistake reported (not just the
//! first), each at the key the user must change.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, LitStr, Type};

use super::case::{RULES, RenameRule};

/// Collects errors so that one compile shows every mistake.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Attributes on the struct.
#[derive(Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) rename_all: Option<RenameRule>,
}

/// Attributes on one field, each with the span of its key for later checks.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    pub(crate) rename: Option<(LitStr, Span)>,
    pub(crate) default: Option<Span>,
    pub(crate) skip: Option<Span>,
    pub(crate) flatten: Option<Span>,
    pub(crate) json: Option<Span>,
    pub(crate) try_from: Option<(Type, Span)>,
}

const CONTAINER_KEYS: &str = "rename_all";
const FIELD_KEYS: &str = "rename, default, skip, flatten, json, try_from";

fn set<T>(slot: &mut Option<T>, value: T, key: &str, span: Span, errors: &mut Errors) {
    if slot.is_some() {
        errors.at(span, format!("duplicate `{key}`; give it once"));
    } else {
        *slot = Some(value);
    }
}

pub(crate) fn container(attrs: &[Attribute], errors: &mut Errors) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("sql")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let span = meta.path.span();
            if meta.path.is_ident("rename_all") {
                let value: LitStr = meta.value()?.parse()?;
                match RenameRule::from_name(&value.value()) {
                    Some(rule) => set(&mut out.rename_all, rule, "rename_all", span, errors),
                    None => {
                        let names: Vec<&str> = RULES.iter().map(|(n, _)| *n).collect();
                        errors.at(
                            value.span(),
                            format!("`rename_all` expects one of: {}", names.join(", ")),
                        );
                    }
                }
                Ok(())
            } else {
                Err(meta.error(format!(
                    "unknown struct attribute `{}`; expected: {CONTAINER_KEYS}",
                    path_text(&meta.path)
                )))
            }
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    out
}

pub(crate) fn field(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("sql")) {
        let parsed = attr.parse_nested_meta(|meta| {
            let span = meta.path.span();
            let key = path_text(&meta.path);
            match key.as_str() {
                "rename" => {
                    let value: LitStr = meta.value()?.parse()?;
                    if value.value().is_empty() {
                        errors.at(value.span(), "`rename` needs a column name");
                    }
                    set(&mut out.rename, (value, span), "rename", span, errors);
                }
                "default" => set(&mut out.default, span, "default", span, errors),
                "skip" => set(&mut out.skip, span, "skip", span, errors),
                "flatten" => set(&mut out.flatten, span, "flatten", span, errors),
                "json" => set(&mut out.json, span, "json", span, errors),
                "try_from" => {
                    let value: LitStr = meta.value()?.parse()?;
                    let ty: Type = value.parse().map_err(|_| {
                        syn::Error::new(
                            value.span(),
                            "`try_from` expects a type, such as try_from = \"i64\"",
                        )
                    })?;
                    set(&mut out.try_from, (ty, span), "try_from", span, errors);
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown field attribute `{key}`; expected one of: {FIELD_KEYS}"
                    )));
                }
            }
            Ok(())
        });
        if let Err(e) = parsed {
            errors.push(e);
        }
    }
    check_field(&out, errors);
    out
}

/// Combinations that cannot mean anything.
fn check_field(attrs: &FieldAttrs, errors: &mut Errors) {
    if let Some(skip) = attrs.skip {
        let others = attrs.rename.is_some()
            || attrs.default.is_some()
            || attrs.flatten.is_some()
            || attrs.json.is_some()
            || attrs.try_from.is_some();
        if others {
            errors.at(
                skip,
                "`skip` fields are never read from the row; remove the other attributes",
            );
        }
    }
    if let Some(flatten) = attrs.flatten
        && (attrs.rename.is_some() || attrs.json.is_some() || attrs.try_from.is_some())
    {
        errors.at(flatten, "`flatten` reads a whole row into the field's type; it cannot be combined with rename, json or try_from");
    }
    if let (Some(json), Some(_)) = (attrs.json, &attrs.try_from) {
        errors.at(json, "use either `json` or `try_from`, not both");
    }
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
