//! Start-up on PostgreSQL: the handler's own tables, each plugin's role, and the plugins'
//! migrations, each run under its plugin's role so that it can only create and change
//! the plugin's own tables.
//!
//! A migration runs in one transaction that grants the role `CREATE` on schema `public`,
//! switches to the role, runs the file, switches back, revokes the grant, and refuses the
//! whole file if the role now owns a relation outside its prefix. The role owns what it
//! created and has no privilege on anything else, so a migration touching another
//! plugin's table fails with "permission denied". Replicas starting together take turns
//! through an advisory lock.

use sql_core::Plugin;
use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::error::SqlState;

use super::roles::{NOBODY, quoted, role_name};
use crate::engine::OpenError;
use crate::migrations::{Migration, MigrationError};

/// Advisory lock key held while migrating ("sqlhmigr" in ASCII).
const MIGRATION_LOCK: i64 = 0x7371_6c68_6d69_6772;

/// The handler's bookkeeping tables. Their names have no plugin prefix and they are
/// granted to no role, so no plugin can reach them. Created on every start, without the
/// server's "already exists, skipping" notices.
pub(super) const SCHEMA: &str = "
SET LOCAL client_min_messages = warning;
CREATE TABLE IF NOT EXISTS _sql_handler_migrations (
    plugin TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (plugin, version)
);
CREATE TABLE IF NOT EXISTS _sql_handler_idempotency (
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reply BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, key)
);
CREATE INDEX IF NOT EXISTS _sql_handler_idempotency_by_age
    ON _sql_handler_idempotency (created_at);
REVOKE ALL ON _sql_handler_migrations, _sql_handler_idempotency FROM PUBLIC;
";

/// Creates the handler's tables and every plugin's role, then applies `migrations`.
/// Returns the plugins that have a role.
pub(super) async fn prepare(
    client: &mut deadpool_postgres::Client,
    target: &str,
    migrations: &[Migration],
) -> Result<Vec<Plugin>, OpenError> {
    let failed = |e: tokio_postgres::Error| OpenError::Postgres {
        target: target.to_owned(),
        message: describe(&e),
    };
    let mut plugins: Vec<&Plugin> = migrations.iter().map(|m| &m.plugin).collect();
    plugins.sort_by(|a, b| a.name().cmp(b.name()));
    plugins.dedup();
    let tx = client.transaction().await.map_err(failed)?;
    tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    tx.batch_execute(SCHEMA).await.map_err(failed)?;
    let superuser: bool = tx
        .query_one(
            "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(failed)?
        .get(0);
    ensure_role(&tx, NOBODY, superuser).await.map_err(failed)?;
    for plugin in &plugins {
        ensure_role(&tx, &role_name(plugin), superuser)
            .await
            .map_err(failed)?;
    }
    if superuser {
        // A role reset (`set_config('role', 'none', ...)`) would end a request's plugin
        // role; the policy refuses the function, and this makes the database refuse it
        // too. The handler itself uses SET statements.
        tx.batch_execute(
            "REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC",
        )
        .await
        .map_err(failed)?;
    } else if set_config_reachable(&*tx).await.map_err(failed)? {
        tracing::warn!(
            "plugin roles may execute set_config(): only the policy refuses it; the README's \
             REVOKE (run as a superuser) makes the database refuse it too"
        );
    }
    tx.commit().await.map_err(failed)?;
    for migration in migrations {
        apply(client, migration).await?;
    }
    Ok(plugins.into_iter().cloned().collect())
}

/// Whether a plugin role may execute `set_config` (PUBLIC's grant, as the role without
/// tables sees it): the privilege itself, whoever revoked it.
pub(super) async fn set_config_reachable(
    client: &impl tokio_postgres::GenericClient,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT has_function_privilege($1, 'pg_catalog.set_config(text, text, boolean)', 'EXECUTE')",
            &[&NOBODY],
        )
        .await?;
    Ok(row.get(0))
}

