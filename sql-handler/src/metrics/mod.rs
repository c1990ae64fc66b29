//! Prometheus metrics (NFR-3), one registry per [`crate::Handler`] so that several
//! handlers in one process (as in tests) keep their own counts.

#[cfg(feature = "metrics-http")]
mod http;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sql_core::ErrorCode;

#[cfg(feature = "metrics-http")]
pub(crate) use http::MetricsServer;

/// Distinct plugin names kept as label values; further names share [`OTHER_PLUGINS`].
/// NATS permissions make plugin names real, but an open deployment lets senders pick any
/// valid name, and every label value is a time series held forever.
const MAX_PLUGIN_LABELS: usize = 1000;
/// The label value of plugins beyond [`MAX_PLUGIN_LABELS`]; not a valid plugin name.
const OTHER_PLUGINS: &str = "_other";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PluginLabel {
    plugin: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    plugin: String,
    outcome: &'static str,
}

/// What one request contributes to the metrics.
#[derive(Debug)]
pub(crate) struct RequestFacts<'a> {
    /// A valid plugin name, or `""` when the subject named none.
    pub(crate) plugin: &'a str,
    pub(crate) outcome: Option<ErrorCode>,
    pub(crate) elapsed: Duration,
    /// Rows in the reply.
    pub(crate) rows_returned: u64,
    pub(crate) replayed: bool,
}

/// The handler's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    #[cfg_attr(
        not(any(feature = "metrics-http", test)),
        allow(dead_code, reason = "read by the /metrics endpoint alone")
    )]
    registry: Registry,
    requests: Family<OutcomeLabels, Counter>,
    duration: Family<PluginLabel, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    rows_returned: Family<PluginLabel, Counter>,
    rate_limited: Family<PluginLabel, Counter>,
    replays: Family<PluginLabel, Counter>,
    plugins: Mutex<HashSet<String>>,
    totals: Totals,
}

/// Every plugin's requests together, as the NATS micro API's `STATS` reports them.
#[derive(Debug, Default)]
struct Totals {
    requests: AtomicU64,
    errors: AtomicU64,
    processing_nanos: AtomicU64,
    last_error: Mutex<Option<ErrorCode>>,
}

/// A snapshot of [`Totals`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TotalsSnapshot {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) processing_time: Duration,
    pub(crate) last_error: Option<ErrorCode>,
}

