//! One request, from NATS message to reply body, in PROTOCOL.md's check order: subject,
//! body, fields (the `Idempotency-Key` header among them), rate limit, parse and policy,
//! params, execution. A keyed request that is not a read (a write, or a statement the
//! policy refused) is answered between its key's lookup and the record of its reply (see
//! `crate::idempotency`), so every definitive outcome is replayed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use sql_core::value::SqlValue;
use sql_core::wire::{self, ErrorReply, Request, RequestError, TruncatedReason};
use sql_core::{ErrorCode, Plugin, Verdict};

use crate::audit::AuditRecord;
use crate::engine::{Claim, Claimed, Engine, Job, Outcome, Recorded, Step};
use crate::failure::Failure;
use crate::idempotency::{self, IdempotencyKey};
use crate::metrics::{Metrics, RequestFacts};
use crate::rate_limit::PluginLimiter;
use crate::verdicts::Verdicts;

mod stream;

pub(crate) use stream::Streaming;

/// Room kept in every reply for the envelope around the rows and for NATS headers.
const REPLY_RESERVE_BYTES: usize = 4096;

/// What the pipeline needs from the service.
#[derive(Debug)]
pub(crate) struct Pipeline {
    pub(crate) engine: Engine,
    pub(crate) max_payload: usize,
    pub(crate) limiter: PluginLimiter,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) verdicts: Verdicts,
}

/// One request as it arrived.
#[derive(Debug)]
pub(crate) struct Incoming<'a> {
    /// The plugin its subject names, or why it names none.
    pub(crate) plugin: &'a Result<Plugin, RequestError>,
    pub(crate) payload: &'a [u8],
    /// The raw `Idempotency-Key` header, checked with the other fields.
    pub(crate) idempotency_key: Option<&'a str>,
    pub(crate) correlation_id: &'a str,
    pub(crate) received: Instant,
}

/// What one request produced: the reply body, and for a `stream` whose rows did not all
/// fit its first chunk, the stream to serve on.
pub(crate) struct Handled<'a> {
    pub(crate) body: Vec<u8>,
    pub(crate) stream: Option<Box<Streaming<'a>>>,
}

impl std::fmt::Debug for Handled<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handled")
            .field("body_bytes", &self.body.len())
            .field("streaming", &self.stream.is_some())
            .finish()
    }
}

/// A reply and the facts about it that audit records and metrics need.
#[derive(Debug)]
struct Replied {
    body: Vec<u8>,
    outcome: Option<ErrorCode>,
    /// Rows returned for reads; rows affected for writes.
    row_count: u64,
    /// Rows in the reply.
    rows_returned: u64,
    truncated: bool,
    replayed: bool,
    /// A transaction's row count of each statement, when it ran.
    statement_rows: Vec<u64>,
}

/// How a request ran: answered, or a stream begun with its first chunk.
enum Ran<'a> {
    Replied(Replied),
    Streaming(Vec<u8>, Box<Streaming<'a>>),
}

/// Facts gathered while a request moves through the stages.
#[derive(Debug, Default)]
struct Progress {
    plugin: Option<Plugin>,
    query: String,
    param_count: usize,
    verdict: Option<Verdict>,
    /// A transaction's statements, each audited as its own record.
    statements: Vec<StatementFacts>,
}

/// What a transaction's audit records say of one of its statements.
#[derive(Debug)]
struct StatementFacts {
    query: String,
    param_count: usize,
    kind: Option<&'static str>,
}

