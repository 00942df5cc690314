//! One change through the stages after validation: the stored row's scope, permissions, what
//! the write would store, before-hooks, the conflict decision, and buffering the result.

use super::updated_at::write_time;
use super::{ConflictRule, Pending, RowWrite, Writer, Written};
use crate::auth::Caller;
use crate::plugins::webhook::Webhook;
use crate::plugins::{HookContext, HookOp};
use crate::schema::TableDef;
use crate::schema::model::{ConflictStrategy, MissingRow};
use crate::store::RowScope;
use crate::store::conflicts::{self, NewConflict};
use crate::store::outbox::{NewEntry, OutboxAction};
use crate::store::rows::StoredRow;
use crate::sync::SyncError;
use crate::sync::access::Access;
use crate::sync::data::{VERSION_FIELD, check_sent, complete_new_row, overlay};
use crate::sync::resolve::{Decision, decide, detect, later_delete, older_than_stored};
use crate::sync::types::{Action, ConflictInfo, ConflictResolution};
use serde_json::{Map, Value};
use tracing::Instrument;

impl Writer<'_> {
    /// Runs one change through the stages after validation (see the module documentation).
    /// When the table's hooks may write other rows, a change that does not end applied leaves
    /// none of their writes behind.
    pub async fn apply(&mut self, write: RowWrite<'_>) -> Result<Written, SyncError> {
        let checkpoint = self
            .hooks_may_write(write.access.table)
            .then(|| self.checkpoint());
        let outcome = self.apply_change(write).await;
        if let Some(checkpoint) = checkpoint {
            match &outcome {
                Ok(written) if written.applied => self.release(checkpoint),
                _ => self.restore(checkpoint),
            }
        }
        outcome
    }

    async fn apply_change(&mut self, mut write: RowWrite<'_>) -> Result<Written, SyncError> {
        let table = write.access.table;
        let prepared = write.new_row.take();
        let existing = self.current(table, &write.key).await?;
        let outside = match &existing {
            Some(row) => {
                !self
                    .admits(write.access, &row.values)
                    .instrument(tracing::debug_span!("scope"))
                    .await?
            }
            None => false,
        };
        let absent = match &existing {
            None => true,
            Some(_) => outside,
        };
        if absent
            && matches!(write.action, Action::Update | Action::Delete)
            && matches!(write.rule, ConflictRule::Detect { .. })
            && table.spec.missing_row == MissingRow::Ignore
        {
            return self.ignored(&write);
        }
        let existing = match existing {
            Some(_) if outside => {
                return Err(match write.action {
                    Action::Insert | Action::Upsert => SyncError::KeyTaken(format!(
                        "a row with key {} already exists in table `{}` outside your scope",
                        write.key, table.name
                    )),
                    Action::Update | Action::Delete => not_found(table, &write.key),
                });
            }
            other => other,
        };
        let Plan {
            values,
            deleted,
            version,
            server,
            conflict,
        } = tracing::debug_span!("conflict").in_scope(|| self.plan(&write, existing, prepared))?;
        if let Some(server) = &server
            && server.deleted
            && deleted
            && !(matches!(write.rule, ConflictRule::Detect { .. })
                && later_delete(table, write.sent, server))
        {
            // Deleting twice changes nothing (but a later delete's time, see `later_delete`):
            // answer with the tombstone.
            return Ok(Written {
                applied: true,
                row: server.clone(),
                conflict: None,
            });
        }
        let (values, hook_op) = self
            .before_hooks(&write, values, server.as_ref(), deleted)
            .instrument(tracing::debug_span!("hooks"))
            .await?;
        let (values, version, reported) = match conflict {
            None => (values, version, None),
            Some(reason) => {
                let server = server.as_ref().expect("a conflict has a server row");
                let settling =
                    tracing::debug_span!("conflict", strategy = table.spec.conflict.name());
                match self
                    .settle(&write, server, &values, reason)
                    .instrument(settling)
                    .await?
                {
                    Settled::Apply(values, info) => (values, version, Some(info)),
                    Settled::Kept(info) => {
                        return Ok(Written {
                            applied: false,
                            row: server.clone(),
                            conflict: Some(info),
                        });
                    }
                }
            }
        };
        let from_client = matches!(write.rule, ConflictRule::Detect { .. });
        let values = write_time(
            table,
            values,
            server.as_ref(),
            write.sent,
            deleted,
            from_client,
        );
        if !deleted
            && !self
                .admits(write.access, &values)
                .instrument(tracing::debug_span!("scope"))
                .await?
        {
            return Err(outside_scope(write.access, self.caller));
        }
        let row = StoredRow {
            values,
            version,
            // Handed out at commit.
            seq: 0,
            deleted,
            changed_at: chrono::Utc::now().timestamp_millis(),
        };
        self.buffer(table, &write.key, &row, hook_op);
        Ok(Written {
            applied: true,
            row,
            conflict: reported,
        })
    }

    /// An update or delete of a key without a row, in a table with `missing_row = "ignore"`:
    /// applied with nothing written (version 0, see [`Written::ignored`]). A row outside the
    /// caller's scope is answered the same, so that the answer does not tell it exists.
    fn ignored(&self, write: &RowWrite<'_>) -> Result<Written, SyncError> {
        let permissions = write.access.permissions;
        let table = write.access.table;
        match write.action {
            Action::Delete => require(permissions.delete, self.caller, "delete", table)?,
            _ => require(permissions.update, self.caller, "update", table)?,
        }
        Ok(Written {
            applied: true,
            row: StoredRow {
                values: write.sent.clone(),
                version: 0,
                seq: 0,
                deleted: write.action == Action::Delete,
                changed_at: chrono::Utc::now().timestamp_millis(),
            },
            conflict: None,
        })
    }

    /// What the write would store, and whether it conflicts with the stored row.
    fn plan(
        &self,
        write: &RowWrite<'_>,
        existing: Option<StoredRow>,
        prepared: Option<Map<String, Value>>,
    ) -> Result<Plan, SyncError> {
        let table = write.access.table;
        let fresh = || match prepared {
            Some(row) => Ok(row),
            None => new_row(write.access, write.sent),
        };
        let permissions = write.access.permissions;
        let detect_conflicts = matches!(write.rule, ConflictRule::Detect { .. });
        let plan = match (write.action, existing) {
            (Action::Delete, None) if write.rule == ConflictRule::Apply => {
                // A hub's tombstone of a row this gateway never had.
                Plan {
                    values: complete_new_row(table, write.sent)?,
                    deleted: true,
                    version: 1,
                    server: None,
                    conflict: None,
                }
            }
            (Action::Update | Action::Delete, None) => return Err(not_found(table, &write.key)),
            (Action::Delete, Some(server)) => {
                require(permissions.delete, self.caller, "delete", table)?;
                let conflict = if detect_conflicts && !server.deleted {
                    detect(table, write.base_version, write.sent, &server)
                        .or_else(|| older_than_stored(table, write.sent, &server))
                } else {
                    None
                };
                Plan {
                    values: server.values.clone(),
                    deleted: true,
                    version: server.version + 1,
                    conflict,
                    server: Some(server),
                }
            }
            (_, None) => {
                require(permissions.create, self.caller, "create", table)?;
                Plan {
                    values: fresh()?,
                    deleted: false,
                    version: 1,
                    server: None,
                    conflict: None,
                }
            }
            (Action::Insert | Action::Upsert, Some(tombstone)) if tombstone.deleted => {
                // A deleted key used again: a new life of the row, with a newer version; under
                // `last_write_wins`, only by a write made after the delete.
                require(permissions.create, self.caller, "create", table)?;
                let conflict = (detect_conflicts
                    && table.spec.conflict == ConflictStrategy::LastWriteWins)
                    .then(|| format!("the row was deleted (version {})", tombstone.version));
                Plan {
                    values: fresh()?,
                    deleted: false,
                    version: tombstone.version + 1,
                    server: Some(tombstone),
                    conflict,
                }
            }
            (_, Some(server)) => {
                require(permissions.update, self.caller, "update", table)?;
                let conflict = if !detect_conflicts {
                    None
                } else if server.deleted {
                    Some(format!("the row was deleted (version {})", server.version))
                } else if write.action == Action::Insert {
                    Some("a row with this key already exists".to_string())
                } else {
                    detect(table, write.base_version, write.sent, &server)
                        .or_else(|| older_than_stored(table, write.sent, &server))
                };
                Plan {
                    values: overlay(table, &server.values, write.sent, detect_conflicts),
                    deleted: false,
                    version: server.version + 1,
                    conflict,
                    server: Some(server),
                }
            }
        };
        Ok(plan)
    }

    /// Runs the table's `validate` and `transform` hooks; returns the row to store and what the
    /// `after_commit` hooks will see.
    async fn before_hooks(
        &mut self,
        write: &RowWrite<'_>,
        values: Map<String, Value>,
        server: Option<&StoredRow>,
        deleted: bool,
    ) -> Result<(Map<String, Value>, Option<HookOp>), SyncError> {
        let table = write.access.table;
        // Tables without hooks skip building what only hooks read, on every write.
        if !self.options.hooks || table.spec.hooks.is_empty() {
            return Ok((values, None));
        }
        let action = if deleted {
            Action::Delete
        } else {
            write.action
        };
        let hook_op = HookOp {
            action: action.name().into(),
            table: table.name.clone(),
            key: write.key.clone(),
            data: write.sent.clone(),
            row: values,
            current: server.filter(|s| !s.deleted).map(|s| s.values.clone()),
            op_id: write.op_id.map(String::from),
        };
        self.track_overlay();
        let writes = crate::plugins::HookWrites::default();
        let mut ctx = self.hook_context(table, action.name());
        ctx.writes = Some(writes.clone());
        let row = self
            .plugins
            .before_write(table, hook_op.clone(), &ctx)
            .await?;
        let requested = std::mem::take(&mut *writes.lock().expect("hook writes lock"));
        if !requested.is_empty() {
            Box::pin(self.hook_writes(table, requested)).await?;
        }
        let row = if deleted {
            row
        } else {
            checked_hook_row(write, row)?
        };
        Ok((row, Some(hook_op)))
    }

    /// The table's strategy applied to a conflicting write.
    async fn settle(
        &self,
        write: &RowWrite<'_>,
        server: &StoredRow,
        candidate: &Map<String, Value>,
        reason: String,
    ) -> Result<Settled, SyncError> {
        let table = write.access.table;
        let use_local = write.rule == (ConflictRule::Detect { use_local: true });
        if table.spec.conflict == ConflictStrategy::Hook
            && !use_local
            && write.action != Action::Delete
        {
            let ctx = self.hook_context(table, write.action.name());
            let winner = self
                .plugins
                .on_conflict(table, &server.to_client(), candidate, &ctx)?;
            return match winner {
                Some(mut winner) => {
                    winner.remove(VERSION_FIELD);
                    let winner = checked_hook_row(write, winner)?;
                    let info = report(
                        table,
                        ConflictResolution::HookApplied,
                        reason,
                        server,
                        candidate,
                    );
                    Ok(Settled::Apply(winner, info))
                }
                None => Ok(Settled::Kept(report(
                    table,
                    ConflictResolution::ServerKept,
                    reason,
                    server,
                    candidate,
                ))),
            };
        }
        match decide(table, use_local, write.sent, server) {
            Decision::Apply => {
                let resolution = if table.spec.conflict == ConflictStrategy::Merge && !use_local {
                    ConflictResolution::Merged
                } else {
                    ConflictResolution::ClientApplied
                };
                let info = report(table, resolution, reason, server, candidate);
                Ok(Settled::Apply(candidate.clone(), info))
            }
            Decision::Keep => Ok(Settled::Kept(report(
                table,
                ConflictResolution::ServerKept,
                reason,
                server,
                candidate,
            ))),
            Decision::Queue => {
                let mut client = candidate.clone();
                if write.action == Action::Delete {
                    client.insert("_deleted".into(), Value::Bool(true));
                }
                let id = conflicts::insert(
                    self.writing(),
                    NewConflict {
                        table: &table.name,
                        key: &write.key,
                        server_row: &server.to_client(),
                        client_row: &client,
                        server_version: server.version,
                        base_version: write.base_version,
                        device_id: &self.device_id,
                        subject: &self.caller.subject,
                    },
                )
                .await?;
                let mut info = report(table, ConflictResolution::Queued, reason, server, &client);
                info.conflict_id = Some(id);
                Ok(Settled::Kept(info))
            }
        }
    }

    /// Buffers the row for the commit, with its outbox entry and webhook deliveries.
    fn buffer(&mut self, table: &TableDef, key: &Value, row: &StoredRow, hook_op: Option<HookOp>) {
        // A hook's writes stay on the edge: the hub runs the same hooks on the drained write
        // and makes them again from its own rows (pushing this edge's result as well would
        // apply them twice, and overwrite what changed at the hub meanwhile).
        if self.options.outbox && self.hook_depth == 0 {
            self.outbox.push(NewEntry {
                table: table.name.clone(),
                key: key.clone(),
                action: if row.deleted {
                    OutboxAction::Delete
                } else {
                    OutboxAction::Upsert
                },
                data: Value::Object(row.values.clone()),
                subject: self.caller.subject.clone(),
                branch: self.caller.branch_text(),
                device_id: self.device_id.clone(),
            });
        }
        if let Some(hook_op) = hook_op {
            let committed = HookOp {
                row: row.values.clone(),
                ..hook_op
            };
            let ctx = self.hook_context(table, &committed.action);
            for webhook in self.plugins.webhooks(table) {
                let body = Webhook::after_commit_body(&committed, &ctx);
                self.deliveries.push((webhook.url.clone(), body));
            }
            self.after_commit.push((committed, ctx));
        }
        // The row is found here from now on (see `current`), not in `rows`.
        let key_text = key.to_string();
        self.note_buffered(table, &key_text, row);
        let new = match self
            .pending
            .get(&table.name)
            .and_then(|rows| rows.get(&key_text))
        {
            Some(earlier) => earlier.new,
            None => matches!(
                self.rows.get(&(table.name.clone(), key_text.clone())),
                Some(None)
            ),
        };
        self.pending.entry(table.name.clone()).or_default().insert(
            key_text,
            Pending {
                row: row.clone(),
                new,
            },
        );
    }

    fn hook_context(&self, table: &TableDef, action: &str) -> HookContext {
        HookContext {
            user: self.caller.subject.clone(),
            role: self.caller.role.clone(),
            branch: self.caller.branch.clone(),
            device: self.device_id.clone(),
            table: table.name.clone(),
            action: action.to_string(),
            now: crate::schema::values::format_timestamp(chrono::Utc::now()),
            lookup: self
                .options
                .reads
                .as_ref()
                .map(|reads| reads.with(self.overlay.clone().unwrap_or_default())),
            writes: None,
            max_writes: self.options.max_hook_writes,
        }
    }
}

