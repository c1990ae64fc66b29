//! The client's settings, with the specification's defaults.

use std::time::Duration;

use sql_core::RateLimit;
use sql_core::wire::DEFAULT_SUBJECT_PREFIX;

use crate::audit::ParamLogging;
use crate::connect::PermissionViolations;
use crate::rate_limit::RateLimiter;
use crate::retry::Backoff;

/// Settings of a [`SqlClient`](crate::SqlClient).
///
/// Defaults (the specification's): timeout 10,000 ms, 3 retries, 100 queries per minute,
/// slow-query threshold 500 ms, subject prefix `rosey.db.sql`, backoff from 50 ms to 2 s,
/// and a reply margin of 1 s on top of the timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sql_client::ClientConfig;
/// use sql_core::RateLimit;
///
/// let config = ClientConfig::default()
///     .timeout(Duration::from_secs(2))
///     .max_retries(5)
///     .rate_limit(RateLimit::per_minute(600))
///     .slow_query_threshold(Duration::from_millis(200));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub(crate) timeout: Duration,
    pub(crate) max_retries: u32,
    pub(crate) rate_limit: RateLimit,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) slow_query_threshold: Duration,
    pub(crate) slow_query_params: ParamLogging,
    pub(crate) subject_prefix: String,
    pub(crate) backoff: Backoff,
    pub(crate) reply_margin: Duration,
    pub(crate) permission_violations: Option<PermissionViolations>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(u64::from(sql_core::wire::DEFAULT_TIMEOUT_MS)),
            max_retries: 3,
            rate_limit: RateLimit::per_minute(100),
            rate_limiter: None,
            slow_query_threshold: Duration::from_millis(500),
            slow_query_params: ParamLogging::default(),
            subject_prefix: DEFAULT_SUBJECT_PREFIX.to_owned(),
            backoff: Backoff::default(),
            reply_margin: Duration::from_secs(1),
            permission_violations: None,
        }
    }
}

impl ClientConfig {
    /// Time the handler may spend on a query (100 ms to 30 s; default 10 s). A query can
    /// set its own with [`Query::timeout`](crate::Query::timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sql_client::ClientConfig;
    ///
    /// let config = ClientConfig::default().timeout(Duration::from_secs(2));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times a failed request is sent again when that is safe (default 3).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::ClientConfig;
    ///
    /// // Fail fast: one attempt, no retries.
    /// let config = ClientConfig::default().max_retries(0);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// This client's plugin limit (default 100 per minute). Ignored when a shared
    /// [`RateLimiter`] is given.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::ClientConfig;
    /// use sql_client::core::RateLimit;
    ///
    /// let config = ClientConfig::default().rate_limit(RateLimit::per_minute(600));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Shares `limiter` (and its limits) with other clients.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::{ClientConfig, RateLimiter};
    /// use sql_client::core::RateLimit;
    ///
    /// // One budget for every client of the process that is built with this config.
    /// let limiter = RateLimiter::new(RateLimit::per_minute(1_000));
    /// let config = ClientConfig::default().rate_limiter(limiter.clone());
    /// assert_eq!(limiter.status("analytics-db").remaining, 1_000);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// Queries slower than this go to the `sql.slow` log too (default 500 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sql_client::ClientConfig;
    ///
    /// let config = ClientConfig::default().slow_query_threshold(Duration::from_millis(200));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn slow_query_threshold(mut self, threshold: Duration) -> Self {
        self.slow_query_threshold = threshold;
        self
    }

    /// How parameters appear in slow-query records (default: sanitized, strings longer
    /// than 100 characters cut to 100 and `...`, as the specification's `_sanitize_params`).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::{ClientConfig, ParamLogging};
    ///
    /// // Parameters may hold personal data: keep them out of the slow-query log.
    /// let config = ClientConfig::default().slow_query_params(ParamLogging::Redacted);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn slow_query_params(mut self, logging: ParamLogging) -> Self {
        self.slow_query_params = logging;
        self
    }

    /// The subject prefix, the same as the handler's (default `rosey.db.sql`).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::ClientConfig;
    ///
    /// // A handler started with the same prefix, e.g. for a staging environment.
    /// let config = ClientConfig::default().subject_prefix("staging.db.sql");
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.subject_prefix = prefix.into();
        self
    }

    /// Waits between retries.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sql_client::{Backoff, ClientConfig};
    ///
    /// let config = ClientConfig::default()
    ///     .max_retries(5)
    ///     .backoff(Backoff::new(Duration::from_millis(20), Duration::from_secs(1)));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Where the connection's permission violations are reported, so that a request the
    /// NATS server refuses fails at once with [`SqlError::Permission`](crate::SqlError::Permission)
    /// (code `NATS_PERMISSION_DENIED`) instead of waiting for its timeout. Set by
    /// [`connect`](crate::connect); without it a refused request times out.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::{ClientConfig, Credentials, connect_options};
    /// use sql_client::core::Plugin;
    ///
    /// let plugin = Plugin::new("analytics-db")?;
    /// let (options, violations) = connect_options(&plugin, Credentials::user_and_password("analytics-db", "s3cret"));
    /// let config = ClientConfig::default().permission_violations(violations);
    /// // `options.connect(...)` then `SqlClient::with_config(nats, plugin.name(), config)`.
    /// # let _ = (options, config);
    /// # Ok::<(), sql_client::core::PluginNameError>(())
    /// ```
    #[must_use]
    pub fn permission_violations(mut self, violations: PermissionViolations) -> Self {
        self.permission_violations = Some(violations);
        self
    }

    /// How much longer than the query's timeout the client waits for the reply (default
    /// 1 s), so that the handler's own `TIMEOUT` reply arrives first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use sql_client::ClientConfig;
    ///
    /// // A slow network between the plugin and the handler.
    /// let config = ClientConfig::default().reply_margin(Duration::from_secs(3));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn reply_margin(mut self, margin: Duration) -> Self {
        self.reply_margin = margin;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_specifications() {
        let c = ClientConfig::default();
        assert_eq!(c.timeout, Duration::from_millis(10_000));
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.rate_limit, RateLimit::per_minute(100));
        assert_eq!(c.slow_query_threshold, Duration::from_millis(500));
        assert_eq!(c.subject_prefix, "rosey.db.sql");
        assert_eq!(
            c.slow_query_params,
            ParamLogging::Sanitized { max_chars: 100 }
        );
        assert!(c.rate_limiter.is_none());
    }

    #[test]
    fn setters_replace_one_setting_each() {
        let c = ClientConfig::default()
            .timeout(Duration::from_secs(2))
            .max_retries(0)
            .subject_prefix("other")
            .reply_margin(Duration::from_millis(5));
        assert_eq!(
            (c.timeout, c.max_retries, c.subject_prefix.as_str()),
            (Duration::from_secs(2), 0, "other")
        );
        assert_eq!(c.reply_margin, Duration::from_millis(5));
        assert_eq!(c.rate_limit, RateLimit::per_minute(100));
    }
}
