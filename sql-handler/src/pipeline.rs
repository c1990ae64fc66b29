//! One request, from NATS message to reply body, in PROTOCOL.md's check order: subject,
//! body, fields, (rate limit), parse and policy, params, execution.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use sql_core::value::SqlValue;
use sql_core::wire::{self, ErrorReply, Request, TruncatedReason};
use sql_core::{Plugin, Verdict};

use crate::audit::AuditRecord;
use crate::engine::{Engine, Job, Outcome};
use crate::failure::Failure;

/// Room kept in every reply for the envelope around the rows and for NATS headers.
const REPLY_RESERVE_BYTES: usize = 4096;

/// What the pipeline needs from the service.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) engine: Engine,
    pub(crate) subject_prefix: String,
    pub(crate) max_payload: usize,
}

/// What one request produced: the reply body, and facts for the audit record.
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) body: Vec<u8>,
}

/// Facts gathered while a request moves through the stages.
#[derive(Debug, Default)]
struct Progress {
    plugin: Option<Plugin>,
    query: String,
    param_count: usize,
    verdict: Option<Verdict>,
}

impl Pipeline {
    /// Handles one request and always produces a reply.
    pub(crate) async fn handle(
        &self,
        subject: &str,
        payload: &[u8],
        correlation_id: &str,
        received: Instant,
    ) -> Handled {
        let mut progress = Progress::default();
        let result = self.run(subject, payload, received, &mut progress).await;
        let (body, rows, truncated, outcome) = match result {
            Ok(outcome) => {
                let rows = outcome.row_count;
                let truncated = outcome.rows.truncated().is_some();
                (success_body(outcome), rows, truncated, None)
            }
            Err(failure) => {
                if let Failure::Exec(crate::engine::ExecError::Internal(detail)) = &failure {
                    tracing::error!(correlation_id, error = %detail, "internal error");
                }
                (
                    self.error_body(&failure, &progress, correlation_id),
                    0,
                    false,
                    Some(failure.code()),
                )
            }
        };
        AuditRecord {
            plugin: progress.plugin.as_ref().map_or("", Plugin::name),
            query: &progress.query,
            correlation_id,
            kind: progress.verdict.as_ref().map(|v| v.kind().as_str()),
            param_count: progress.param_count,
            rows,
            truncated,
            elapsed: received.elapsed(),
            outcome,
        }
        .emit();
        Handled { body }
    }

    /// The reply to a request refused before it ran, such as at the concurrency cap.
    pub(crate) fn refuse(&self, subject: &str, failure: &Failure, correlation_id: &str) -> Handled {
        let progress = Progress {
            plugin: wire::plugin_from_subject(&self.subject_prefix, subject).ok(),
            ..Progress::default()
        };
        AuditRecord {
            plugin: progress.plugin.as_ref().map_or("", Plugin::name),
            query: "",
            correlation_id,
            kind: None,
            param_count: 0,
            rows: 0,
            truncated: false,
            elapsed: Duration::ZERO,
            outcome: Some(failure.code()),
        }
        .emit();
        Handled {
            body: self.error_body(failure, &progress, correlation_id),
        }
    }

    async fn run(
        &self,
        subject: &str,
        payload: &[u8],
        received: Instant,
        progress: &mut Progress,
    ) -> Result<Outcome, Failure> {
        let plugin = wire::plugin_from_subject(&self.subject_prefix, subject)?;
        progress.plugin = Some(plugin.clone());
        let request = Request::from_slice(payload)?;
        progress.query.clone_from(&request.query);
        progress.param_count = request
            .batch
            .as_ref()
            .map_or(request.params.len(), |b| b.first().map_or(0, Vec::len));

        let verdict = self
            .engine
            .policy()
            .check(&request.query, &plugin, self.engine.dialect())?;
        progress.verdict = Some(verdict.clone());
        if verdict.writes() && !request.allow_write {
            return Err(Failure::WriteNotAllowed);
        }
        let executions = executions(&request, verdict.placeholders())?;
        let job = Job {
            plugin,
            sql: request.query,
            writes: verdict.writes(),
            executions,
            allow_write: request.allow_write,
            deadline: received + Duration::from_millis(u64::from(request.timeout_ms)),
            timeout_ms: request.timeout_ms,
            max_rows: request.max_rows as usize,
            row_format: request.row_format,
            byte_budget: self.max_payload.saturating_sub(REPLY_RESERVE_BYTES),
        };
        Ok(self.engine.execute(job).await?)
    }

    fn error_body(&self, failure: &Failure, progress: &Progress, correlation_id: &str) -> Vec<u8> {
        let mut details = serde_json::Map::new();
        details.insert(
            "plugin".into(),
            json!(progress.plugin.as_ref().map_or("", Plugin::name)),
        );
        details.insert(
            "query_preview".into(),
            json!(sql_core::query_preview(
                &progress.query,
                wire::QUERY_PREVIEW_CHARS
            )),
        );
        details.insert("param_count".into(), json!(progress.param_count));
        details.insert("correlation_id".into(), json!(correlation_id));
        details.extend(failure.details());
        let reply = ErrorReply::new(failure.code(), failure.public_message(), details);
        // Serializing a struct of strings and JSON values cannot fail.
        serde_json::to_vec(&reply).unwrap_or_default()
    }
}

/// The parameter lists to run: one, or one per `batch` entry, each checked against the
/// placeholder count and converted.
fn executions(request: &Request, placeholders: usize) -> Result<Vec<Vec<SqlValue>>, Failure> {
    let lists: Vec<(&Vec<Value>, Option<usize>)> = match &request.batch {
        Some(batch) => batch
            .iter()
            .enumerate()
            .map(|(i, entry)| (entry, Some(i)))
            .collect(),
        None => vec![(&request.params, None)],
    };
    lists
        .into_iter()
        .map(|(params, batch_index)| {
            if params.len() != placeholders {
                return Err(Failure::ParamCount {
                    expected: placeholders,
                    provided: params.len(),
                    batch_index,
                });
            }
            params
                .iter()
                .enumerate()
                .map(|(i, value)| {
                    SqlValue::from_json(value).map_err(|e| Failure::ParamType {
                        index: i + 1,
                        reason: e.to_string(),
                        batch_index,
                    })
                })
                .collect()
        })
        .collect()
}

/// The fields of a success reply other than `rows`, which are spliced in pre-encoded.
#[derive(Serialize)]
struct ReplyTail {
    row_count: u64,
    execution_time_ms: f64,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated_reason: Option<TruncatedReason>,
    columns: Vec<String>,
}

fn success_body(outcome: Outcome) -> Vec<u8> {
    let (rows, columns, truncated_reason) = outcome.rows.into_parts();
    let tail = ReplyTail {
        row_count: outcome.row_count,
        execution_time_ms: outcome.execution_time.as_secs_f64() * 1000.0,
        truncated: truncated_reason.is_some(),
        truncated_reason,
        columns,
    };
    // Serializing plain data into a Vec cannot fail.
    let tail = serde_json::to_vec(&tail).unwrap_or_else(|_| b"{}".to_vec());
    let mut body = Vec::with_capacity(rows.len() + tail.len() + 16);
    body.extend_from_slice(b"{\"rows\":[");
    body.extend_from_slice(&rows);
    body.extend_from_slice(b"],");
    // `tail` is a JSON object with at least one field: drop its opening brace.
    body.extend_from_slice(tail.get(1..).unwrap_or(b"}"));
    body
}
