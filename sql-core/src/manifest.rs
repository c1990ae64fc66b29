//! What a plugin crate declares about its queries, once, in its `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.sql-client]
//! plugin = "analytics-db"
//! dialect = "postgres"          # default "sqlite"; a call's `dialect = ...` wins
//! migrations = "db/migrations"  # default "migrations": the folder that holds <plugin>/
//! ```
//!
//! `sql!` reads it at compile time and the test handler at run time, through
//! [`PackageMetadata::read`], so both find the same plugin and the same migrations.

use std::path::{Path, PathBuf};

/// The folder of migrations when `migrations` is not set, relative to the crate.
pub const DEFAULT_MIGRATIONS: &str = "migrations";

/// A crate's `[package.metadata.sql-client]` table.
///
/// # Examples
///
/// ```
/// use sql_core::manifest::PackageMetadata;
///
/// let dir = std::env::temp_dir().join(format!("sql-core-manifest-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(
///     dir.join("Cargo.toml"),
///     "[package]\nname = \"p\"\n\n[package.metadata.sql-client]\nplugin = \"analytics-db\"\n",
/// )?;
/// let metadata = PackageMetadata::read(&dir)?;
/// assert_eq!(metadata.plugin.as_deref(), Some("analytics-db"));
/// assert_eq!(metadata.migrations_root(), dir.join("migrations"));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PackageMetadata {
    /// The crate's folder (`CARGO_MANIFEST_DIR`).
    pub dir: PathBuf,
    /// Its `Cargo.toml`.
    pub manifest: PathBuf,
    /// `plugin`: the plugin the crate's queries belong to.
    pub plugin: Option<String>,
    /// `dialect`: `sqlite` or `postgres`, as written.
    pub dialect: Option<String>,
    /// `migrations`: the folder holding `<plugin>/`, relative to [`PackageMetadata::dir`].
    pub migrations: Option<String>,
}

impl PackageMetadata {
    /// Reads the table from `dir/Cargo.toml`; a crate without one gets every field `None`.
    ///
    /// # Errors
    ///
    /// [`ManifestError`] when the file cannot be read or parsed, or a key is not a string.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::manifest::PackageMetadata;
    ///
    /// let metadata = PackageMetadata::read(env!("CARGO_MANIFEST_DIR").as_ref())?;
    /// assert_eq!(metadata.plugin, None);
    /// # Ok::<(), sql_core::manifest::ManifestError>(())
    /// ```
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|source| ManifestError::Read {
            path: manifest.clone(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ManifestError::Parse {
                    path: manifest.clone(),
                    message: e.message().to_owned(),
                })?;
        let section = table
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("sql-client"));
        let string = |key: &'static str| match section.and_then(|s| s.get(key)) {
            None => Ok(None),
            Some(toml::Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(ManifestError::NotAString {
                path: manifest.clone(),
                key,
            }),
        };
        Ok(Self {
            plugin: string("plugin")?,
            dialect: string("dialect")?,
            migrations: string("migrations")?,
            dir: dir.to_owned(),
            manifest,
        })
    }

    /// The folder that holds one folder of migrations per plugin: `migrations`, or
    /// [`DEFAULT_MIGRATIONS`], under the crate's folder.
    ///
    /// # Examples
    ///
    /// ```
    /// use sql_core::manifest::PackageMetadata;
    ///
    /// let metadata = PackageMetadata::read(env!("CARGO_MANIFEST_DIR").as_ref())?;
    /// assert!(metadata.migrations_root().ends_with("migrations"));
    /// # Ok::<(), sql_core::manifest::ManifestError>(())
    /// ```
    #[must_use]
    pub fn migrations_root(&self) -> PathBuf {
        self.dir
            .join(self.migrations.as_deref().unwrap_or(DEFAULT_MIGRATIONS))
    }
}

/// A `Cargo.toml` whose `[package.metadata.sql-client]` cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The manifest.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("cannot parse {}: {message}", path.display())]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A key of the table is not a string.
    #[error("[package.metadata.sql-client] {key} in {} must be a string", path.display())]
    NotAString {
        /// The manifest.
        path: PathBuf,
        /// The key.
        key: &'static str,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn crate_with(manifest: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        dir
    }

    #[test]
    fn reads_every_key_and_resolves_the_migrations_folder() {
        let dir = crate_with(
            "[package]\nname = \"p\"\n[package.metadata.sql-client]\nplugin = \"quote-db\"\ndialect = \"postgres\"\nmigrations = \"db/m\"\n",
        );
        let metadata = PackageMetadata::read(dir.path()).unwrap();
        assert_eq!(metadata.plugin.as_deref(), Some("quote-db"));
        assert_eq!(metadata.dialect.as_deref(), Some("postgres"));
        assert_eq!(metadata.migrations_root(), dir.path().join("db/m"));
    }

    #[test]
    fn names_the_key_that_is_not_a_string_and_the_file() {
        let dir =
            crate_with("[package]\nname = \"p\"\n[package.metadata.sql-client]\nplugin = 3\n");
        let error = PackageMetadata::read(dir.path()).unwrap_err();
        assert!(matches!(
            error,
            ManifestError::NotAString { key: "plugin", .. }
        ));
        assert!(error.to_string().contains("Cargo.toml"), "{error}");
    }

    #[test]
    fn bad_toml_and_a_missing_file_are_errors() {
        let dir = crate_with("[package\n");
        assert!(matches!(
            PackageMetadata::read(dir.path()),
            Err(ManifestError::Parse { .. })
        ));
        assert!(matches!(
            PackageMetadata::read(&dir.path().join("nowhere")),
            Err(ManifestError::Read { .. })
        ));
    }
}
