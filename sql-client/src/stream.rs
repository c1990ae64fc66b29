//! Reads of any size as a stream of rows (PROTOCOL.md section 2, `stream`): the handler
//! cuts the result into chunks and sends each when asked; this side asks for the next one
//! only when the rows of the last are used up, so both sides hold about one chunk at a
//! time whatever the result's size.

use std::time::{Duration, Instant};

use futures_util::Stream;
use serde_json::json;
use sql_core::ErrorCode;
use sql_core::wire::{self, StreamNext, StreamOptions};

use crate::audit::AuditRecord;
use crate::client::{Call, SqlClient, complete, decode_reply};
use crate::error::{ERROR_PREVIEW_CHARS, ErrorDetail, SqlError};
use crate::query::{AnyQuery, Query, Select};
use crate::result::SqlResult;
use crate::row::{Row, SqlRow};

/// Client-side code of a stream whose handler stopped answering.
const STREAM_LOST: &str = "STREAM_LOST";

/// [`SqlClient::select_stream`]'s stream.
pub(crate) fn rows<'a, T: SqlRow + Send + 'a>(
    client: &'a SqlClient,
    query: Query<Select>,
) -> impl Stream<Item = Result<T, SqlError>> + Send + 'a {
    let state = Reading::new(client, query.erase());
    futures_util::stream::unfold(state, |mut state| async move {
        let item = state.next_row().await?;
        Some((item.and_then(|row| state.convert(&row)), state))
    })
}

/// What to do when the rows at hand are used up.
enum Next {
    /// Send the query (with its own checks first).
    Start(Box<Call>, Option<SqlError>),
    /// Ask for chunk `seq` of the stream `id`.
    Chunk { id: String, seq: u64 },
    /// Nothing more comes.
    Done,
}

/// A stream being read, and what its audit record will say (emitted when it is dropped:
/// at its end, at its error, or when the consumer stops).
struct Reading<'a> {
    client: &'a SqlClient,
    next: Next,
    rows: std::vec::IntoIter<Row>,
    /// A cut result from a handler without streams: its error comes after its rows.
    after_rows: Option<SqlError>,
    sql: String,
    param_count: usize,
    preview: String,
    correlation_id: String,
    started: Instant,
    deadline: Instant,
    delivered: u64,
    attempts: u32,
    error: Option<SqlError>,
}

impl<'a> Reading<'a> {
    fn new(client: &'a SqlClient, query: AnyQuery) -> Self {
        let (timeout, _, row_format) = query.options();
        let timeout = timeout.unwrap_or(client.config().timeout);
        let (part, refused) = client.part(query);
        let sql = part.sql.to_string();
        let param_count = part.params.len();
        let call = Call {
            statements: vec![part],
            transaction: false,
            batch: None,
            timeout,
            max_rows: None,
            row_format,
            stream: Some(StreamOptions::default()),
        };
        let started = Instant::now();
        Self {
            client,
            next: Next::Start(Box::new(call), refused),
            rows: Vec::new().into_iter(),
            after_rows: None,
            preview: sql_core::query_preview(&sql, ERROR_PREVIEW_CHARS),
            sql,
            param_count,
            correlation_id: uuid::Uuid::new_v4().to_string(),
            started,
            deadline: started + timeout,
            delivered: 0,
            attempts: 0,
            error: None,
        }
    }

    /// The next row, the error that ends the stream, or `None` after the last.
    async fn next_row(&mut self) -> Option<Result<Row, SqlError>> {
        loop {
            if let Some(row) = self.rows.next() {
                self.delivered += 1;
                return Some(Ok(row));
            }
            if let Some(err) = self.after_rows.take() {
                return Some(Err(self.failed(err)));
            }
            let chunk = match std::mem::replace(&mut self.next, Next::Done) {
                Next::Done => return None,
                Next::Start(call, refused) => self.start(&call, refused).await,
                Next::Chunk { id, seq } => self.chunk(&id, seq).await,
            };
            match chunk {
                Ok(result) => self.take(result),
                Err(err) => return Some(Err(self.failed(err))),
            }
        }
    }

    fn convert<T: SqlRow>(&mut self, row: &Row) -> Result<T, SqlError> {
        T::from_row(row).map_err(|e| {
            let err = SqlError::decode(e.to_string(), &self.preview);
            self.failed(err)
        })
    }

    /// Ends the stream with `err`, which its audit record will carry.
    fn failed(&mut self, err: SqlError) -> SqlError {
        let err = err
            .with_attempts(self.attempts)
            .with_correlation_id(&self.correlation_id);
        self.next = Next::Done;
        self.rows = Vec::new().into_iter();
        self.error = Some(err.clone());
        err
    }

