//! A read streamed in chunks (PROTOCOL.md section 2, `stream`): the statement runs once,
//! its rows cut into chunks of at most `chunk_bytes`, each sent when the client asks for
//! it. The engine fills the next chunk while the client reads one, and waits when a full
//! chunk is not taken yet, so a stream holds at most two chunks in memory whatever its
//! size; its deadline bounds it whole, the time the client takes included.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use sql_core::ErrorCode;
use sql_core::wire::{StreamOptions, StreamPosition};
use tokio::sync::mpsc;

use super::{Incoming, Pipeline, Progress, REPLY_RESERVE_BYTES, Ran, Replied, chunk_body};
use crate::engine::{ExecError, Job, Outcome};
use crate::failure::Failure;
use crate::metrics::InFlight;
use crate::rows::RowSink;

/// How long past its deadline a stream waits for its statement to stop.
const STOP_WAIT: Duration = Duration::from_secs(1);

type Running<'a> = Pin<Box<dyn Future<Output = Result<Outcome, ExecError>> + Send + 'a>>;

/// A stream being served: its statement, running until its last chunk is taken, and what
/// its audit record will say.
pub(crate) struct Streaming<'a> {
    pipeline: &'a Pipeline,
    id: String,
    deadline: Instant,
    /// The number of the next chunk.
    seq: u64,
    /// The statement; `None` once it ended.
    run: Option<Running<'a>>,
    chunks: mpsc::Receiver<RowSink>,
    rows: u64,
    truncated: bool,
    started: Instant,
    received: Instant,
    correlation_id: String,
    progress: Progress,
    /// The error that ended the stream, when one did.
    failed: Option<ErrorCode>,
    in_flight: Option<InFlight<'a>>,
}

impl Pipeline {
    /// Starts the streamed read `job` and waits for its first chunk: the whole result
    /// when it fits one (answered as a plain reply, with `done`), else the stream to go on
    /// with.
    pub(super) async fn open_stream(
        &self,
        mut job: Job,
        options: StreamOptions,
        incoming: &Incoming<'_>,
    ) -> Result<Ran<'_>, Failure> {
        let (sender, chunks) = mpsc::channel(1);
        let reply_room = self.max_payload.saturating_sub(REPLY_RESERVE_BYTES);
        job.byte_budget = (options.chunk_bytes as usize).min(reply_room);
        // A stream is bounded by its chunks and its deadline, not by a row count.
        job.max_rows = usize::MAX;
        job.chunks = Some(sender);
        let deadline = job.deadline;
        let mut streaming = Streaming {
            pipeline: self,
            id: uuid::Uuid::new_v4().simple().to_string(),
            deadline,
            seq: 0,
            run: Some(Box::pin(self.engine.execute(job))),
            chunks,
            rows: 0,
            truncated: false,
            started: Instant::now(),
            received: incoming.received,
            correlation_id: incoming.correlation_id.to_owned(),
            progress: Progress::default(),
            failed: None,
            in_flight: None,
        };
        let first = streaming.next_chunk().await?;
        if streaming.run.is_some() {
            return Ok(Ran::Streaming(first, Box::new(streaming)));
        }
        Ok(Ran::Replied(Replied {
            body: first,
            outcome: None,
            row_count: streaming.rows,
            rows_returned: streaming.rows,
            truncated: streaming.truncated,
            replayed: false,
            statement_rows: Vec::new(),
        }))
    }
}

impl<'a> Streaming<'a> {
    /// The stream with what its audit record needs, and its place among the requests in
    /// flight, kept until it ends.
    pub(super) fn with(
        mut self: Box<Self>,
        progress: Progress,
        in_flight: InFlight<'a>,
    ) -> Box<Self> {
        self.progress = progress;
        self.in_flight = Some(in_flight);
        self
    }

    /// The stream's id, the last token of its subject.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// When the stream ends, answered or not.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The number of the chunk to be asked for next.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq
    }

    /// Whether the last chunk was sent.
    pub(crate) fn is_done(&self) -> bool {
        self.run.is_none()
    }

    /// The reply to a request for the next chunk: the chunk, or the error that ended the
    /// stream.
    pub(crate) async fn next(&mut self) -> Vec<u8> {
        match self.next_chunk().await {
            Ok(body) => body,
            Err(failure) => {
                let replied = self
                    .pipeline
                    .failed(&failure, &self.progress, &self.correlation_id);
                self.run = None;
                self.failed = replied.outcome;
                replied.body
            }
        }
    }

    /// The reply for a request the stream cannot take (a wrong chunk number, a body that
    /// is no stream request); the stream goes on.
    pub(crate) fn refusal(&self, failure: &Failure) -> Vec<u8> {
        self.pipeline
            .failed(failure, &self.progress, &self.correlation_id)
            .body
    }

    async fn next_chunk(&mut self) -> Result<Vec<u8>, Failure> {
        let Some(run) = self.run.as_mut() else {
            return Err(Failure::Exec(ExecError::Internal(
                "a chunk asked for after the stream ended".to_owned(),
            )));
        };
        // A full chunk first: the statement may have sent one and ended since.
        let (rows, done) = tokio::select! {
            biased;
            Some(rows) = self.chunks.recv() => (rows, false),
            outcome = run => {
                self.run = None;
                (outcome?.rows, true)
            }
        };
        let count = rows.len() as u64;
        self.rows += count;
        self.truncated |= rows.truncated().is_some();
        let position = StreamPosition::new(self.id.clone(), self.seq, done);
        self.seq += 1;
        Ok(chunk_body(
            rows,
            count,
            self.started.elapsed(),
            Some(position),
        ))
    }

    /// Ends the stream: a statement still running is stopped (it waits on a chunk nobody
    /// takes, or is at its deadline), and the stream is audited as one request with its
    /// rows in all, `outcome` when it did not end by its last chunk.
    pub(crate) async fn end(mut self: Box<Self>, outcome: Option<ErrorCode>) {
        if let Some(run) = self.run.take() {
            self.chunks.close();
            // Refused its next chunk, it returns at once; otherwise its deadline stops it.
            let _ = tokio::time::timeout_at((self.deadline + STOP_WAIT).into(), run).await;
        }
        let outcome = self.failed.or(outcome);
        let replied = Replied {
            body: Vec::new(),
            outcome,
            row_count: self.rows,
            rows_returned: self.rows,
            truncated: self.truncated,
            replayed: false,
            statement_rows: Vec::new(),
        };
        self.in_flight = None;
        self.pipeline.account(
            &self.progress,
            &self.correlation_id,
            self.received.elapsed(),
            &replied,
        );
    }
}