/// What a write would store before hooks and conflict rules had their say.
struct Plan {
    values: Map<String, Value>,
    deleted: bool,
    version: i64,
    /// The stored row the write replaces, when there is one.
    server: Option<StoredRow>,
    /// Why the write conflicts with `server`, when it does.
    conflict: Option<String>,
}

enum Settled {
    /// Store this row; the conflict is still reported.
    Apply(Map<String, Value>, ConflictInfo),
    Kept(ConflictInfo),
}

/// What a conflicting write is answered with, whatever became of it.
fn report(
    table: &TableDef,
    resolution: ConflictResolution,
    reason: String,
    server: &StoredRow,
    client: &Map<String, Value>,
) -> ConflictInfo {
    ConflictInfo {
        strategy: table.spec.conflict.name().into(),
        resolution,
        reason,
        conflict_id: None,
        server_row: server.to_client(),
        client_row: client.clone(),
    }
}

pub fn not_found(table: &TableDef, key: &Value) -> SyncError {
    SyncError::RowNotFound {
        table: table.name.clone(),
        key: key.to_string(),
    }
}

fn require(
    granted: bool,
    caller: &Caller,
    operation: &str,
    table: &TableDef,
) -> Result<(), SyncError> {
    if granted {
        Ok(())
    } else {
        Err(SyncError::Forbidden(format!(
            "your role `{}` may not {operation} rows of table `{}`",
            caller.role, table.name
        )))
    }
}

