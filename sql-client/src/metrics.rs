//! Query metrics (FR-5, NFR-3): counts, error rate, latency percentiles, the rate-limit
//! status and slow-query statistics, as a snapshot; and the same as Prometheus metrics
//! (`prometheus-client`), with the latency as a histogram so that instances aggregate.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sql_core::RateStatus;

/// Latencies kept for the snapshot's percentiles: the most recent queries, so that they
/// follow current behaviour and memory stays bounded. Prometheus gets a histogram instead.
const LATENCY_WINDOW: usize = 4096;

/// Live counters of one client.
#[derive(Debug)]
pub(crate) struct Metrics {
    queries: Counter,
    errors: Counter,
    retries: Counter,
    rate_limited: Counter,
    slow: Counter,
    duration: Histogram,
    rate_limit: Gauge,
    rate_limit_used: Gauge,
    rate_limit_remaining: Gauge,
    latency: Mutex<Latencies>,
    slow_stats: Mutex<HashMap<String, SlowQueryStats>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            queries: Counter::default(),
            errors: Counter::default(),
            retries: Counter::default(),
            rate_limited: Counter::default(),
            slow: Counter::default(),
            // 0.5 ms to about 16 s, as the handler's: a point read to past the longest
            // timeout.
            duration: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            rate_limit: Gauge::default(),
            rate_limit_used: Gauge::default(),
            rate_limit_remaining: Gauge::default(),
            latency: Mutex::default(),
            slow_stats: Mutex::default(),
        }
    }
}

#[derive(Debug, Default)]
struct Latencies {
    recent: VecDeque<f64>,
    total_ms: f64,
    count: u64,
}

impl Metrics {
    pub(crate) fn record_query(&self, latency: Option<Duration>, failed: bool) {
        self.queries.inc();
        if failed {
            self.errors.inc();
        }
        if let Some(latency) = latency {
            self.duration.observe(latency.as_secs_f64());
            let ms = latency.as_secs_f64() * 1000.0;
            let mut l = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            if l.recent.len() == LATENCY_WINDOW {
                l.recent.pop_front();
            }
            l.recent.push_back(ms);
            l.total_ms += ms;
            l.count += 1;
        }
    }

    pub(crate) fn record_retry(&self) {
        self.retries.inc();
    }

    pub(crate) fn record_rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Sets the rate-limit gauges, which Prometheus reads as they were last set.
    pub(crate) fn record_rate_status(&self, status: RateStatus) {
        self.rate_limit.set(i64::from(status.limit.max()));
        self.rate_limit_used.set(i64::from(status.used));
        self.rate_limit_remaining.set(i64::from(status.remaining));
    }

    /// Registers the metrics in `registry`, which may hold other clients' (each under its
    /// own `plugin` label) and the plugin's own metrics.
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "sql_client_queries",
            "Queries attempted",
            self.queries.clone(),
        );
        registry.register(
            "sql_client_errors",
            "Queries that failed, for any reason",
            self.errors.clone(),
        );
        registry.register(
            "sql_client_retries",
            "Requests sent again after a transient failure",
            self.retries.clone(),
        );
        registry.register(
            "sql_client_rate_limited",
            "Queries refused by the client's rate limiter",
            self.rate_limited.clone(),
        );
        registry.register(
            "sql_client_slow_queries",
            "Queries slower than the slow-query threshold",
            self.slow.clone(),
        );
        registry.register(
            "sql_client_query_duration_seconds",
            "Time from a query's call to its result, for queries that got a reply",
            self.duration.clone(),
        );
        registry.register(
            "sql_client_rate_limit",
            "Queries allowed per rate-limit window",
            self.rate_limit.clone(),
        );
        registry.register(
            "sql_client_rate_limit_used",
            "Queries counted in the current rate-limit window",
            self.rate_limit_used.clone(),
        );
        registry.register(
            "sql_client_rate_limit_remaining",
            "Queries still allowed in the current rate-limit window",
            self.rate_limit_remaining.clone(),
        );
    }

    pub(crate) fn record_slow(&self, query_hash: &str, preview: &str, latency: Duration) {
        self.slow.inc();
        let ms = latency.as_secs_f64() * 1000.0;
        let mut stats = self
            .slow_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = stats
            .entry(query_hash.to_owned())
            .or_insert_with(|| SlowQueryStats {
                query_hash: query_hash.to_owned(),
                query_preview: preview.to_owned(),
                count: 0,
                mean_ms: 0.0,
                max_ms: 0.0,
            });
        entry.count += 1;
        // Running mean: no need to keep every sample.
        entry.mean_ms += (ms - entry.mean_ms) / entry.count as f64;
        entry.max_ms = entry.max_ms.max(ms);
    }

    pub(crate) fn snapshot(&self, rate_limit: RateStatus) -> MetricsSnapshot {
        let queries = self.queries.get();
        let errors = self.errors.get();
        let latency = {
            let l = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
            let mut sorted: Vec<f64> = l.recent.iter().copied().collect();
            sorted.sort_by(f64::total_cmp);
            LatencySummary {
                mean_ms: if l.count == 0 {
                    0.0
                } else {
                    l.total_ms / l.count as f64
                },
                p50_ms: percentile(&sorted, 50.0),
                p95_ms: percentile(&sorted, 95.0),
                p99_ms: percentile(&sorted, 99.0),
            }
        };
        let mut slow_query_stats: Vec<SlowQueryStats> = self
            .slow_stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        slow_query_stats.sort_by(|a, b| b.max_ms.total_cmp(&a.max_ms));
        MetricsSnapshot {
            queries,
            errors,
            retries: self.retries.get(),
            rate_limited: self.rate_limited.get(),
            slow_queries: self.slow.get(),
            error_rate: if queries == 0 {
                0.0
            } else {
                errors as f64 / queries as f64
            },
            latency,
            rate_limit,
            slow_query_stats,
        }
    }
}