fn duration_histogram() -> Histogram {
    // 0.5 ms to about 16 s: a point read to past the longest timeout.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<OutcomeLabels, Counter>::default();
        let duration = Family::<PluginLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let in_flight = Gauge::default();
        let rows_returned = Family::<PluginLabel, Counter>::default();
        let rate_limited = Family::<PluginLabel, Counter>::default();
        let replays = Family::<PluginLabel, Counter>::default();
        registry.register(
            "sql_handler_requests",
            "Requests answered, by plugin and outcome (OK or the error code)",
            requests.clone(),
        );
        registry.register(
            "sql_handler_request_duration_seconds",
            "Time from receiving a request to its reply being ready",
            duration.clone(),
        );
        registry.register(
            "sql_handler_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        registry.register(
            "sql_handler_rows_returned",
            "Rows sent in replies",
            rows_returned.clone(),
        );
        registry.register(
            "sql_handler_rate_limited",
            "Requests refused with RATE_LIMIT",
            rate_limited.clone(),
        );
        registry.register(
            "sql_handler_idempotent_replays",
            "Writes answered from an Idempotency-Key record instead of being applied again",
            replays.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            in_flight,
            rows_returned,
            rate_limited,
            replays,
            plugins: Mutex::new(HashSet::new()),
            totals: Totals::default(),
        }
    }

    /// Every request answered so far, all plugins together.
    pub(crate) fn totals(&self) -> TotalsSnapshot {
        let totals = &self.totals;
        TotalsSnapshot {
            requests: totals.requests.load(Ordering::Relaxed),
            errors: totals.errors.load(Ordering::Relaxed),
            processing_time: Duration::from_nanos(totals.processing_nanos.load(Ordering::Relaxed)),
            last_error: *totals
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Counts one answered request.
    pub(crate) fn record(&self, facts: &RequestFacts<'_>) {
        let plugin = PluginLabel {
            plugin: self.label(facts.plugin),
        };
        self.requests
            .get_or_create(&OutcomeLabels {
                plugin: plugin.plugin.clone(),
                outcome: facts.outcome.map_or("OK", ErrorCode::as_str),
            })
            .inc();
        self.duration
            .get_or_create(&plugin)
            .observe(facts.elapsed.as_secs_f64());
        if facts.rows_returned > 0 {
            self.rows_returned
                .get_or_create(&plugin)
                .inc_by(facts.rows_returned);
        }
        if facts.outcome == Some(ErrorCode::RateLimit) {
            self.rate_limited.get_or_create(&plugin).inc();
        }
        if facts.replayed {
            self.replays.get_or_create(&plugin).inc();
        }
        let totals = &self.totals;
        totals.requests.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(facts.elapsed.as_nanos()).unwrap_or(u64::MAX);
        totals.processing_nanos.fetch_add(nanos, Ordering::Relaxed);
        if let Some(code) = facts.outcome {
            totals.errors.fetch_add(1, Ordering::Relaxed);
            *totals
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(code);
        }
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub(crate) fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    #[cfg(any(feature = "metrics-http", test))]
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }

    /// The label value for `plugin`, bounded by [`MAX_PLUGIN_LABELS`].
    fn label(&self, plugin: &str) -> String {
        let mut seen = self.plugins.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.contains(plugin) {
            return plugin.to_owned();
        }
        if seen.len() >= MAX_PLUGIN_LABELS {
            return OTHER_PLUGINS.to_owned();
        }
        seen.insert(plugin.to_owned());
        plugin.to_owned()
    }
}

/// Keeps `sql_handler_in_flight` raised while alive.
#[derive(Debug)]
pub(crate) struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn facts(plugin: &str, outcome: Option<ErrorCode>) -> RequestFacts<'_> {
        RequestFacts {
            plugin,
            outcome,
            elapsed: Duration::from_millis(3),
            rows_returned: 2,
            replayed: false,
        }
    }

    #[test]
    fn counts_by_plugin_and_outcome_in_prometheus_text() {
        let metrics = Metrics::new();
        metrics.record(&facts("analytics-db", None));
        metrics.record(&facts("analytics-db", None));
        metrics.record(&facts("analytics-db", Some(ErrorCode::RateLimit)));
        metrics.record(&RequestFacts {
            replayed: true,
            ..facts("quote-db", None)
        });
        let guard = metrics.in_flight();
        let text = metrics.encode().unwrap();
        drop(guard);
        for line in [
            "sql_handler_requests_total{plugin=\"analytics-db\",outcome=\"OK\"} 2",
            "sql_handler_requests_total{plugin=\"analytics-db\",outcome=\"RATE_LIMIT\"} 1",
            "sql_handler_rate_limited_total{plugin=\"analytics-db\"} 1",
            "sql_handler_rows_returned_total{plugin=\"analytics-db\"} 6",
            "sql_handler_idempotent_replays_total{plugin=\"quote-db\"} 1",
            "sql_handler_request_duration_seconds_count{plugin=\"analytics-db\"} 3",
            "sql_handler_in_flight 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(
            metrics
                .encode()
                .unwrap()
                .contains("sql_handler_in_flight 0")
        );
    }

    #[test]
    fn plugin_labels_are_bounded() {
        let metrics = Metrics::new();
        for i in 0..MAX_PLUGIN_LABELS + 5 {
            metrics.record(&facts(&format!("p{i}"), None));
        }
        let text = metrics.encode().unwrap();
        assert!(text.contains("sql_handler_requests_total{plugin=\"_other\",outcome=\"OK\"} 5"));
        assert!(text.contains("{plugin=\"p0\",outcome=\"OK\"} 1"));
    }
}
