//! Plugin identity: the validated name and the table prefix derived from it.

use std::fmt;

/// Longest plugin name PROTOCOL.md section 1 accepts.
pub const MAX_PLUGIN_NAME_LEN: usize = 64;

/// A validated plugin name, such as `analytics-db`.
///
/// A plugin is identified by the subject token of its requests
/// (`rosey.db.sql.<plugin>.execute`) and owns every table that starts with its
/// [table prefix](Plugin::table_prefix).
///
/// # Examples
///
/// ```
/// use sql_core::Plugin;
///
/// let plugin = Plugin::new("analytics-db")?;
/// assert_eq!(plugin.name(), "analytics-db");
/// assert_eq!(plugin.table_prefix(), "analytics_db__");
/// assert!(Plugin::new("Bad Name").is_err());
/// # Ok::<(), sql_core::PluginNameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Plugin {
    name: String,
    prefix: String,
}

/// Why a string is not a valid plugin name.
///
/// # Examples
///
/// ```
/// use sql_core::{Plugin, PluginNameError};
/// assert_eq!(Plugin::new(""), Err(PluginNameError::Empty));
/// assert!(matches!(Plugin::new("a b"), Err(PluginNameError::InvalidChar { found: ' ' })));
/// assert!(matches!(Plugin::new("bar_plugin"), Err(PluginNameError::Underscore { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginNameError {
    /// The name is empty.
    #[error("plugin name is empty")]
    Empty,
    /// The name is longer than [`MAX_PLUGIN_NAME_LEN`].
    #[error("plugin name is {len} characters; at most {MAX_PLUGIN_NAME_LEN} are allowed")]
    TooLong {
        /// Length of the rejected name in bytes.
        len: usize,
    },
    /// The name holds a character outside `a-z`, `0-9` and `-`.
    #[error("plugin name contains {found:?}; only a-z, 0-9 and '-' are allowed")]
    InvalidChar {
        /// The first character that is not allowed.
        found: char,
    },
    /// The name holds `_`. Its table prefix would be the one of the same name spelt with
    /// `-` (`bar_plugin` and `bar-plugin` both map to `bar_plugin__`), so two plugins
    /// could share tables; only the `-` spelling is a plugin name.
    #[error(
        "plugin name {name:?} contains '_'; separate words with '-' instead ({suggestion:?} owns the tables {prefix}*)"
    )]
    Underscore {
        /// The rejected name.
        name: String,
        /// The name with every `_` written as `-`.
        suggestion: String,
        /// The table prefix of the suggested name.
        prefix: String,
    },
    /// The name starts or ends with `-`, or contains `--`.
    #[error(
        "plugin name {name:?} must start and end with a letter or digit and must not contain \"--\""
    )]
    BadShape {
        /// The rejected name.
        name: String,
    },
}

impl Plugin {
    /// Validates `name` against PROTOCOL.md section 1: 1 to 64 characters of `a-z`,
    /// `0-9` and `-`, starting and ending with a letter or digit, with no `--`.
    ///
    /// These rules make the name and its [table prefix](Plugin::table_prefix) one-to-one:
    /// `-` becomes `_` in the prefix, so a name may not hold `_` itself, and `--` would
    /// put the prefix's `__` separator inside the name.
    ///
    /// # Errors
    ///
    /// [`PluginNameError`] when the name is empty, longer than 64 characters, uses `_` or
    /// another character outside `a-z0-9-`, starts or ends with `-`, or holds `--`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_core::Plugin;
    /// assert!(Plugin::new("quote-db").is_ok());
    /// assert!(Plugin::new("quote_db").is_err());
    /// assert!(Plugin::new("quote--db").is_err());
    /// ```
    pub fn new(name: &str) -> Result<Self, PluginNameError> {
        if name.is_empty() {
            return Err(PluginNameError::Empty);
        }
        if name.len() > MAX_PLUGIN_NAME_LEN {
            return Err(PluginNameError::TooLong { len: name.len() });
        }
        if let Some(found) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_')))
        {
            return Err(PluginNameError::InvalidChar { found });
        }
        if name.contains('_') {
            let suggestion = name.replace('_', "-");
            return Err(match Self::new(&suggestion) {
                Ok(suggested) => PluginNameError::Underscore {
                    name: name.to_owned(),
                    prefix: suggested.prefix,
                    suggestion,
                },
                Err(_) => PluginNameError::InvalidChar { found: '_' },
            });
        }
        if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
            return Err(PluginNameError::BadShape {
                name: name.to_owned(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            prefix: format!("{}__", name.replace('-', "_")),
        })
    }

    /// The plugin's name as written in its subject.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_core::Plugin;
    /// assert_eq!(Plugin::new("a1")?.name(), "a1");
    /// # Ok::<(), sql_core::PluginNameError>(())
    /// ```
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The prefix every table of this plugin starts with: the name with `-` replaced by
    /// `_`, then `__`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use sql_core::Plugin;
    /// assert_eq!(Plugin::new("quote-db")?.table_prefix(), "quote_db__");
    /// # Ok::<(), sql_core::PluginNameError>(())
    /// ```
    #[must_use]
    pub fn table_prefix(&self) -> &str {
        &self.prefix
    }

    /// Decides who owns the unqualified table (or other schema object) `name`.
    ///
    /// The comparison ignores ASCII case, as SQLite does for identifiers. This is the one
    /// ownership rule: the parser check and the engine-level guards of the handler both
    /// call it.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::{Plugin, TableOwner};
    ///
    /// let plugin = Plugin::new("analytics-db")?;
    /// assert_eq!(plugin.owner_of("Analytics_DB__events"), TableOwner::Plugin);
    /// assert_eq!(plugin.owner_of("quote_db__quotes"), TableOwner::Foreign);
    /// assert_eq!(plugin.owner_of("sqlite_master"), TableOwner::System);
    /// # Ok::<(), sql_core::PluginNameError>(())
    /// ```
    #[must_use]
    pub fn owner_of(&self, name: &str) -> TableOwner {
        if is_system_name(name) {
            TableOwner::System
        } else if name.len() > self.prefix.len()
            && name.is_char_boundary(self.prefix.len())
            && name[..self.prefix.len()].eq_ignore_ascii_case(&self.prefix)
        {
            TableOwner::Plugin
        } else {
            TableOwner::Foreign
        }
    }
}

/// Who owns a table, as decided by [`Plugin::owner_of`].
///
/// # Examples
///
/// ```
/// use sql_core::{Plugin, TableOwner};
/// let plugin = Plugin::new("quote-db")?;
/// assert_eq!(plugin.owner_of("quote_db__quotes"), TableOwner::Plugin);
/// # Ok::<(), sql_core::PluginNameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableOwner {
    /// The name carries the plugin's prefix.
    Plugin,
    /// The name belongs to another plugin or to nobody.
    Foreign,
    /// The name is a database system object (`sqlite_*`, `pg_*`).
    System,
}

