//! Type names in a PostgreSQL statement (casts, typed literals, column definitions of a
//! table alias), as the policy sees them: some of them name relations.
//!
//! Every table has a row type of the same name, and PostgreSQL resolves a cast without
//! checking any privilege: `NULL::other__secret` and `to_jsonb('(1,x)'::other__secret)`
//! reveal that the table exists and its column names, `'other__secret'::regclass::oid` its
//! oid, and `16384::regclass::text` turns oids into names. So a type name that is not one of
//! PostgreSQL's own types is a table reference, held to the prefix rule like any other; the
//! object-identifier types (`regclass`, `regtype`, `regproc`, ...) are catalog lookups,
//! allowed only where a string literal names one of the plugin's own tables.
//!
//! SQLite type names are free text that only pick a column affinity: they name nothing.

use sqlparser::ast::{ArrayElemTypeDef, DataType, Ident};

/// PostgreSQL's own type names (unquoted, lower case) that sqlparser reads as
/// [`DataType::Custom`]; the types it knows by name have variants of their own and are
/// built in by construction. Sorted for `binary_search`.
const BUILT_IN: &[&str] = &[
    "bit",
    "bool",
    "box",
    "bpchar",
    "bytea",
    "char",
    "cid",
    "cidr",
    "circle",
    "date",
    "datemultirange",
    "daterange",
    "float",
    "float4",
    "float8",
    "inet",
    "int",
    "int2",
    "int4",
    "int4multirange",
    "int4range",
    "int8",
    "int8multirange",
    "int8range",
    "interval",
    "json",
    "jsonb",
    "jsonpath",
    "line",
    "lseg",
    "macaddr",
    "macaddr8",
    "money",
    "name",
    "nummultirange",
    "numrange",
    "oid",
    "path",
    "point",
    "polygon",
    "record",
    "text",
    "tid",
    "time",
    "timestamp",
    "timestamptz",
    "timetz",
    "tsmultirange",
    "tsquery",
    "tsrange",
    "tstzmultirange",
    "tstzrange",
    "tsvector",
    "txid_snapshot",
    "uuid",
    "varbit",
    "varchar",
    "xid",
    "xid8",
    "xml",
];

/// The object-identifier types: a value of one is looked up in a catalog by name or oid.
/// `regclass` has a variant of its own in sqlparser. Sorted for `binary_search`.
const OBJECT_IDENTIFIERS: &[&str] = &[
    "regclass",
    "regcollation",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regoper",
    "regoperator",
    "regproc",
    "regprocedure",
    "regrole",
    "regtype",
];

/// What a type name in the statement amounts to for the policy.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TypeUse<'a> {
    /// A relation's row type or a type of the database's own: the name parts, checked like
    /// a table name.
    Relation(Vec<Ident>),
    /// A catalog lookup through an object-identifier type, such as `x::regclass`: refused
    /// under the type's name.
    Lookup(String),
    /// `'name'::regclass` (or `regtype`) of a string literal: the literal is the table
    /// name, checked like one (see [`literal_name`]).
    NamedByLiteral(&'a str),
}

/// The uses in one type name: `data_type` of a cast or typed literal whose operand is the
/// string literal `literal`, if it is one.
pub(super) fn uses<'a>(data_type: &DataType, literal: Option<&'a str>) -> Vec<TypeUse<'a>> {
    let mut found = Vec::new();
    collect(data_type, literal, &mut found);
    found
}

fn collect<'a>(data_type: &DataType, literal: Option<&'a str>, found: &mut Vec<TypeUse<'a>>) {
    match data_type {
        DataType::Regclass => found.push(lookup("regclass", literal)),
        DataType::Custom(name, _) => {
            let parts: Option<Vec<Ident>> =
                name.0.iter().map(|part| part.as_ident().cloned()).collect();
            match parts.as_deref() {
                Some([ident]) => {
                    let key = key(ident);
                    if OBJECT_IDENTIFIERS.binary_search(&key.as_str()).is_ok() {
                        found.push(lookup(&key, literal));
                    } else if BUILT_IN.binary_search(&key.as_str()).is_err() {
                        found.push(TypeUse::Relation(vec![ident.clone()]));
                    }
                }
                Some(parts) => found.push(TypeUse::Relation(parts.to_vec())),
                // `IDENTIFIER(...)`-style parts name a type at run time.
                None => found.push(TypeUse::Relation(vec![Ident::new(name.to_string())])),
            }
        }
        // An array of a type uses the element type; its literal is an array, never a name.
        DataType::Array(
            ArrayElemTypeDef::AngleBracket(inner)
            | ArrayElemTypeDef::SquareBracket(inner, _)
            | ArrayElemTypeDef::Parenthesis(inner)
            | ArrayElemTypeDef::ParenthesisNotNull(inner),
        ) => collect(inner, None, found),
        DataType::Collate(inner, _)
        | DataType::Nullable(inner)
        | DataType::LowCardinality(inner)
        | DataType::Zerofill(inner) => collect(inner, literal, found),
        // Other dialects' composite types are not PostgreSQL syntax: their parts are
        // refused by name so that nothing inside them goes unchecked.
        DataType::Map(..)
        | DataType::Tuple(_)
        | DataType::Nested(_)
        | DataType::Object(_)
        | DataType::Struct(..)
        | DataType::Union(_)
        | DataType::Table(_)
        | DataType::NamedTable { .. } => {
            found.push(TypeUse::Relation(vec![Ident::new(data_type.to_string())]));
        }
        _ => {}
    }
}

/// A lookup through `type`, or the table named by a string literal for the two types whose
/// values name relations.
fn lookup<'a>(type_name: &str, literal: Option<&'a str>) -> TypeUse<'a> {
    match literal {
        Some(text) if matches!(type_name, "regclass" | "regtype") => TypeUse::NamedByLiteral(text),
        _ => TypeUse::Lookup(type_name.to_owned()),
    }
}

/// How PostgreSQL compares a type name: unquoted names fold to lower case, quoted ones
/// stay exact.
fn key(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_ascii_lowercase()
    }
}

/// The relation a `regclass` literal names, as PostgreSQL's `regclassin` reads a plain
/// identifier (folded to lower case); `None` for anything fancier (quotes, a schema,
/// spaces), which the policy cannot vouch for.
pub(super) fn literal_name(text: &str) -> Option<Ident> {
    let simple = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    simple.then(|| Ident::new(text.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_lower_case_and_unique() {
        for list in [BUILT_IN, OBJECT_IDENTIFIERS] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            assert!(
                list.iter().all(|n| *n == n.to_ascii_lowercase()),
                "{list:?}"
            );
        }
    }

    #[test]
    fn literal_names() {
        assert_eq!(
            literal_name("Analytics_DB__t"),
            Some(Ident::new("analytics_db__t"))
        );
        assert_eq!(literal_name("public.t"), None);
        assert_eq!(literal_name("\"t\""), None);
        assert_eq!(literal_name(""), None);
    }
}
