//! Derived forms of query text shared by audit records on both sides: the hash and the
//! preview.

use sha2::{Digest, Sha256};

/// Hashes a query for audit records: the first 16 hex characters of SHA-256 over the
/// query with runs of whitespace collapsed to one space, trimmed and lower-cased.
///
/// The client and the handler use this one function, so their audit records can be joined
/// on it.
///
/// # Examples
///
/// ```
/// let a = sql_core::query_hash("SELECT *\n  FROM  analytics_db__events");
/// let b = sql_core::query_hash("select * from analytics_db__events");
/// assert_eq!(a, b);
/// assert_eq!(a.len(), 16);
/// ```
#[must_use]
pub fn query_hash(query: &str) -> String {
    let mut normalized = String::with_capacity(query.len());
    for word in query.split_whitespace() {
        if !normalized.is_empty() {
            normalized.push(' ');
        }
        normalized.extend(word.chars().flat_map(char::to_lowercase));
    }
    let digest = Sha256::digest(normalized.as_bytes());
    let mut hex = String::with_capacity(16);
    for byte in &digest[..8] {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// The first `max_chars` characters of `query` with whitespace runs collapsed, for logs
/// and error details (PROTOCOL.md caps `query_preview` at 200 characters).
///
/// # Examples
///
/// ```
/// assert_eq!(sql_core::query_preview("SELECT  1\nFROM t", 10), "SELECT 1 F");
/// ```
#[must_use]
pub fn query_preview(query: &str, max_chars: usize) -> String {
    let mut preview = String::new();
    let mut count = 0;
    for (i, word) in query.split_whitespace().enumerate() {
        for c in (i > 0).then_some(' ').into_iter().chain(word.chars()) {
            if count == max_chars {
                return preview;
            }
            preview.push(c);
            count += 1;
        }
    }
    preview
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_normalized() {
        // `printf 'select 1' | sha256sum` starts with 822ae07d4783158b.
        assert_eq!(query_hash("  SELECT\t1 "), "822ae07d4783158b");
        assert_ne!(query_hash("select 1"), query_hash("select 2"));
        assert!(query_hash("x").chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn preview_counts_characters() {
        assert_eq!(query_preview("ééé", 2), "éé");
        assert_eq!(query_preview("a", 200), "a");
        assert_eq!(query_preview("", 5), "");
    }
}