/// Creates `role` unless it exists (roles are shared by every database of the cluster,
/// so another database's handler may create it at the same moment), and lets the
/// handler's user switch to it.
async fn ensure_role(
    tx: &deadpool_postgres::Transaction<'_>,
    role: &str,
    superuser: bool,
) -> Result<(), tokio_postgres::Error> {
    let quoted = quoted(role);
    tx.batch_execute(&format!(
        "DO $$ BEGIN CREATE ROLE {quoted} NOLOGIN NOINHERIT; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    ))
    .await?;
    if !superuser {
        let member: bool = tx
            .query_one("SELECT pg_has_role(current_user, $1, 'MEMBER')", &[&role])
            .await?
            .get(0);
        if !member {
            tx.batch_execute(&format!("GRANT {quoted} TO CURRENT_USER"))
                .await?;
        }
    }
    Ok(())
}

async fn apply(
    client: &mut deadpool_postgres::Client,
    migration: &Migration,
) -> Result<(), MigrationError> {
    let failed = |e: tokio_postgres::Error| MigrationError::Failed {
        migration: migration.label(),
        message: describe(&e),
    };
    let plugin = migration.plugin.name();
    let tx = client.transaction().await.map_err(failed)?;
    tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
    let recorded = tx
        .query_opt(
            "SELECT checksum FROM _sql_handler_migrations WHERE plugin = $1 AND version = $2",
            &[&plugin, &version],
        )
        .await
        .map_err(failed)?;
    match recorded {
        Some(row) if row.get::<_, &str>(0) == migration.checksum => return Ok(()),
        Some(_) => {
            return Err(MigrationError::Changed {
                migration: migration.label(),
            });
        }
        None => {}
    }
    check_statements(migration)?;
    let role = role_name(&migration.plugin);
    let quoted = quoted(&role);
    tx.batch_execute(&format!(
        "GRANT CREATE ON SCHEMA public TO {quoted}; SET LOCAL ROLE {quoted}"
    ))
    .await
    .map_err(failed)?;
    if let Err(e) = tx.batch_execute(&migration.sql).await {
        return Err(match e.as_db_error() {
            Some(db) if *db.code() == SqlState::INSUFFICIENT_PRIVILEGE => MigrationError::Refused {
                migration: migration.label(),
                reason: format!(
                    "{} (a plugin's migrations may only touch tables named '{}...')",
                    db.message(),
                    migration.plugin.table_prefix()
                ),
            },
            _ => failed(e),
        });
    }
    tx.batch_execute(&format!(
        "RESET ROLE; REVOKE CREATE ON SCHEMA public FROM {quoted}"
    ))
    .await
    .map_err(failed)?;
    let stray = tx
        .query(
            "SELECT c.relname FROM pg_catalog.pg_class c
             WHERE c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
               AND c.relkind IN ('r', 'v', 'm', 'S', 'p', 'f')
               AND NOT starts_with(lower(c.relname), $2)
             ORDER BY 1",
            &[&role, &migration.plugin.table_prefix()],
        )
        .await
        .map_err(failed)?;
    if let Some(row) = stray.first() {
        // CREATE and ALTER ... RENAME TO alike: the role owns its tables under any name.
        // Dropping the transaction rolls the migration back.
        return Err(MigrationError::Refused {
            migration: migration.label(),
            reason: format!(
                "it creates or renames a relation to '{}', outside the plugin's prefix '{}'",
                row.get::<_, &str>(0),
                migration.plugin.table_prefix()
            ),
        });
    }
    tx.execute(
        "INSERT INTO _sql_handler_migrations (plugin, version, name, checksum)
         VALUES ($1, $2, $3, $4)",
        &[&plugin, &version, &migration.name, &migration.checksum],
    )
    .await
    .map_err(failed)?;
    tx.commit().await.map_err(failed)?;
    tracing::info!(migration = %migration.label(), "applied migration");
    Ok(())
}

/// Refuses statements a migration may not run on PostgreSQL: anything that could leave
/// the plugin's role (SET, RESET, DO, functions and procedures, which could run either),
/// control the transaction, or reach beyond tables (roles, grants, schemas, extensions).
fn check_statements(migration: &Migration) -> Result<(), MigrationError> {
    let refused = |reason: String| MigrationError::Refused {
        migration: migration.label(),
        reason,
    };
    let statements = Parser::parse_sql(&PostgreSqlDialect {}, &migration.sql)
        .map_err(|e| refused(format!("it cannot be checked: {e}")))?;
    for statement in &statements {
        let allowed = matches!(
            statement,
            Statement::CreateTable(_)
                | Statement::CreateIndex(_)
                | Statement::CreateView(_)
                | Statement::CreateSequence { .. }
                | Statement::CreateType { .. }
                | Statement::CreateDomain(_)
                | Statement::AlterTable(_)
                | Statement::AlterIndex { .. }
                | Statement::AlterView(_)
                | Statement::Drop { .. }
                | Statement::DropDomain(_)
                | Statement::Comment { .. }
                | Statement::Truncate(_)
                | Statement::Insert(_)
                | Statement::Update(_)
                | Statement::Delete(_)
                | Statement::Query(_)
                | Statement::RefreshMaterializedView(_)
        );
        if !allowed {
            let text = statement.to_string();
            let kind: String = text
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(refused(format!(
                "'{kind} ...' is not allowed in a migration (tables, views, indexes, sequences, types and data only)"
            )));
        }
    }
    Ok(())
}

/// A PostgreSQL failure in words, without connection details.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        // tokio-postgres keeps the cause (refused, timed out, bad password) in the source.
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}