/// Nearest-rank percentile of sorted samples; 0 when there are none.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latency over the most recent queries (mean over all of them).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Mean over every query that got a reply.
    pub mean_ms: f64,
    /// Median of the last 4096.
    pub p50_ms: f64,
    /// 95th percentile of the last 4096.
    pub p95_ms: f64,
    /// 99th percentile of the last 4096.
    pub p99_ms: f64,
}

/// Statistics of one slow query (FR-6), keyed by its query hash.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SlowQueryStats {
    /// The audit hash of the query.
    pub query_hash: String,
    /// Its first 100 characters.
    pub query_preview: String,
    /// How often it was slow.
    pub count: u64,
    /// Mean time of its slow runs.
    pub mean_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
}

/// A client's metrics at one moment ([`SqlClient::metrics`](crate::SqlClient::metrics)).
///
/// `queries` counts every call, `errors` every failed one (rate-limited included), so
/// `error_rate` is errors over all queries.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Queries attempted.
    pub queries: u64,
    /// Queries that failed, for any reason.
    pub errors: u64,
    /// Requests sent again after a transient failure.
    pub retries: u64,
    /// Queries refused by the rate limiter.
    pub rate_limited: u64,
    /// Queries slower than the slow-query threshold.
    pub slow_queries: u64,
    /// `errors / queries`, 0 when there were none.
    pub error_rate: f64,
    /// Latency of queries that got a reply.
    pub latency: LatencySummary,
    /// The plugin's rate limit and its use.
    pub rate_limit: RateStatus,
    /// Slow queries by hash, slowest first.
    pub slow_query_stats: Vec<SlowQueryStats>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sql_core::RateLimit;

    fn status() -> RateStatus {
        RateStatus {
            limit: RateLimit::per_minute(100),
            used: 3,
            remaining: 97,
        }
    }

    #[test]
    fn percentiles_and_error_rate() {
        let m = Metrics::default();
        for ms in 1..=100 {
            m.record_query(Some(Duration::from_millis(ms)), ms % 10 == 0);
        }
        m.record_query(None, true);
        let s = m.snapshot(status());
        assert_eq!((s.queries, s.errors), (101, 11));
        assert!((s.error_rate - 11.0 / 101.0).abs() < 1e-9);
        assert!((s.latency.p50_ms - 50.0).abs() < 1e-9);
        assert!((s.latency.p95_ms - 95.0).abs() < 1e-9);
        assert!((s.latency.p99_ms - 99.0).abs() < 1e-9);
        assert!((s.latency.mean_ms - 50.5).abs() < 1e-9);
    }

    #[test]
    fn empty_metrics_are_zero() {
        let s = Metrics::default().snapshot(status());
        assert_eq!(s.error_rate, 0.0);
        assert_eq!(s.latency, LatencySummary::default());
    }

    #[test]
    fn latency_window_is_bounded() {
        let m = Metrics::default();
        for _ in 0..LATENCY_WINDOW + 10 {
            m.record_query(Some(Duration::from_millis(1)), false);
        }
        assert_eq!(m.latency.lock().unwrap().recent.len(), LATENCY_WINDOW);
    }

    #[test]
    fn slow_statistics_aggregate_per_hash() {
        let m = Metrics::default();
        m.record_slow("h1", "SELECT a", Duration::from_millis(600));
        m.record_slow("h1", "SELECT a", Duration::from_millis(800));
        m.record_slow("h2", "SELECT b", Duration::from_millis(900));
        let s = m.snapshot(status());
        assert_eq!(s.slow_queries, 3);
        assert_eq!(s.slow_query_stats[0].query_hash, "h2");
        let h1 = &s.slow_query_stats[1];
        assert_eq!(h1.count, 2);
        assert!((h1.mean_ms - 700.0).abs() < 1e-9 && (h1.max_ms - 800.0).abs() < 1e-9);
    }

    #[test]
    fn prometheus_text_has_a_latency_histogram() {
        let m = Metrics::default();
        m.record_query(Some(Duration::from_millis(5)), false);
        m.record_query(Some(Duration::from_millis(300)), true);
        m.record_retry();
        m.record_rate_status(status());
        let mut registry = Registry::default();
        m.register(registry.sub_registry_with_label(("plugin".into(), "analytics-db".into())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let sample = |series: &str| -> f64 {
            text.lines()
                .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        };
        assert_eq!(
            sample("sql_client_queries_total{plugin=\"analytics-db\"}"),
            2.0
        );
        assert_eq!(
            sample("sql_client_errors_total{plugin=\"analytics-db\"}"),
            1.0
        );
        assert_eq!(
            sample("sql_client_retries_total{plugin=\"analytics-db\"}"),
            1.0
        );
        assert_eq!(
            sample("sql_client_rate_limit_remaining{plugin=\"analytics-db\"}"),
            97.0
        );
        assert_eq!(
            sample("sql_client_query_duration_seconds_count{plugin=\"analytics-db\"}"),
            2.0
        );
        // Cumulative buckets: one query within 8 ms, both within 0.512 s.
        assert_eq!(
            sample(
                "sql_client_query_duration_seconds_bucket{plugin=\"analytics-db\",le=\"0.008\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(
                "sql_client_query_duration_seconds_bucket{plugin=\"analytics-db\",le=\"0.512\"}"
            ),
            2.0
        );
        assert!(
            text.contains("# TYPE sql_client_query_duration_seconds histogram"),
            "{text}"
        );
        assert!(!text.contains("quantile"), "no hand-made quantile gauges");
    }
}
