//! Connecting a plugin to NATS under its own user (PROTOCOL.md section 8): credentials, the
//! private reply inbox `_INBOX_<plugin>`, and quick, typed permission errors.
//!
//! A NATS server that refuses a publish does not fail the publish: it drops the message and
//! sends the connection an asynchronous `-ERR 'Permissions Violation for Publish to
//! "<subject>"'`, which async-nats hands to the [`ConnectOptions::event_callback`] as
//! [`Event::ServerError`]. The callback installed here turns that text into a
//! [`Violation`] once, at this boundary, and broadcasts it; each request of a
//! [`SqlClient`] built with [`ClientConfig::permission_violations`] races its reply against
//! a violation for its own subject (or its reply inbox), so a refused request ends in
//! [`SqlError::Permission`](crate::SqlError::Permission) with code
//! `NATS_PERMISSION_DENIED` at once instead of after its timeout.
//!
//! [`ConnectOptions::event_callback`]: async_nats::ConnectOptions::event_callback
//! [`Event::ServerError`]: async_nats::Event::ServerError

use std::fmt;

use async_nats::{Event, ServerError, ToServerAddrs};
use sql_core::{Plugin, PluginNameError};
use tokio::sync::broadcast;

use crate::client::SqlClient;
use crate::options::ClientConfig;

/// How many violations a slow request may fall behind before it misses one.
const VIOLATION_BUFFER: usize = 64;

/// How a plugin proves its identity to the NATS server.
///
/// `Debug` never shows the password.
///
/// # Examples
///
/// ```
/// use sql_client::Credentials;
///
/// let credentials = Credentials::user_and_password("analytics-db", "s3cret");
/// assert!(!format!("{credentials:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default)]
pub struct Credentials {
    user_and_password: Option<(String, String)>,
}

impl Credentials {
    /// No credentials: for a server without authorization (development only).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use sql_client::{ClientConfig, Credentials};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// // A local development server without authorization.
    /// let client = sql_client::connect("nats://127.0.0.1:4222", "analytics-db", Credentials::none(), ClientConfig::default()).await?;
    /// # let _ = client;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// A NATS user and its password, as in `deploy/nats-server.conf`.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::Credentials;
    ///
    /// let password = std::env::var("NATS_PASSWORD").unwrap_or_default();
    /// let credentials = Credentials::user_and_password("analytics-db", password);
    /// assert_eq!(format!("{credentials:?}"), r#"Credentials { user: "analytics-db", password: "***" }"#);
    /// ```
    #[must_use]
    pub fn user_and_password(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user_and_password: Some((user.into(), password.into())),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user_and_password {
            Some((user, _)) => f
                .debug_struct("Credentials")
                .field("user", user)
                .field("password", &"***")
                .finish(),
            None => f.write_str("Credentials(none)"),
        }
    }
}

/// Why [`connect`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The plugin name breaks PROTOCOL.md section 1.
    #[error("invalid plugin name")]
    Plugin {
        /// What is wrong with the name.
        #[source]
        source: PluginNameError,
    },
    /// The NATS server could not be reached or refused the credentials.
    #[error("cannot connect to NATS")]
    Nats {
        /// What async-nats said.
        #[source]
        source: async_nats::ConnectError,
    },
}

/// What the server refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Publish,
    Subscribe,
}

/// One permissions violation the server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) operation: Operation,
    pub(crate) subject: String,
}

impl Violation {
    /// Parses nats-server's `Permissions Violation for Publish to "<subject>"` (or `for
    /// Subscription to ...`, possibly followed by `using queue "<group>"`). Other server
    /// errors are `None`.
    fn parse(message: &str) -> Option<Self> {
        let rest = message
            .trim()
            .trim_matches('\'')
            .strip_prefix("Permissions Violation for ")?;
        let operation = if rest.starts_with("Publish") {
            Operation::Publish
        } else if rest.starts_with("Subscription") {
            Operation::Subscribe
        } else {
            return None;
        };
        let (_, quoted) = rest.split_once('"')?;
        let (subject, _) = quoted.split_once('"')?;
        Some(Self {
            operation,
            subject: subject.to_owned(),
        })
    }
}

