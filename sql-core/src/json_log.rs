//! One JSON object per log line, for log collectors and SIEMs: the layout of
//! `tracing-subscriber`'s JSON format with flattened fields (`timestamp`, `level`, the
//! event's fields, `target`), written straight into the line, and with the fields that
//! hold JSON text (`params` of a slow-query record) embedded as JSON rather than as a
//! string.
//!
//! `tracing` fields are numbers, booleans or text; a structure such as a list of
//! parameters can only travel as text, which the standard JSON format would quote. This
//! format writes a field named in [`JsonLines::json_fields`] as it is when its text is
//! valid JSON, so a record's `params` is an array a SIEM can query.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Field names whose text is embedded as JSON by default.
const JSON_FIELDS: &[&str] = &["params"];

/// A `tracing-subscriber` event format writing one JSON object per line.
///
/// # Examples
///
/// ```
/// use sql_core::json_log::JsonLines;
///
/// // What `sql-handler --log-format json` installs, and what a plugin can install for
/// // its own `sql.audit` and `sql.slow` records.
/// let _ = tracing_subscriber::fmt().event_format(JsonLines::new()).try_init();
/// tracing::warn!(target: "sql.slow", params = r#"[1,"a"]"#, "slow sql query");
/// // {"timestamp":"...","level":"WARN","message":"slow sql query","params":[1,"a"],"target":"sql.slow"}
/// ```
#[derive(Debug, Clone, Copy)]
pub struct JsonLines {
    json_fields: &'static [&'static str],
}

impl Default for JsonLines {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonLines {
    /// The format with the default JSON fields (`params`).
    ///
    /// # Examples
    ///
    /// ```
    /// let format = sql_core::json_log::JsonLines::new();
    /// # let _ = format;
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            json_fields: JSON_FIELDS,
        }
    }

    /// Embeds the text of the fields named `names` as JSON when it is valid JSON, instead
    /// of `params`.
    ///
    /// # Examples
    ///
    /// ```
    /// let format = sql_core::json_log::JsonLines::new().json_fields(&["params", "payload"]);
    /// # let _ = format;
    /// ```
    #[must_use]
    pub const fn json_fields(mut self, names: &'static [&'static str]) -> Self {
        self.json_fields = names;
        self
    }

    /// Writes `event` as one line into `line`.
    fn write_line(&self, line: &mut String, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        line.push_str("{\"timestamp\":\"");
        SystemTime.format_time(&mut Writer::new(line))?;
        line.push_str("\",\"level\":\"");
        line.push_str(meta.level().as_str());
        line.push('"');
        let mut fields = Fields {
            line,
            json_fields: self.json_fields,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        line.push_str(",\"target\":");
        push_str(line, meta.target());
        line.push_str("}\n");
        Ok(())
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(384);
        self.write_line(&mut line, event)?;
        writer.write_str(&line)
    }
}

/// Writes each field as `,"name":value`.
struct Fields<'a> {
    line: &'a mut String,
    json_fields: &'static [&'static str],
    result: fmt::Result,
}

impl Fields<'_> {
    fn key(&mut self, field: &Field) {
        self.line.push(',');
        push_str(self.line, field.name());
        self.line.push(':');
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        let embed = self.json_fields.contains(&field.name())
            && serde_json::from_str::<serde::de::IgnoredAny>(value).is_ok();
        if embed {
            self.line.push_str(value.trim());
        } else {
            push_str(self.line, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.line.push_str(if value { "true" } else { "false" });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        self.result = self.result.and(write!(self.line, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        self.result = self.result.and(write!(self.line, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            // Display never writes an exponent, so the text is a JSON number.
            self.result = self.result.and(write!(self.line, "{value}"));
        } else {
            self.line.push_str("null");
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.key(field);
        self.line.push('"');
        self.result = self.result.and(write!(Escaped(self.line), "{value}"));
        self.line.push('"');
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.key(field);
        self.line.push('"');
        self.result = self.result.and(write!(Escaped(self.line), "{value:?}"));
        self.line.push('"');
    }
}

/// Pushes `text` as a JSON string.
fn push_str(line: &mut String, text: &str) {
    line.push('"');
    // Escaping into a String cannot fail.
    let _ = Escaped(line).write_str(text);
    line.push('"');
}

/// Writes text into a JSON string's inside, escaped (RFC 8259 section 7).
struct Escaped<'a>(&'a mut String);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
            self.0.push_str(&rest[..at]);
            let c = rest[at..].chars().next().unwrap_or(' ');
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                other => write!(self.0, "\\u{:04x}", u32::from(other))?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        self.0.push_str(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::{Value, json};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The lines `log` writes through the format, parsed.
    fn lines(log: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines::new())
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn every_field_kind_is_valid_json() {
        let records = lines(|| {
            tracing::info!(
                target: "sql.audit",
                text = "quote \" backslash \\ newline \n tab \t bell \u{7} Σ",
                int = -3_i64,
                uint = 7_u64,
                float = 0.25,
                nan = f64::NAN,
                flag = true,
                debug = ?vec!["a"],
                "message with {}", "arguments"
            );
        });
        assert_eq!(records.len(), 1);
        let record = &records[0];
        assert_eq!(record["level"], "INFO");
        assert_eq!(record["target"], "sql.audit");
        assert_eq!(record["message"], "message with arguments");
        assert_eq!(
            record["text"],
            "quote \" backslash \\ newline \n tab \t bell \u{7} Σ"
        );
        assert_eq!(record["int"], -3);
        assert_eq!(record["uint"], 7);
        assert_eq!(record["float"], 0.25);
        assert_eq!(record["nan"], Value::Null);
        assert_eq!(record["flag"], true);
        assert_eq!(record["debug"], "[\"a\"]");
        let timestamp = record["timestamp"].as_str().unwrap();
        assert!(
            timestamp.starts_with("20") && timestamp.ends_with('Z'),
            "{timestamp}"
        );
    }

    #[test]
    fn json_fields_are_embedded_only_when_valid() {
        let records = lines(|| {
            tracing::warn!(target: "sql.slow", params = r#"[1, "a", null]"#, other = "[1]", "slow");
            tracing::warn!(target: "sql.slow", params = "[1, not json", "slow");
        });
        assert_eq!(records[0]["params"], json!([1, "a", null]));
        assert_eq!(records[0]["other"], "[1]");
        assert_eq!(records[1]["params"], "[1, not json");
    }
}
