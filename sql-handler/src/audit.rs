//! The handler's audit record: one structured event per request on target `sql.audit`.
//! Parameter values never appear in it.

use std::time::Duration;

use sql_core::ErrorCode;

/// Everything one audit record says about a request.
#[derive(Debug)]
pub(crate) struct AuditRecord<'a> {
    pub(crate) plugin: &'a str,
    pub(crate) query: &'a str,
    pub(crate) correlation_id: &'a str,
    pub(crate) kind: Option<&'static str>,
    pub(crate) param_count: usize,
    pub(crate) rows: u64,
    pub(crate) truncated: bool,
    pub(crate) elapsed: Duration,
    pub(crate) outcome: Option<ErrorCode>,
    /// Answered from an `Idempotency-Key` record; `outcome` is the recorded one.
    pub(crate) replayed: bool,
    /// A transaction's statement: its index and the number of statements. The
    /// transaction's outcome is every statement's.
    pub(crate) statement: Option<(usize, usize)>,
}

impl AuditRecord<'_> {
    /// Emits the record.
    pub(crate) fn emit(&self) {
        let query_hash = sql_core::query_hash(self.query);
        let preview = sql_core::audit_preview(self.query);
        let outcome = self.outcome.map_or("OK", ErrorCode::as_str);
        let duration_ms = self.elapsed.as_secs_f64() * 1000.0;
        tracing::info!(
            target: "sql.audit",
            plugin = self.plugin,
            // As strings, not `%` (Display): the JSON formatter then copies them instead
            // of formatting each into a new String.
            query_hash = query_hash.as_str(),
            query_preview = preview.as_ref(),
            correlation_id = self.correlation_id,
            kind = self.kind.unwrap_or("UNKNOWN"),
            param_count = self.param_count,
            rows = self.rows,
            truncated = self.truncated,
            duration_ms,
            outcome,
            replayed = self.replayed,
            statement_index = self.statement.map(|(index, _)| index),
            statement_count = self.statement.map(|(_, count)| count),
            "sql request"
        );
    }
}