/// The permission violations one NATS connection's server reported, shared with the
/// [`SqlClient`]s on that connection so their requests fail fast with
/// [`SqlError::Permission`](crate::SqlError::Permission).
///
/// [`connect`] and [`connect_options`] create and wire one; build one yourself only when
/// you install your own [`event_callback`](async_nats::ConnectOptions::event_callback),
/// and pass it every event with [`PermissionViolations::observe`].
///
/// # Examples
///
/// ```no_run
/// use sql_client::{ClientConfig, PermissionViolations, SqlClient};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let violations = PermissionViolations::new("_INBOX_analytics-db");
/// let observer = violations.clone();
/// let nats = async_nats::ConnectOptions::new()
///     .custom_inbox_prefix("_INBOX_analytics-db")
///     .event_callback(move |event| {
///         observer.observe(&event);
///         async {}
///     })
///     .connect("nats://127.0.0.1:4222")
///     .await?;
/// let config = ClientConfig::default().permission_violations(violations);
/// let client = SqlClient::with_config(nats, "analytics-db", config)?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PermissionViolations {
    sender: broadcast::Sender<Violation>,
    inbox_prefix: String,
}

impl PermissionViolations {
    /// Violations of a connection whose reply inboxes start with `inbox_prefix` (the value
    /// given to `custom_inbox_prefix`, `_INBOX` by default).
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_client::{ClientConfig, PermissionViolations, inbox_prefix};
    /// use sql_client::core::Plugin;
    ///
    /// let plugin = Plugin::new("analytics-db")?;
    /// let violations = PermissionViolations::new(inbox_prefix(&plugin));
    /// let observer = violations.clone(); // for the connection's event callback: see `observe`
    /// let config = ClientConfig::default().permission_violations(violations);
    /// # let _ = (observer, config);
    /// # Ok::<(), sql_client::core::PluginNameError>(())
    /// ```
    #[must_use]
    pub fn new(inbox_prefix: impl Into<String>) -> Self {
        Self {
            sender: broadcast::channel(VIOLATION_BUFFER).0,
            inbox_prefix: inbox_prefix.into(),
        }
    }

    /// Takes note of one connection event; only permissions violations matter here.
    ///
    /// # Examples
    ///
    /// Called from the connection's event callback with every event:
    ///
    /// ```
    /// use sql_client::PermissionViolations;
    ///
    /// let violations = PermissionViolations::new("_INBOX_analytics-db");
    /// let observer = violations.clone();
    /// let options = async_nats::ConnectOptions::new()
    ///     .custom_inbox_prefix("_INBOX_analytics-db")
    ///     .event_callback(move |event| {
    ///         observer.observe(&event);
    ///         async {}
    ///     });
    /// # let _ = (options, violations);
    /// ```
    pub fn observe(&self, event: &Event) {
        if let Event::ServerError(ServerError::Other(message)) = event
            && let Some(violation) = Violation::parse(message)
        {
            tracing::warn!(
                operation = ?violation.operation,
                subject = %violation.subject,
                "NATS server refused an operation (permissions violation)"
            );
            // No receiver means no request is waiting: nothing to tell.
            let _ = self.sender.send(violation);
        }
    }

    /// A receiver of the violations reported from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Violation> {
        self.sender.subscribe()
    }

    /// Whether `violation` dooms a request to `subject`: the request itself was refused,
    /// or the subscription its reply needs was.
    pub(crate) fn refuses_request(&self, violation: &Violation, subject: &str) -> bool {
        match violation.operation {
            Operation::Publish => violation.subject == subject,
            Operation::Subscribe => violation
                .subject
                .strip_prefix(self.inbox_prefix.as_str())
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

impl fmt::Debug for PermissionViolations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermissionViolations")
            .field("inbox_prefix", &self.inbox_prefix)
            .finish_non_exhaustive()
    }
}

/// The inbox prefix of `plugin`'s private replies, `_INBOX_<plugin>` (PROTOCOL.md
/// section 8).
///
/// # Examples
///
/// ```
/// use sql_client::inbox_prefix;
/// use sql_core::Plugin;
///
/// assert_eq!(inbox_prefix(&Plugin::new("analytics-db")?), "_INBOX_analytics-db");
/// # Ok::<(), sql_core::PluginNameError>(())
/// ```
#[must_use]
pub fn inbox_prefix(plugin: &Plugin) -> String {
    format!("_INBOX_{}", plugin.name())
}

