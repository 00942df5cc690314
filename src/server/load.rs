//! Loading what a gateway serves — the schema files and their hooks — and applying it to the
//! database. The same steps run at start, on reload and (without applying) in `syncgate check`.

use crate::config::Config;
use crate::plugins::{self, Plugins};
use crate::schema::{self, Diagnostics, Schema};
use crate::store::{self, Plan};
use sea_orm::DatabaseConnection;

/// The schema and its compiled hooks, checked but not yet applied.
pub fn load_files(config: &Config) -> Result<(Schema, Plugins), Diagnostics> {
    let schema = schema::load_dir(&config.paths.schemas, &config.paths.plugins)?;
    let plugins = plugins::load(
        &schema,
        &config.paths.plugins,
        config.plugins.max_operations,
        &crate::plugins::webhook::WebhookSettings::from_config(&config.plugins),
    )
    .map_err(|diagnostics| Diagnostics(diagnostics).locate())?;
    if let Some(role) = &config.auth.anonymous_role
        && !schema.roles.contains_key(role)
    {
        let file = schema.files.first().cloned().unwrap_or_default();
        return Err(Diagnostics(vec![
            schema::Diagnostic::in_file(
                file,
                format!("auth.anonymous_role names the role `{role}`, which the schema does not declare"),
            )
            .help("declare the role under [roles] with the tables it may read, or unset auth.anonymous_role")
            .suggest(role, schema.roles.keys().map(String::as_str))
        ]));
    }
    if config.upstream.is_some() && config.sync.key_node == 0 {
        let assigning: Vec<&str> = schema
            .tables
            .values()
            .filter(|table| crate::sync::keys::assigns_integers(table))
            .map(|table| table.name.as_str())
            .collect();
        if let Some(first) = assigning.first() {
            let file = schema.files.first().cloned().unwrap_or_default();
            return Err(Diagnostics(vec![
                schema::Diagnostic::in_file(
                    file,
                    format!(
                        "this gateway is an edge and assigns integer keys ({}), but \
                         sync.key_node is 0, the hub's range",
                        assigning.join(", ")
                    ),
                )
                .table(first)
                .help("give each edge its own sync.key_node (1 to 8191) so that its keys never meet the hub's or another edge's"),
            ]));
        }
    }
    Ok((schema, plugins))
}

/// Creates and extends the schema's tables, logging what changed.
pub async fn apply(
    db: &DatabaseConnection,
    schema: &Schema,
    config: &Config,
) -> Result<Plan, store::StoreError> {
    let plan = store::reconcile(db, schema, config.sync.external_writes).await?;
    for change in &plan.changes {
        tracing::info!(%change, "schema applied");
    }
    for table in &plan.undeclared {
        tracing::warn!(
            table,
            "table is in the database but no longer in the schema; left as it is"
        );
    }
    Ok(plan)
}
