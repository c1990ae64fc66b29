//! The schema checks of one call: the names in the statement against the plugin's
//! migrations, and what its placeholders and result columns are.

use std::path::PathBuf;

use sql_core::{Analysis, Dialect, Plugin};

use crate::manifest::Metadata;
use crate::schema;

/// What the schema says about one statement.
pub(crate) struct Facts {
    pub(crate) analysis: Analysis,
    pub(crate) dialect: Dialect,
    /// Migration files the expansion must make the compiler track.
    pub(crate) track: Vec<PathBuf>,
}

impl Facts {
    /// The result column names, `*` expanded.
    pub(crate) fn column_names(&self) -> Option<Vec<String>> {
        self.analysis
            .columns()
            .map(|cols| cols.iter().map(|c| c.name().to_owned()).collect())
    }
}

/// Checks `sql` against the plugin's schema; `None` when the crate has no migrations for
/// the plugin.
pub(crate) fn facts(
    metadata: &Metadata,
    plugin: &Plugin,
    dialect: Dialect,
    sql: &str,
) -> Result<Option<Facts>, String> {
    let Some(loaded) = schema::load(metadata, plugin.name(), dialect)? else {
        return Ok(None);
    };
    let analysis = loaded.schema.analyze(sql).map_err(|e| {
        format!(
            "{e}\n(checked against the schema of {}/, {} migration{})",
            loaded.folder,
            loaded.files.len(),
            if loaded.files.len() == 1 { "" } else { "s" }
        )
    })?;
    Ok(Some(Facts {
        analysis,
        dialect,
        track: crate::track::untracked(loaded.files.iter().map(PathBuf::as_path)),
    }))
}