/// NATS connection settings for `plugin`: its credentials, its private inbox prefix
/// `_INBOX_<plugin>`, a client name, and an event callback that records permission
/// violations in the returned [`PermissionViolations`] (pass it to
/// [`ClientConfig::permission_violations`]).
///
/// Use this instead of [`connect`] to add settings of your own (TLS, reconnect policy);
/// setting another `event_callback` replaces the one installed here.
///
/// # Examples
///
/// ```no_run
/// use sql_client::{ClientConfig, Credentials, SqlClient, connect_options};
/// use sql_core::Plugin;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let plugin = Plugin::new("analytics-db")?;
/// let credentials = Credentials::user_and_password("analytics-db", std::env::var("NATS_PASSWORD")?);
/// let (options, violations) = connect_options(&plugin, credentials);
/// let nats = options
///     .max_reconnects(None)
///     .connect(["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"].as_slice())
///     .await?;
/// let config = ClientConfig::default().permission_violations(violations);
/// let client = SqlClient::with_config(nats, plugin.name(), config)?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub fn connect_options(
    plugin: &Plugin,
    credentials: Credentials,
) -> (async_nats::ConnectOptions, PermissionViolations) {
    let prefix = inbox_prefix(plugin);
    let violations = PermissionViolations::new(prefix.as_str());
    let observer = violations.clone();
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("sql-client:{}", plugin.name()))
        .custom_inbox_prefix(prefix)
        .event_callback(move |event| {
            observer.observe(&event);
            async {}
        });
    if let Some((user, password)) = credentials.user_and_password {
        options = options.user_and_password(user, password);
    }
    (options, violations)
}

/// Connects to NATS as `plugin` with its credentials and private inbox, and returns a
/// client whose requests refused by NATS permissions fail at once with
/// [`SqlError::Permission`](crate::SqlError::Permission) (code `NATS_PERMISSION_DENIED`).
///
/// `addrs` is one URL or several (a slice or `Vec` of URLs) for a cluster; the connection
/// fails over between them.
///
/// # Errors
///
/// [`ConnectError::Plugin`] for an invalid plugin name; [`ConnectError::Nats`] when no
/// server can be reached or the credentials are refused.
///
/// # Examples
///
/// ```no_run
/// use sql_client::{ClientConfig, Credentials, connect};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = Credentials::user_and_password("analytics-db", std::env::var("NATS_PASSWORD")?);
/// let urls = ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "nats://10.0.0.3:4222"];
/// let client = connect(urls.as_slice(), "analytics-db", credentials, ClientConfig::default()).await?;
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
pub async fn connect<A: ToServerAddrs>(
    addrs: A,
    plugin: &str,
    credentials: Credentials,
    config: ClientConfig,
) -> Result<SqlClient, ConnectError> {
    let plugin = Plugin::new(plugin).map_err(|source| ConnectError::Plugin { source })?;
    let (options, violations) = connect_options(&plugin, credentials);
    let nats = options
        .connect(addrs)
        .await
        .map_err(|source| ConnectError::Nats { source })?;
    Ok(SqlClient::from_parts(
        nats,
        plugin,
        config.permission_violations(violations),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_are_parsed_from_server_errors() {
        let cases = [
            (
                r#"Permissions Violation for Publish to "rosey.db.sql.quote-db.execute""#,
                Some((Operation::Publish, "rosey.db.sql.quote-db.execute")),
            ),
            (
                r#"Permissions Violation for Subscription to "_INBOX_quote-db.>""#,
                Some((Operation::Subscribe, "_INBOX_quote-db.>")),
            ),
            (
                r#"Permissions Violation for Subscription to "a.b" using queue "q""#,
                Some((Operation::Subscribe, "a.b")),
            ),
            ("Authorization Violation", None),
            ("Maximum Payload Violation", None),
        ];
        for (message, expected) in cases {
            let parsed = Violation::parse(message);
            assert_eq!(
                parsed.as_ref().map(|v| (v.operation, v.subject.as_str())),
                expected,
                "{message}"
            );
        }
    }

    #[test]
    fn a_violation_dooms_only_matching_requests() {
        let violations = PermissionViolations::new("_INBOX_analytics-db");
        let subject = "rosey.db.sql.analytics-db.execute";
        let publish = |s: &str| Violation {
            operation: Operation::Publish,
            subject: s.to_owned(),
        };
        let subscribe = |s: &str| Violation {
            operation: Operation::Subscribe,
            subject: s.to_owned(),
        };
        assert!(violations.refuses_request(&publish(subject), subject));
        assert!(!violations.refuses_request(&publish("rosey.db.sql.quote-db.execute"), subject));
        assert!(violations.refuses_request(&subscribe("_INBOX_analytics-db.abc.*"), subject));
        assert!(!violations.refuses_request(&subscribe("_INBOX_analytics-db2.abc.*"), subject));
        assert!(!violations.refuses_request(&subscribe("_INBOX_quote-db.>"), subject));
    }

    #[test]
    fn credentials_hide_the_password() {
        let text = format!("{:?}", Credentials::user_and_password("u", "pw-123"));
        assert!(text.contains('u') && !text.contains("pw-123"), "{text}");
    }
}
