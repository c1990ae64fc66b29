//! Query metrics (FR-5, NFR-3): counts, error rate, latency percentiles, the rate-limit
//! status and slow-query statistics, as a snapshot and in Prometheus text format.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sql_core::RateStatus;

/// Latencies kept for the percentiles: the most recent queries, so that percentiles follow
/// current behaviour and memory stays bounded.
const LATENCY_WINDOW: usize = 4096;

/// Live counters of one client.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    queries: AtomicU64,
    errors: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    slow: AtomicU64,
    latency: Mutex<Latencies>,
    slow_stats: Mutex<HashMap<String, SlowQueryStats>>,
}

#[derive(Debug, Default)]
struct Latencies {
    recent: VecDeque<f64>,
    total_ms: f64,
    count: u64,
}

impl Metrics {
    pub(crate) fn record_query(&self, latency: Option<Duration>, failed: bool) {
        self.queries.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(latency) = latency {
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
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_slow(&self, query_hash: &str, preview: &str, latency: Duration) {
        self.slow.fetch_add(1, Ordering::Relaxed);
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
        let queries = self.queries.load(Ordering::Relaxed);
        let errors = self.errors.load(Ordering::Relaxed);
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
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            slow_queries: self.slow.load(Ordering::Relaxed),
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

impl MetricsSnapshot {
    /// The snapshot in Prometheus text exposition format, labelled with the plugin.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn f(client: sql_client::SqlClient) {
    /// let text = client.metrics().to_prometheus(client.plugin().name());
    /// assert!(text.contains("sql_client_queries_total{plugin="));
    /// # }
    /// ```
    #[must_use]
    pub fn to_prometheus(&self, plugin: &str) -> String {
        // Plugin names are a-z, 0-9 and '-': nothing to escape in a label value.
        let label = format!("plugin=\"{plugin}\"");
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, f64)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (extra, value) in samples {
                let labels = if extra.is_empty() {
                    label.clone()
                } else {
                    format!("{label},{extra}")
                };
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        };
        let n = |v: u64| v as f64;
        metric(
            "sql_client_queries_total",
            "counter",
            "Queries attempted.",
            &[("", n(self.queries))],
        );
        metric(
            "sql_client_errors_total",
            "counter",
            "Queries that failed.",
            &[("", n(self.errors))],
        );
        metric(
            "sql_client_retries_total",
            "counter",
            "Requests retried after a transient failure.",
            &[("", n(self.retries))],
        );
        metric(
            "sql_client_rate_limited_total",
            "counter",
            "Queries refused by the rate limiter.",
            &[("", n(self.rate_limited))],
        );
        metric(
            "sql_client_slow_queries_total",
            "counter",
            "Queries slower than the threshold.",
            &[("", n(self.slow_queries))],
        );
        metric(
            "sql_client_error_rate",
            "gauge",
            "Errors over all queries.",
            &[("", self.error_rate)],
        );
        metric(
            "sql_client_latency_ms",
            "gauge",
            "Query latency over recent queries, in milliseconds.",
            &[
                ("stat=\"mean\"", self.latency.mean_ms),
                ("quantile=\"0.5\"", self.latency.p50_ms),
                ("quantile=\"0.95\"", self.latency.p95_ms),
                ("quantile=\"0.99\"", self.latency.p99_ms),
            ],
        );
        metric(
            "sql_client_rate_limit",
            "gauge",
            "Queries allowed per window.",
            &[("", f64::from(self.rate_limit.limit.max()))],
        );
        metric(
            "sql_client_rate_limit_used",
            "gauge",
            "Queries counted in the current window.",
            &[("", f64::from(self.rate_limit.used))],
        );
        metric(
            "sql_client_rate_limit_remaining",
            "gauge",
            "Queries still allowed in the current window.",
            &[("", f64::from(self.rate_limit.remaining))],
        );
        out
    }
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
    fn prometheus_text_parses() {
        let m = Metrics::default();
        m.record_query(Some(Duration::from_millis(5)), false);
        m.record_retry();
        let text = m.snapshot(status()).to_prometheus("analytics-db");
        let mut samples = HashMap::new();
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            let (name, labels) = series.split_once('{').unwrap();
            assert!(
                labels.ends_with('}') && labels.contains("plugin=\"analytics-db\""),
                "{line}"
            );
            samples.insert(format!("{name}{{{labels}"), value);
        }
        assert_eq!(
            samples["sql_client_queries_total{plugin=\"analytics-db\"}"],
            1.0
        );
        assert_eq!(
            samples["sql_client_retries_total{plugin=\"analytics-db\"}"],
            1.0
        );
        assert_eq!(
            samples["sql_client_rate_limit_remaining{plugin=\"analytics-db\"}"],
            97.0
        );
        assert_eq!(
            samples["sql_client_latency_ms{plugin=\"analytics-db\",quantile=\"0.99\"}"],
            5.0
        );
    }
}
