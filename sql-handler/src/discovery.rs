//! The NATS micro-service API (ADR-32): every replica answers `$SRV.PING`, `$SRV.INFO` and
//! `$SRV.STATS` (alone, `.sql-handler`, or `.sql-handler.<id>`) with its name, version,
//! endpoint and request counts, so `nats micro ls` lists every replica.
//!
//! async-nats's `service::Service` would serve these verbs too, but only for endpoints it
//! subscribes itself, and its endpoints can unsubscribe but not drain: a shutdown would
//! drop requests already on their way. The handler keeps its own subscription (and its
//! drain), answers the verbs here with async-nats's own response types, and counts
//! requests where its metrics do.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::service::{Info, PingResponse, Stats, endpoint, error};
use bytes::Bytes;
use futures::StreamExt as _;
use sql_core::{Dialect, ErrorCode};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// The service name replicas share: `nats micro ls` groups them under it.
pub(crate) const SERVICE_NAME: &str = "sql-handler";
/// The name of the one endpoint, the request subject.
const ENDPOINT_NAME: &str = "execute";

/// What a replica says about itself.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// The endpoint's subject, `<prefix>.*.execute`.
    pub(crate) subject: String,
    pub(crate) queue_group: String,
    pub(crate) dialect: Dialect,
}

/// The verb responders of one replica; they stop on [`Discovery::stop`] or when dropped.
#[derive(Debug)]
pub(crate) struct Discovery {
    id: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Discovery {
    /// Subscribes to the verbs' subjects and starts answering them.
    pub(crate) async fn start(
        client: &async_nats::Client,
        identity: Identity,
        metrics: Arc<Metrics>,
    ) -> Result<Self, async_nats::SubscribeError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut subscriptions = Vec::with_capacity(9);
        for verb in ["PING", "INFO", "STATS"] {
            for subject in [
                format!("$SRV.{verb}"),
                format!("$SRV.{verb}.{SERVICE_NAME}"),
                format!("$SRV.{verb}.{SERVICE_NAME}.{id}"),
            ] {
                subscriptions.push(client.subscribe(subject).await?);
            }
        }
        let responder = Responder {
            client: client.clone(),
            replica: Replica::new(&id, identity),
            metrics,
        };
        let stop = CancellationToken::new();
        let task =
            tokio::spawn(responder.run(futures::stream::select_all(subscriptions), stop.clone()));
        Ok(Self { id, stop, task })
    }

    /// This replica's id in the micro API.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// Stops answering: the replica leaves `nats micro ls` as it stops taking requests.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        let _ = (&mut self.task).await;
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The fixed part of every answer.
#[derive(Debug)]
struct Replica {
    info: Info,
    started: async_nats::service::endpoint::Stats,
    started_at: async_nats::datetime::DateTime,
}

impl Replica {
    fn new(id: &str, identity: Identity) -> Self {
        let database = identity.dialect.name();
        let endpoint = endpoint::Info {
            name: ENDPOINT_NAME.to_owned(),
            subject: identity.subject,
            queue_group: identity.queue_group,
            metadata: HashMap::new(),
        };
        let info = Info {
            kind: "io.nats.micro.v1.info_response".to_owned(),
            name: SERVICE_NAME.to_owned(),
            id: id.to_owned(),
            description: "Runs plugins' policy-checked SQL received over NATS".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            metadata: HashMap::from([("database".to_owned(), database.to_owned())]),
            endpoints: vec![endpoint.clone()],
        };
        let started = endpoint::Stats {
            name: endpoint.name,
            subject: endpoint.subject,
            queue_group: endpoint.queue_group,
            requests: 0,
            errors: 0,
            processing_time: std::time::Duration::ZERO,
            average_processing_time: std::time::Duration::ZERO,
            last_error: None,
            data: None,
        };
        Self {
            info,
            started,
            started_at: async_nats::datetime::now(),
        }
    }
}

struct Responder {
    client: async_nats::Client,
    replica: Replica,
    metrics: Arc<Metrics>,
}

impl Responder {
    async fn run(
        self,
        mut requests: impl futures::Stream<Item = async_nats::Message> + Unpin,
        stop: CancellationToken,
    ) {
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                message = requests.next() => match message {
                    Some(message) => message,
                    None => return,
                },
            };
            let Some(reply) = message.reply else { continue };
            let verb = message.subject.split('.').nth(1).unwrap_or_default();
            let body = match verb {
                "PING" => serde_json::to_vec(&self.ping()),
                "INFO" => serde_json::to_vec(&self.replica.info),
                _ => serde_json::to_vec(&self.stats()),
            };
            match body {
                Ok(body) => {
                    if let Err(e) = self.client.publish(reply, Bytes::from(body)).await {
                        tracing::warn!(error = %e, verb, "cannot answer a micro-service request");
                    }
                }
                Err(e) => tracing::warn!(error = %e, verb, "cannot encode a micro-service answer"),
            }
        }
    }

    fn ping(&self) -> PingResponse {
        let info = &self.replica.info;
        PingResponse {
            kind: "io.nats.micro.v1.ping_response".to_owned(),
            name: info.name.clone(),
            id: info.id.clone(),
            version: info.version.clone(),
            metadata: info.metadata.clone(),
        }
    }

    fn stats(&self) -> Stats {
        let totals = self.metrics.totals();
        let requests = usize::try_from(totals.requests).unwrap_or(usize::MAX);
        let average = u32::try_from(totals.requests)
            .ok()
            .filter(|n| *n > 0)
            .map_or(std::time::Duration::ZERO, |n| totals.processing_time / n);
        let info = &self.replica.info;
        Stats {
            kind: "io.nats.micro.v1.stats_response".to_owned(),
            name: info.name.clone(),
            id: info.id.clone(),
            version: info.version.clone(),
            started: self.replica.started_at,
            endpoints: vec![endpoint::Stats {
                requests,
                errors: usize::try_from(totals.errors).unwrap_or(usize::MAX),
                processing_time: totals.processing_time,
                average_processing_time: average,
                last_error: totals.last_error.map(|code| error::Error {
                    status: code.as_str().to_owned(),
                    code: status_code(code),
                }),
                ..self.replica.started.clone()
            }],
        }
    }
}

/// The micro API's numeric code for an error reply, in HTTP's classes: the caller's
/// mistake, a refusal, too many requests, too slow, or the server's fault.
fn status_code(code: ErrorCode) -> usize {
    match code {
        ErrorCode::RequestValidationError
        | ErrorCode::EmptyQuery
        | ErrorCode::ParseError
        | ErrorCode::StackedQueries
        | ErrorCode::ForbiddenStatement
        | ErrorCode::ForbiddenFunction
        | ErrorCode::ParamCountMismatch
        | ErrorCode::InvalidPlaceholder
        | ErrorCode::ParamTypeError
        | ErrorCode::DuplicateColumn => 400,
        ErrorCode::NamespaceViolation
        | ErrorCode::SystemTableAccess
        | ErrorCode::PermissionDenied => 403,
        ErrorCode::RateLimit => 429,
        ErrorCode::Overloaded => 503,
        ErrorCode::Timeout => 504,
        // A code added later is the server's until it is placed.
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_has_a_status_in_its_class() {
        for code in sql_core::ALL_ERROR_CODES {
            let status = status_code(code);
            assert!((400..600).contains(&status), "{code:?}: {status}");
        }
        assert_eq!(status_code(ErrorCode::RateLimit), 429);
        assert_eq!(status_code(ErrorCode::ExecutionError), 500);
        assert_eq!(status_code(ErrorCode::NamespaceViolation), 403);
    }
}
