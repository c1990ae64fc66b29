//! The function lists of PROTOCOL.md section 5: what a statement may call.
//!
//! Every name here is lower-case; callers lower-case before asking. The lists are sorted
//! slices searched with `binary_search`, and a unit test keeps them sorted.

/// Scalar, aggregate and window functions of SQLite and PostgreSQL that only compute:
/// none reads a table, touches a file, changes session state or sleeps.
const ALLOWED: &[&str] = &[
    // SQLite implements its JSON operators as functions of these names, and its authorizer
    // reports them so.
    "->",
    "->>",
    "abs",
    "acos",
    "acosh",
    "age",
    "array",
    "array_agg",
    "array_append",
    "array_cat",
    "array_length",
    "array_lower",
    "array_ndims",
    "array_position",
    "array_positions",
    "array_prepend",
    "array_remove",
    "array_replace",
    "array_to_json",
    "array_to_string",
    "array_upper",
    "ascii",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "avg",
    "bit_and",
    "bit_length",
    "bit_or",
    "bool_and",
    "bool_or",
    "btrim",
    "cardinality",
    "cast",
    "cbrt",
    "ceil",
    "ceiling",
    "char",
    "char_length",
    "character_length",
    "chr",
    "clock_timestamp",
    "coalesce",
    "concat",
    "concat_ws",
    "corr",
    "cos",
    "cosh",
    "cot",
    "count",
    "covar_pop",
    "covar_samp",
    "cume_dist",
    "current_date",
    "current_time",
    "current_timestamp",
    "date",
    "date_bin",
    "date_part",
    "date_trunc",
    "datetime",
    "degrees",
    "dense_rank",
    "div",
    "encode",
    "every",
    "exp",
    "extract",
    "factorial",
    "first_value",
    "floor",
    "format",
    "gcd",
    "gen_random_uuid",
    "glob",
    "greatest",
    "group_concat",
    "hex",
    "if",
    "ifnull",
    "iif",
    "initcap",
    "instr",
    "isfinite",
    "json",
    "json_agg",
    "json_array",
    "json_array_length",
    "json_build_array",
    "json_build_object",
    "json_error_position",
    "json_extract",
    "json_extract_path",
    "json_extract_path_text",
    "json_group_array",
    "json_group_object",
    "json_insert",
    "json_object",
    "json_object_agg",
    "json_patch",
    "json_pretty",
    "json_quote",
    "json_remove",
    "json_replace",
    "json_set",
    "json_strip_nulls",
    "json_type",
    "json_typeof",
    "json_valid",
    "jsonb",
    "jsonb_agg",
    "jsonb_array",
    "jsonb_array_length",
    "jsonb_build_array",
    "jsonb_build_object",
    "jsonb_extract",
    "jsonb_extract_path",
    "jsonb_extract_path_text",
    "jsonb_group_array",
    "jsonb_group_object",
    "jsonb_insert",
    "jsonb_object",
    "jsonb_object_agg",
    "jsonb_patch",
    "jsonb_path_exists",
    "jsonb_path_match",
    "jsonb_path_query_first",
    "jsonb_pretty",
    "jsonb_remove",
    "jsonb_replace",
    "jsonb_set",
    "jsonb_strip_nulls",
    "jsonb_typeof",
    "julianday",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "lag",
    "last_value",
    "lcm",
    "lead",
    "least",
    "left",
    "length",
    "like",
    "likelihood",
    "likely",
    "ln",
    "localtime",
    "localtimestamp",
    "log",
    "log10",
    "log2",
    "lower",
    "lpad",
    "ltrim",
    "make_date",
    "make_interval",
    "make_time",
    "make_timestamp",
    "make_timestamptz",
    "max",
    "md5",
    "min",
    "mod",
    "mode",
    "now",
    "nth_value",
    "ntile",
    "nullif",
    "octet_length",
    "percent_rank",
    "percentile_cont",
    "percentile_disc",
    "pi",
    "position",
    "pow",
    "power",
    "printf",
    "quote",
    "quote_ident",
    "quote_literal",
    "quote_nullable",
    "radians",
    "random",
    "rank",
    "regexp_match",
    "regexp_replace",
    "regexp_split_to_array",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "row",
    "row_number",
    "row_to_json",
    "rpad",
    "rtrim",
    "sign",
    "sin",
    "sinh",
    "split_part",
    "sqrt",
    "starts_with",
    "statement_timestamp",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "strftime",
    "string_agg",
    "string_to_array",
    "strpos",
    "substr",
    "substring",
    "sum",
    "tan",
    "tanh",
    "time",
    "timediff",
    "to_char",
    "to_date",
    "to_hex",
    "to_json",
    "to_jsonb",
    "to_number",
    "to_timestamp",
    "total",
    "transaction_timestamp",
    "translate",
    "trim",
    "trunc",
    "typeof",
    "unhex",
    "unicode",
    "unixepoch",
    "unlikely",
    "upper",
    "uuid",
    "var_pop",
    "var_samp",
    "variance",
    "width_bucket",
];

