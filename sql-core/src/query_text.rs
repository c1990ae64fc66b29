//! Derived forms of query text shared by audit records on both sides: the hash and the
//! preview.

use sha2::{Digest, Sha256};

/// Hashes a query for audit records: the first 16 hex characters of SHA-256 over the
/// query with runs of whitespace collapsed to one space, trimmed and lower-cased.
///
/// It equals the specification's `hashlib.sha256(" ".join(query.split()).lower().encode())
/// .hexdigest()[:16]` for every input: whitespace is what Python's `str.split()` splits on
/// (Unicode white space and the separators U+001C to U+001F), and the whole normalized text
/// is lower-cased at once, so a final capital sigma becomes 'ς' as in Python.
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
    let mut collapsed = String::with_capacity(query.len());
    for word in query.split(is_python_whitespace).filter(|w| !w.is_empty()) {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    // Lower-cased as one string: the final-sigma rule looks across word boundaries.
    let normalized = collapsed.to_lowercase();
    let digest = Sha256::digest(normalized.as_bytes());
    let mut hex = String::with_capacity(16);
    for byte in &digest[..8] {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Python's `str.isspace()`: Unicode white space plus the information separators.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The query as audit records show it, by the specification's rule
/// `query[:100] + "..." if len(query) > 100 else query`: the text as written, cut after
/// [`AUDIT_PREVIEW_CHARS`] characters (code points), with `...` when it was cut.
///
/// # Examples
///
/// ```
/// assert_eq!(sql_core::audit_preview("SELECT  1"), "SELECT  1");
/// let long = format!("SELECT {}", "x".repeat(200));
/// let preview = sql_core::audit_preview(&long);
/// assert_eq!(preview.chars().count(), 103);
/// assert!(preview.ends_with("xxx..."));
/// ```
#[must_use]
pub fn audit_preview(query: &str) -> std::borrow::Cow<'_, str> {
    match query.char_indices().nth(AUDIT_PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}...", &query[..cut]).into(),
        None => query.into(),
    }
}

/// Characters of the query an audit record's `query_preview` keeps.
pub const AUDIT_PREVIEW_CHARS: usize = 100;

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

    /// Inputs and the hash and preview the specification's Python gives for them
    /// (Python 3.11: `hashlib.sha256(" ".join(q.split()).lower().encode()).hexdigest()[:16]`
    /// and `q[:100] + "..." if len(q) > 100 else q`).
    #[test]
    fn hash_and_preview_equal_the_specifications_python() {
        let cases: &[(&str, &str)] = &[
            ("  SELECT\t1 ", "822ae07d4783158b"),
            ("SELECT '\u{39f}\u{394}\u{39f}\u{3a3}'", "66786d4b05c0681b"),
            ("SELECT '\u{3a3}\u{391}\u{3a3} \u{3a3}'", "c908ebff95cf08c9"),
            ("SELECT\u{1f}1\u{1c}2\u{1d}3\u{1e}4", "a9f2e4d3924a18a2"),
            ("SELECT\u{a0}1\u{2028}2\u{3000}3\u{85}4", "a9f2e4d3924a18a2"),
            ("SELECT '\u{130}stanbul'", "1984661ee3d099b7"),
            ("SELECT '\u{3a3}'", "07daefbb956f76fe"),
            ("SELECT 'a\u{3a3}.b'", "d15e06a015fe478b"),
            ("SELECT '\u{df} \u{1c5} \u{fb00}'", "e997e582ea83020b"),
            ("SELECT 'A\u{301}\u{3a3}\u{301}'", "9cd1810df0fec8bc"),
        ];
        for (query, hash) in cases {
            assert_eq!(query_hash(query), *hash, "{query:?}");
            assert_eq!(audit_preview(query), *query);
        }
        let long = "x".repeat(101);
        assert_eq!(query_hash(&long), "c675a2e604b0cd12");
        assert_eq!(audit_preview(&long), format!("{}...", "x".repeat(100)));
        let accents = "\u{e9}".repeat(100);
        assert_eq!(query_hash(&accents), "f42ec48e1e4b487e");
        assert_eq!(audit_preview(&accents), accents);
        let more = "\u{e9}".repeat(101);
        assert_eq!(query_hash(&more), "96cbf977549895b3");
        assert_eq!(audit_preview(&more), format!("{accents}..."));
    }

    /// Python's `str.isspace()` set (`[c for c in range(0x110000) if chr(c).isspace()]`).
    #[test]
    fn whitespace_is_pythons() {
        let python: Vec<u32> = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
        ]
        .into_iter()
        .chain(0x2000..=0x200a)
        .chain([0x2028, 0x2029, 0x202f, 0x205f, 0x3000])
        .collect();
        let ours: Vec<u32> = (0..=0x10ffff_u32)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_whitespace(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, python);
    }

    #[test]
    fn preview_counts_characters() {
        assert_eq!(query_preview("ééé", 2), "éé");
        assert_eq!(query_preview("a", 200), "a");
        assert_eq!(query_preview("", 5), "");
    }
}