impl Pipeline {
    /// Handles one request and always produces a reply.
    pub(crate) async fn handle(&self, incoming: &Incoming<'_>) -> Handled<'_> {
        let in_flight = self.metrics.in_flight();
        let mut progress = Progress::default();
        let replied = match self.run(incoming, &mut progress).await {
            Ok(Ran::Replied(replied)) => replied,
            Ok(Ran::Streaming(first, stream)) => {
                // Audited when it ends, as one request.
                return Handled {
                    body: first,
                    stream: Some(stream.with(progress, in_flight)),
                };
            }
            Err(failure) => self.failed(&failure, &progress, incoming.correlation_id),
        };
        drop(in_flight);
        self.account(
            &progress,
            incoming.correlation_id,
            incoming.received.elapsed(),
            &replied,
        );
        Handled {
            body: replied.body,
            stream: None,
        }
    }

    /// The reply to a request refused before it ran, such as at the concurrency cap.
    pub(crate) fn refuse(
        &self,
        plugin: Option<Plugin>,
        failure: &Failure,
        correlation_id: &str,
    ) -> Handled<'_> {
        let progress = Progress {
            plugin,
            ..Progress::default()
        };
        let replied = self.failed(failure, &progress, correlation_id);
        self.account(&progress, correlation_id, Duration::ZERO, &replied);
        Handled {
            body: replied.body,
            stream: None,
        }
    }

    /// Emits the audit record and counts the request in the metrics.
    fn account(
        &self,
        progress: &Progress,
        correlation_id: &str,
        elapsed: Duration,
        replied: &Replied,
    ) {
        let plugin = progress.plugin.as_ref().map_or("", Plugin::name);
        if progress.statements.is_empty() {
            AuditRecord {
                plugin,
                query: &progress.query,
                correlation_id,
                kind: progress.verdict.as_ref().map(|v| v.kind().as_str()),
                param_count: progress.param_count,
                rows: replied.row_count,
                truncated: replied.truncated,
                elapsed,
                outcome: replied.outcome,
                replayed: replied.replayed,
                statement: None,
            }
            .emit();
        }
        // A transaction: one record per statement, each with the transaction's outcome.
        let count = progress.statements.len();
        for (index, facts) in progress.statements.iter().enumerate() {
            AuditRecord {
                plugin,
                query: &facts.query,
                correlation_id,
                kind: facts.kind,
                param_count: facts.param_count,
                rows: replied.statement_rows.get(index).copied().unwrap_or(0),
                truncated: replied.truncated,
                elapsed,
                outcome: replied.outcome,
                replayed: replied.replayed,
                statement: Some((index, count)),
            }
            .emit();
        }
        self.metrics.record(&RequestFacts {
            plugin,
            outcome: replied.outcome,
            elapsed,
            rows_returned: replied.rows_returned,
            replayed: replied.replayed,
        });
    }

    async fn run(
        &self,
        incoming: &Incoming<'_>,
        progress: &mut Progress,
    ) -> Result<Ran<'_>, Failure> {
        let plugin = incoming.plugin.clone()?;
        progress.plugin = Some(plugin.clone());
        let request = Request::from_slice(incoming.payload)?;
        progress.query.clone_from(&request.query);
        progress.param_count = request
            .batch
            .as_ref()
            .map_or(request.params.len(), |b| b.first().map_or(0, Vec::len));
        if let Some(statements) = &request.transaction {
            progress.statements = statements
                .iter()
                .map(|statement| StatementFacts {
                    query: statement.query.clone(),
                    param_count: statement.params.len(),
                    kind: None,
                })
                .collect();
        }
        let key = IdempotencyKey::from_header(incoming.idempotency_key)?;
        // A transaction's statements count one each, as separate requests would.
        let statements = request.transaction.as_ref().map_or(1, Vec::len);
        self.limiter
            .check_n(
                &plugin,
                u32::try_from(statements).unwrap_or(u32::MAX),
                Instant::now(),
            )
            .map_err(Failure::RateLimited)?;