/// Table-valued (set-returning) functions that only unpack their arguments.
const TABLE_VALUED: &[&str] = &[
    "generate_series",
    "json_array_elements",
    "json_array_elements_text",
    "json_each",
    "json_each_text",
    "json_object_keys",
    "json_tree",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "jsonb_each",
    "jsonb_each_text",
    "jsonb_object_keys",
    "unnest",
];

/// Functions that reach outside the statement (files, extensions, other databases, server
/// settings, large objects) or fill memory: refused even when a deployment allows them.
const NEVER: &[&str] = &[
    "current_setting",
    "edit",
    "fts3_tokenizer",
    "load_extension",
    "query_to_xml",
    "randomblob",
    "readfile",
    "set_config",
    "writefile",
    "zeroblob",
];

/// Prefixes of whole families that are never allowed: SQLite and PostgreSQL internals,
/// PostgreSQL large objects (`lo_import` reads server files) and `dblink` (other databases).
const NEVER_PREFIXES: &[&str] = &["dblink", "lo_", "pg_", "sqlite_"];

/// `query_to_xml`, `table_to_xml`, `schema_to_xml`, ...: each reads whatever table or query
/// its text argument names, past the table check.
const NEVER_SUFFIX: &str = "_to_xml";

/// Whether the scalar, aggregate or window function `lower` is on the default allowlist.
///
/// Set-returning functions count too: PostgreSQL accepts `SELECT unnest(arr)`.
pub(super) fn is_allowed(lower: &str) -> bool {
    ALLOWED.binary_search(&lower).is_ok() || is_table_valued(lower)
}

/// Whether `lower` is refused whatever the deployment's allowlist says.
pub(super) fn is_never_allowed(lower: &str) -> bool {
    NEVER.binary_search(&lower).is_ok()
        || NEVER_PREFIXES
            .iter()
            .any(|prefix| lower.starts_with(prefix))
        || lower.ends_with(NEVER_SUFFIX)
}

/// Whether `lower` may stand in `FROM` as a table-valued function.
pub(super) fn is_table_valued(lower: &str) -> bool {
    TABLE_VALUED.binary_search(&lower).is_ok() && !is_never_allowed(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_lower_case_and_unique() {
        for list in [ALLOWED, TABLE_VALUED, NEVER] {
            assert!(
                list.windows(2).all(|w| w[0] < w[1]),
                "not sorted/unique: {list:?}"
            );
            assert!(
                list.iter().all(|n| *n == n.to_ascii_lowercase()),
                "not lower-case: {list:?}"
            );
        }
    }

    #[test]
    fn never_wins_over_the_allowlists() {
        for name in ALLOWED.iter().chain(TABLE_VALUED) {
            assert!(
                !is_never_allowed(name),
                "{name} is both allowed and never allowed"
            );
        }
    }

    #[test]
    fn families() {
        for name in [
            "pg_sleep",
            "sqlite_version",
            "lo_import",
            "dblink_exec",
            "dblink",
            "table_to_xml",
        ] {
            assert!(is_never_allowed(name), "{name}");
            assert!(!is_allowed(name), "{name}");
        }
        assert!(is_allowed("count"));
        assert!(is_allowed("unnest"));
        assert!(!is_allowed("foo"));
        assert!(is_table_valued("json_each"));
        assert!(!is_table_valued("pragma_table_info"));
    }
}
