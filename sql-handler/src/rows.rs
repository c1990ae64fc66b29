//! Encoding result rows into the reply as they are read, within `max_rows` and the
//! NATS payload budget, so the handler never holds more than one reply's worth of rows.

use serde_json::Value;
use sql_core::wire::{RowFormat, TruncatedReason};

/// Whether the reader should fetch another row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Room for more.
    More,
    /// Stop reading: the reply is full.
    Stop,
}

/// Accumulates encoded rows for one reply.
#[derive(Debug)]
pub(crate) struct RowSink {
    format: RowFormat,
    columns: Vec<String>,
    /// Column names pre-encoded as JSON strings, for the objects format.
    encoded_keys: Vec<String>,
    max_rows: usize,
    byte_budget: usize,
    /// The inside of the JSON `rows` array.
    buf: Vec<u8>,
    count: usize,
    truncated: Option<TruncatedReason>,
}

impl RowSink {
    /// A sink for rows with `columns`, holding at most `max_rows` rows and `byte_budget`
    /// bytes of encoded rows.
    pub(crate) fn new(
        format: RowFormat,
        columns: Vec<String>,
        max_rows: usize,
        byte_budget: usize,
    ) -> Self {
        let encoded_keys: Vec<String> = columns
            .iter()
            .map(|c| Value::String(c.clone()).to_string())
            .collect();
        // The reply repeats the column names in `columns`.
        let names_bytes: usize = encoded_keys.iter().map(|k| k.len() + 1).sum();
        Self {
            format,
            columns,
            encoded_keys,
            max_rows,
            byte_budget: byte_budget.saturating_sub(names_bytes),
            buf: Vec::new(),
            count: 0,
            truncated: None,
        }
    }

    /// Adds one row, or marks the result truncated when the row does not fit.
    ///
    /// The reader stops at `max_rows + 1` rows: the extra row only proves that more exist.
    pub(crate) fn push(&mut self, values: &[Value]) -> Flow {
        if self.truncated.is_some() {
            return Flow::Stop;
        }
        if self.count == self.max_rows {
            self.truncated = Some(TruncatedReason::MaxRows);
            return Flow::Stop;
        }
        let mark = self.buf.len();
        if self.count > 0 {
            self.buf.push(b',');
        }
        self.encode(values);
        if self.buf.len() > self.byte_budget {
            self.buf.truncate(mark);
            self.truncated = Some(TruncatedReason::MaxBytes);
            return Flow::Stop;
        }
        self.count += 1;
        Flow::More
    }

    fn encode(&mut self, values: &[Value]) {
        // Writing JSON into a Vec cannot fail; the results are ignored on that ground.
        match self.format {
            RowFormat::Arrays => {
                let _ = serde_json::to_writer(&mut self.buf, values);
            }
            _ => {
                self.buf.push(b'{');
                for (i, (key, value)) in self.encoded_keys.iter().zip(values).enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    self.buf.extend_from_slice(key.as_bytes());
                    self.buf.push(b':');
                    let _ = serde_json::to_writer(&mut self.buf, value);
                }
                self.buf.push(b'}');
            }
        }
    }

    /// Rows accepted so far.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The column names, for tests.
    #[cfg(test)]
    pub(crate) fn columns_for_test(&self) -> &[String] {
        &self.columns
    }

    /// Why rows were left out, if any were.
    pub(crate) fn truncated(&self) -> Option<TruncatedReason> {
        self.truncated
    }

    /// The encoded rows as the body of a JSON array (without brackets).
    pub(crate) fn into_parts(self) -> (Vec<u8>, Vec<String>, Option<TruncatedReason>) {
        (self.buf, self.columns, self.truncated)
    }
}

/// The first column name that appears twice, which the objects format cannot represent.
pub(crate) fn first_duplicate(columns: &[String]) -> Option<String> {
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    columns.iter().find(|c| !seen.insert(c.as_str())).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows_json(sink: RowSink) -> Value {
        let (buf, _, _) = sink.into_parts();
        let text = format!("[{}]", String::from_utf8(buf).unwrap());
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn objects_keep_column_order_and_escape_keys() {
        let mut sink = RowSink::new(
            RowFormat::Objects,
            vec!["b".into(), "a\"q".into()],
            10,
            1000,
        );
        assert_eq!(sink.push(&[json!(1), json!("x")]), Flow::More);
        let text = String::from_utf8(sink.buf.clone()).unwrap();
        assert_eq!(text, r#"{"b":1,"a\"q":"x"}"#);
        assert_eq!(rows_json(sink), json!([{"b": 1, "a\"q": "x"}]));
    }

    #[test]
    fn stops_at_max_rows() {
        let mut sink = RowSink::new(RowFormat::Arrays, vec!["n".into()], 2, 1000);
        assert_eq!(sink.push(&[json!(1)]), Flow::More);
        assert_eq!(sink.push(&[json!(2)]), Flow::More);
        assert_eq!(sink.push(&[json!(3)]), Flow::Stop);
        assert_eq!(sink.truncated(), Some(TruncatedReason::MaxRows));
        assert_eq!(rows_json(sink), json!([[1], [2]]));
    }

    #[test]
    fn stops_before_the_byte_budget() {
        let mut sink = RowSink::new(RowFormat::Arrays, vec!["s".into()], 100, 20);
        assert_eq!(sink.push(&[json!("0123456789")]), Flow::More);
        assert_eq!(sink.push(&[json!("0123456789")]), Flow::Stop);
        assert_eq!(sink.len(), 1);
        assert_eq!(sink.truncated(), Some(TruncatedReason::MaxBytes));
        assert_eq!(rows_json(sink), json!([["0123456789"]]));
    }
}