/// Whether `name` is a system object or schema of SQLite or PostgreSQL.
///
/// # Examples
///
/// ```
/// assert!(sql_core::is_system_name("SQLITE_MASTER"));
/// assert!(sql_core::is_system_name("information_schema"));
/// assert!(!sql_core::is_system_name("analytics_db__events"));
/// ```
#[must_use]
pub fn is_system_name(name: &str) -> bool {
    let starts = |p: &str| {
        name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    starts("sqlite_")
        || starts("pg_")
        || name.eq_ignore_ascii_case("information_schema")
        || name.eq_ignore_ascii_case("pg_catalog")
}

impl fmt::Debug for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Plugin").field(&self.name).finish()
    }
}

impl fmt::Display for Plugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for Plugin {
    type Err = PluginNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let cases: &[(&str, bool)] = &[
            ("a", true),
            ("analytics-db", true),
            ("quote_db", false),
            ("a-b-c", true),
            ("a--b", false),
            ("9lives", true),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
            ("", false),
            ("-a", false),
            ("_a", false),
            ("a-", false),
            ("a_", false),
            ("a__b", false),
            ("a-_b", false),
            ("a_-b", false),
            ("bar_plugin", false),
            ("A", false),
            ("a.b", false),
            ("a b", false),
            ("a*", false),
            ("é", false),
        ];
        for (name, ok) in cases {
            assert_eq!(Plugin::new(name).is_ok(), *ok, "plugin name {name:?}");
        }
    }

    /// Every valid name over a small alphabet owns its own prefix and no other plugin's
    /// tables: the name-to-namespace mapping is one-to-one.
    #[test]
    fn namespaces_are_one_to_one() {
        let alphabet = ['a', 'b', '-', '_'];
        let mut names = vec![String::new()];
        let mut all = Vec::new();
        for _ in 0..6 {
            names = names
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            all.extend(names.iter().cloned());
        }
        let valid: Vec<Plugin> = all.iter().filter_map(|n| Plugin::new(n).ok()).collect();
        assert!(valid.len() > 100, "the alphabet yields enough names");
        for p in &valid {
            assert!(!p.name().contains('_'), "{p:?}");
            for q in &valid {
                let table = format!("{}x", q.table_prefix());
                let owner = p.owner_of(&table);
                if p == q {
                    assert_eq!(owner, TableOwner::Plugin, "{p:?} owns {table}");
                } else {
                    assert_ne!(p.table_prefix(), q.table_prefix(), "{p:?} and {q:?}");
                    assert_eq!(owner, TableOwner::Foreign, "{p:?} must not own {table}");
                }
            }
        }
    }

    #[test]
    fn the_underscore_spelling_points_to_the_hyphen_one() {
        let err = Plugin::new("bar_plugin").unwrap_err();
        assert_eq!(
            err,
            PluginNameError::Underscore {
                name: "bar_plugin".into(),
                suggestion: "bar-plugin".into(),
                prefix: "bar_plugin__".into(),
            }
        );
        assert!(err.to_string().contains("\"bar-plugin\""), "{err}");
        assert_eq!(
            Plugin::new("a__b"),
            Err(PluginNameError::InvalidChar { found: '_' })
        );
    }

    #[test]
    fn owners() {
        let p = Plugin::new("analytics-db").unwrap();
        assert_eq!(p.owner_of("analytics_db__x"), TableOwner::Plugin);
        assert_eq!(p.owner_of("ANALYTICS_DB__X"), TableOwner::Plugin);
        assert_eq!(p.owner_of("analytics_db__"), TableOwner::Foreign);
        assert_eq!(p.owner_of("analytics_db_x"), TableOwner::Foreign);
        assert_eq!(p.owner_of("analytics-db__x"), TableOwner::Foreign);
        assert_eq!(p.owner_of("x"), TableOwner::Foreign);
        assert_eq!(p.owner_of("pg_class"), TableOwner::System);
        assert_eq!(p.owner_of("sqlite_schema"), TableOwner::System);
        assert_eq!(p.owner_of("analytics_db_é"), TableOwner::Foreign);
    }
}