fn outside_scope(access: &Access<'_>, caller: &Caller) -> SyncError {
    let reason = match &access.scope {
        RowScope::Equals { column, .. } => {
            format!("may only write rows whose `{column}` matches your token")
        }
        RowScope::Parent(parent) => format!(
            "may only write rows whose `{}` names a row of `{}` within your scope",
            parent.column, parent.table
        ),
        RowScope::All => "may not write this row".to_string(),
    };
    SyncError::Forbidden(format!(
        "the row would be outside your scope: role `{}` {reason}",
        caller.role
    ))
}

/// A row a hook returned: checked again against the schema, with every column present and the
/// primary key unchanged.
fn checked_hook_row(
    write: &RowWrite<'_>,
    row: Map<String, Value>,
) -> Result<Map<String, Value>, SyncError> {
    let table = write.access.table;
    let checked = check_sent(table, row)?;
    let complete = complete_new_row(table, &checked)?;
    if complete.get(&table.spec.primary_key) != Some(&write.key) {
        return Err(SyncError::invalid(
            &table.spec.primary_key,
            "a hook may not change the row's primary key",
        ));
    }
    Ok(complete)
}

/// A complete new row of `access.table` from the sent values: scope columns filled from the
/// caller's claims when not sent, then defaults, then null where the column allows it.
pub fn new_row(
    access: &Access<'_>,
    sent: &Map<String, Value>,
) -> Result<Map<String, Value>, SyncError> {
    if let RowScope::Equals {
        column,
        value: Some(value),
        ..
    } = &access.scope
        && !sent.contains_key(column)
    {
        let mut sent = sent.clone();
        sent.insert(column.clone(), value.clone());
        return complete_new_row(access.table, &sent);
    }
    complete_new_row(access.table, sent)
}