        let verdicts = self.verdicts_of(&request, &plugin);
        if let Ok(verdicts) = &verdicts {
            if request.transaction.is_none() {
                progress.verdict = verdicts.first().cloned();
            }
            for (facts, verdict) in progress.statements.iter_mut().zip(verdicts) {
                facts.kind = Some(verdict.kind().as_str());
            }
        }
        match key {
            // Reads ignore the key: running them again changes nothing. A refused statement
            // is a write as far as the key goes: its refusal is recorded like any other
            // definitive outcome of a keyed request.
            Some(key)
                if verdicts
                    .as_ref()
                    .map_or(true, |v| v.iter().any(Verdict::writes)) =>
            {
                self.run_idempotent(request, verdicts, plugin, &key, incoming, progress)
                    .await
                    .map(Ran::Replied)
            }
            _ if request.stream.is_some() => {
                let verdicts = verdicts?;
                if verdicts.iter().any(Verdict::writes) {
                    return Err(Failure::Request(RequestError::new(
                        "stream",
                        "only a read can be streamed",
                    )));
                }
                let options = request.stream.unwrap_or_default();
                let job = self.job(request, &verdicts, plugin, incoming.received)?;
                self.open_stream(job, options, incoming).await
            }
            _ => {
                let transaction = request.transaction.is_some();
                let job = self.job(request, &verdicts?, plugin, incoming.received)?;
                let outcome = self.engine.execute(job).await;
                Ok(Ran::Replied(succeeded(
                    in_transaction(outcome, transaction)?,
                    transaction,
                )))
            }
        }
    }

    /// The policy's verdict on each statement: the request's one, or a transaction's in
    /// order, whose `query` must then hold no statement (so that a handler without the
    /// ext, which runs `query`, runs nothing).
    fn verdicts_of(&self, request: &Request, plugin: &Plugin) -> Result<Vec<Verdict>, Failure> {
        let check = |sql: &str| {
            self.verdicts
                .check(self.engine.policy(), sql, plugin, self.engine.dialect())
        };
        let Some(statements) = &request.transaction else {
            return Ok(vec![check(&request.query)?]);
        };
        match check(&request.query) {
            Err(sql_core::PolicyError::Empty) => {}
            _ => {
                return Err(Failure::Request(RequestError::new(
                    "query",
                    "with transaction, query must hold no statement (a comment, or nothing)",
                )));
            }
        }
        statements
            .iter()
            .enumerate()
            .map(|(index, statement)| {
                check(&statement.query).map_err(|e| Failure::from(e).in_statement(index))
            })
            .collect()
    }

    /// A write with an `Idempotency-Key`: answered from its record, or run and recorded
    /// in the same transaction (PROTOCOL.md section 2).
    async fn run_idempotent(
        &self,
        request: Request,
        verdicts: Result<Vec<Verdict>, Failure>,
        plugin: Plugin,
        key: &IdempotencyKey,
        incoming: &Incoming<'_>,
        progress: &Progress,
    ) -> Result<Replied, Failure> {
        let claim = Claim {
            plugin: plugin.clone(),
            key: key.as_str().to_owned(),
            fingerprint: idempotency::fingerprint(&request),
            deadline: deadline(&request, incoming.received),
            timeout_ms: request.timeout_ms,
        };
        let mut session = match self.engine.claim(claim).await? {
            Claimed::Replay(recorded) => return Ok(replayed(recorded)),
            Claimed::Reused => return Err(Failure::Request(idempotency::key_reused())),
            Claimed::Fresh(session) => session,
        };
        // A request refused before it runs leaves the transaction untouched; its refusal
        // is recorded under the key all the same.
        let transaction = request.transaction.is_some();
        let job =
            verdicts.and_then(|verdicts| self.job(request, &verdicts, plugin, incoming.received));
        let result = match job {
            Ok(job) => {
                in_transaction(session.execute(job).await, transaction).map_err(Failure::from)
            }
            Err(failure) => Err(failure),
        };
        let (replied, record) = match result {
            Ok(outcome) => (succeeded(outcome, transaction), true),
            Err(failure) => (
                self.failed(&failure, progress, incoming.correlation_id),
                idempotency::is_recorded(&failure),
            ),
        };
        let recorded = record.then(|| Recorded {
            body: replied.body.clone(),
            outcome: replied.outcome,
        });
        // Only once the commit succeeds was the write applied and may success be told.
        session.finish(recorded).await?;
        Ok(replied)
    }

    /// The checked job: permission, then parameters, of each statement.
    fn job(
        &self,
        request: Request,
        verdicts: &[Verdict],
        plugin: Plugin,
        received: Instant,
    ) -> Result<Job, Failure> {
        let deadline = deadline(&request, received);
        let dialect = self.engine.dialect();
        let (sql, executions, then) = match &request.transaction {
            None => {
                let verdict = verdicts.first().ok_or_else(no_verdict)?;
                allowed(&request, verdict)?;
                let executions = executions(&request, verdict.placeholders())?;
                let sql = list_form(&request.query, &request.params, dialect)
                    .unwrap_or_else(|| request.query.clone());
                (sql, executions, Vec::new())
            }
            Some(statements) => {
                let mut steps = Vec::with_capacity(statements.len());
                for (index, (statement, verdict)) in statements.iter().zip(verdicts).enumerate() {
                    let at = |failure: Failure| failure.in_statement(index);
                    allowed(&request, verdict).map_err(at)?;
                    let params =
                        converted(&statement.params, verdict.placeholders(), None).map_err(at)?;
                    let sql = list_form(&statement.query, &statement.params, dialect)
                        .unwrap_or_else(|| statement.query.clone());
                    steps.push(Step {
                        sql,
                        params,
                        writes: verdict.writes(),
                    });
                }
                let mut steps = steps.into_iter();
                let first = steps.next().ok_or_else(no_verdict)?;
                (first.sql, vec![first.params], steps.collect())
            }
        };
        Ok(Job {
            plugin,
            deadline,
            sql,
            writes: verdicts.first().is_some_and(Verdict::writes),
            executions,
            allow_write: request.allow_write,
            timeout_ms: request.timeout_ms,
            max_rows: request.max_rows as usize,
            row_format: request.row_format,
            byte_budget: self.max_payload.saturating_sub(REPLY_RESERVE_BYTES),
            then,
            chunks: None,
        })
    }

    /// The error reply for `failure`.
    fn failed(&self, failure: &Failure, progress: &Progress, correlation_id: &str) -> Replied {
        if let Some(detail) = failure.internal() {
            tracing::error!(correlation_id, error = %detail, "internal error");
        }
        Replied {
            body: self.error_body(failure, progress, correlation_id),
            outcome: Some(failure.code()),
            row_count: 0,
            rows_returned: 0,
            truncated: false,
            replayed: false,
            statement_rows: Vec::new(),
        }
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

/// A transaction's failure names its statement; an engine names it only when the
/// transaction has more than one.
fn in_transaction(
    outcome: Result<Outcome, crate::engine::ExecError>,
    transaction: bool,
) -> Result<Outcome, crate::engine::ExecError> {
    use crate::engine::ExecError;
    outcome.map_err(|error| match error {
        ExecError::InStatement { .. } => error,
        error if transaction => ExecError::InStatement {
            index: 0,
            error: Box::new(error),
        },
        error => error,
    })
}

/// A write needs `allow_write`.
fn allowed(request: &Request, verdict: &Verdict) -> Result<(), Failure> {
    if verdict.writes() && !request.allow_write {
        return Err(Failure::WriteNotAllowed);
    }
    Ok(())
}

/// A job's statements each have a verdict; none means a bug upstream.
fn no_verdict() -> Failure {
    Failure::Exec(crate::engine::ExecError::Internal(
        "a statement without a verdict".to_owned(),
    ))
}

fn deadline(request: &Request, received: Instant) -> Instant {
    received + Duration::from_millis(u64::from(request.timeout_ms))
}

/// The reply to a job that ran: its statement's result, or with `transaction` every
/// statement's result in `results`.
fn succeeded(outcome: Outcome, transaction: bool) -> Replied {
    if !transaction {
        let row_count = outcome.row_count;
        let rows_returned = outcome.rows.len() as u64;
        let truncated = outcome.rows.truncated().is_some();
        return Replied {
            body: result_body(outcome.rows, row_count, outcome.execution_time),
            outcome: None,
            row_count,
            rows_returned,
            truncated,
            replayed: false,
            statement_rows: Vec::new(),
        };
    }
    let parts = std::iter::once((outcome.rows, outcome.row_count)).chain(
        outcome
            .then
            .into_iter()
            .map(|step| (step.rows, step.row_count)),
    );
    let mut results = Vec::new();
    let (mut rows_returned, mut truncated) = (0, false);
    let mut statement_rows = Vec::new();
    for (rows, row_count) in parts {
        rows_returned += rows.len() as u64;
        truncated |= rows.truncated().is_some();
        statement_rows.push(row_count);
        if !results.is_empty() {
            results.push(b',');
        }
        results.extend(result_body(rows, row_count, outcome.execution_time));
    }
    let row_count = statement_rows.iter().sum();
    let tail = ReplyTail {
        row_count,
        execution_time_ms: outcome.execution_time.as_secs_f64() * 1000.0,
        truncated,
        truncated_reason: None,
        columns: Vec::new(),
        blob_columns: Vec::new(),
        blob_values: Vec::new(),
        stream: None,
    };
    let mut body = envelope(b"", &tail);
    // `envelope` ends with the tail's closing brace: `results` goes in before it.
    body.pop();
    body.extend_from_slice(b",\"results\":[");
    body.extend_from_slice(&results);
    body.extend_from_slice(b"]}");
    Replied {
        body,
        outcome: None,
        row_count,
        rows_returned,
        truncated,
        replayed: false,
        statement_rows,
    }
}

/// A recorded reply sent again, byte for byte.
fn replayed(recorded: Recorded) -> Replied {
    Replied {
        body: recorded.body,
        outcome: recorded.outcome,
        row_count: 0,
        rows_returned: 0,
        truncated: false,
        replayed: true,
        statement_rows: Vec::new(),
    }
}

/// The statement in the backend's form for list arguments (PROTOCOL.md section 4): a JSON
/// array bound to the only placeholder of an `IN (...)` list is the list. `None` when no
/// argument is an array, which is the common case and costs one pass over the parameters.
fn list_form(query: &str, params: &[Value], dialect: sql_core::Dialect) -> Option<String> {
    let lists: Vec<usize> = params
        .iter()
        .enumerate()
        .filter(|(_, value)| value.is_array())
        .map(|(i, _)| i + 1)
        .collect();
    sql_core::expand_list_params(query, dialect, &lists)
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
        .map(|(params, batch_index)| converted(params, placeholders, batch_index))
        .collect()
}

/// One parameter list, checked against the placeholder count and converted.
fn converted(
    params: &[Value],
    placeholders: usize,
    batch_index: Option<usize>,
) -> Result<Vec<SqlValue>, Failure> {
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
    /// Always sent, empty or not: its presence tells the client that strings outside it
    /// (and outside `blob_values`) are text (PROTOCOL.md section 3).
    blob_columns: Vec<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    blob_values: Vec<[usize; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<wire::StreamPosition>,
}

/// One statement's result as a success reply.
fn result_body(rows: crate::rows::RowSink, row_count: u64, execution_time: Duration) -> Vec<u8> {
    chunk_body(rows, row_count, execution_time, None)
}

/// A result as a success reply, with its place in a stream when it is a chunk of one.
fn chunk_body(
    rows: crate::rows::RowSink,
    row_count: u64,
    execution_time: Duration,
    stream: Option<wire::StreamPosition>,
) -> Vec<u8> {
    let encoded = rows.finish();
    let tail = ReplyTail {
        row_count,
        execution_time_ms: execution_time.as_secs_f64() * 1000.0,
        truncated: encoded.truncated.is_some(),
        truncated_reason: encoded.truncated,
        columns: encoded.columns,
        blob_columns: encoded.blob_columns,
        blob_values: encoded.blob_values,
        stream,
    };
    envelope(&encoded.rows, &tail)
}

/// A success reply of the encoded `rows` and the other fields.
fn envelope(rows: &[u8], tail: &ReplyTail) -> Vec<u8> {
    // Serializing plain data into a Vec cannot fail.
    let tail = serde_json::to_vec(tail).unwrap_or_else(|_| b"{}".to_vec());
    let mut body = Vec::with_capacity(rows.len() + tail.len() + 16);
    body.extend_from_slice(b"{\"rows\":[");
    body.extend_from_slice(rows);
    body.extend_from_slice(b"],");
    // `tail` is a JSON object with at least one field: drop its opening brace.
    body.extend_from_slice(tail.get(1..).unwrap_or(b"}"));
    body
}