    async fn start(
        &mut self,
        call: &Call,
        refused: Option<SqlError>,
    ) -> Result<SqlResult, SqlError> {
        if let Some(err) = refused {
            return Err(err.with_attempts(0));
        }
        self.client
            .check(call)
            .map_err(|err| err.with_attempts(0))?;
        match self.client.send(call, &self.correlation_id).await {
            Ok((mut results, attempts)) => {
                self.attempts = attempts;
                results
                    .pop()
                    .ok_or_else(|| SqlError::decode("the reply holds no result", &self.preview))
            }
            Err((err, attempts)) => {
                self.attempts = attempts;
                Err(err)
            }
        }
    }

    /// Asks the handler serving stream `id` for chunk `seq`.
    async fn chunk(&mut self, id: &str, seq: u64) -> Result<SqlResult, SqlError> {
        let prefix = &self.client.config().subject_prefix;
        let subject = wire::stream_subject(prefix, self.client.plugin(), id);
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            // The handler ended the stream at its deadline.
            return Err(SqlError::Timeout(Box::new(ErrorDetail::new(
                ErrorCode::Timeout.as_str(),
                "the stream ran past its timeout before its last chunk was read",
                &self.preview,
            ))));
        }
        let wait = remaining + self.client.config().reply_margin;
        let body = serde_json::to_vec(&StreamNext::Chunk { seq })
            .map_err(|e| SqlError::decode(e.to_string(), &self.preview))?;
        let request = async_nats::Request::new()
            .payload(body.into())
            .timeout(Some(wait));
        let message = self
            .client
            .nats()
            .send_request(subject, request)
            .await
            .map_err(|e| self.lost(&e, wait))?;
        let reply = decode_reply(&message.payload, &self.preview, &[])?;
        SqlResult::from_reply(reply).map_err(|e| SqlError::decode(e, &self.preview))
    }

    fn lost(&self, e: &async_nats::RequestError, wait: Duration) -> SqlError {
        match e.kind() {
            async_nats::RequestErrorKind::NoResponders => {
                SqlError::Transport(Box::new(ErrorDetail::new(
                    STREAM_LOST,
                    "the handler serving this stream is gone (it stopped or restarted); \
                     the stream cannot resume: run the query again",
                    &self.preview,
                )))
            }
            async_nats::RequestErrorKind::TimedOut => {
                SqlError::Timeout(Box::new(ErrorDetail::new(
                    ErrorCode::Timeout.as_str(),
                    format!("no chunk of the stream came within {} ms", wait.as_millis()),
                    &self.preview,
                )))
            }
            _ => SqlError::transport(format!("cannot ask for the next chunk: {e}"), &self.preview),
        }
    }

    /// Takes a chunk's rows, and learns what comes after them.
    fn take(&mut self, result: SqlResult) {
        match result.stream_position() {
            Some(position) if !position.done => {
                self.next = Next::Chunk {
                    id: position.id.clone(),
                    seq: position.seq + 1,
                };
            }
            Some(_) => self.next = Next::Done,
            None => {
                // A handler without streams: one reply, which may have been cut.
                self.after_rows = complete(&result, None, &self.preview).err();
                self.next = Next::Done;
            }
        }
        self.rows = result.into_iter().collect::<Vec<_>>().into_iter();
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if matches!(self.next, Next::Start(..)) {
            // Never polled: nothing was checked or sent, so there is nothing to record.
            return;
        }
        if let Next::Chunk { id, .. } = &self.next {
            // The consumer stopped early: the handler can stop reading now rather than
            // at the deadline. Best effort; without a runtime the deadline does it.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let nats = self.client.nats().clone();
                let subject = wire::stream_subject(
                    &self.client.config().subject_prefix,
                    self.client.plugin(),
                    id,
                );
                let body = json!({"cancel": true}).to_string();
                runtime.spawn(async move {
                    let _ = nats.publish(subject, body.into()).await;
                });
            }
        }
        let elapsed = self.started.elapsed();
        let metrics = self.client.client_metrics();
        metrics.record_query((self.attempts > 0).then_some(elapsed), self.error.is_some());
        let query_hash = sql_core::query_hash(&self.sql);
        AuditRecord {
            plugin: self.client.plugin().name(),
            query: &self.sql,
            query_hash: &query_hash,
            preview: sql_core::audit_preview(&self.sql),
            param_count: self.param_count,
            row_count: self.delivered,
            elapsed,
            truncated: false,
            correlation_id: &self.correlation_id,
            attempts: self.attempts,
            error: self.error.as_ref(),
            statement: None,
        }
        .emit();
    }
}

#[allow(dead_code, reason = "compile-time check only")]
fn streams_are_send(client: &SqlClient, query: Query<Select>) {
    fn is_send<T: Send>(_: T) {}
    is_send(rows::<Row>(client, query));
}
