//! Writes hook scripts ask for (`write(table, action, row)`), applied through this same
//! pipeline in the writer's transaction: each row with its own table's permissions and scope
//! (checked as the hook's identity: the table's `hook_role`, or the caller), its own hooks,
//! feed position and webhooks. On an edge they get no outbox entry: the hub runs the same hooks
//! on the drained write and makes them again from its own rows. A change whose hooks wrote and which then fails,
//! or ends not applied (a conflict kept the server's row), leaves none of those writes behind:
//! the writer keeps an undo log of its buffers while such a change runs.

use super::{Checkpoint, ConflictRule, RowWrite, Undo, Writer};
use crate::plugins::{HookError, HookWrite};
use crate::schema::TableDef;
use crate::store::rows::StoredRow;
use crate::sync::data::{check_sent, key_of};
use crate::sync::types::Action;
use crate::sync::{SyncError, access};

/// How deep hook writes may nest (a hook's write whose table's hooks write, …).
const MAX_DEPTH: usize = 4;

impl Writer<'_> {
    /// Whether a change to `table` may run hooks that write other rows.
    pub(super) fn hooks_may_write(&self, table: &TableDef) -> bool {
        self.options.hooks && self.options.reads.is_some() && !table.spec.hooks.is_empty()
    }

    /// Keeps the rows buffered from now on (and those so far) for hook scripts' reads.
    pub(super) fn track_overlay(&mut self) {
        if self.overlay.is_some() {
            return;
        }
        let mut rows = std::collections::HashMap::new();
        for (table, pending) in &self.pending {
            for (key, entry) in pending {
                rows.insert((table.clone(), key.clone()), entry.row.clone());
            }
        }
        self.overlay = Some(std::sync::Arc::new(std::sync::Mutex::new(rows)));
    }

    /// Records a row just buffered: for hook reads, and in the undo log while one is kept
    /// (called before the buffer changes, so that it can see what the row replaces).
    pub(super) fn note_buffered(&mut self, table: &TableDef, key: &str, row: &StoredRow) {
        if let Some(overlay) = &self.overlay {
            overlay
                .lock()
                .expect("overlay lock")
                .insert((table.name.clone(), key.to_string()), row.clone());
        }
        if let Some(undo) = &mut self.undo {
            let replaced = self
                .pending
                .get(&table.name)
                .and_then(|rows| rows.get(key))
                .cloned();
            undo.push(Undo {
                table: table.name.clone(),
                key: key.to_string(),
                replaced,
            });
        }
    }

    pub(super) fn checkpoint(&mut self) -> Checkpoint {
        let started_log = self.undo.is_none();
        let undo = self.undo.get_or_insert_with(Vec::new).len();
        Checkpoint {
            undo,
            outbox: self.outbox.len(),
            deliveries: self.deliveries.len(),
            after_commit: self.after_commit.len(),
            next_keys: self.next_keys.clone(),
            started_log,
        }
    }

    /// The change succeeded: its undo entries stay for an enclosing checkpoint, if any.
    pub(super) fn release(&mut self, checkpoint: Checkpoint) {
        if checkpoint.started_log {
            self.undo = None;
        }
    }

    /// Returns the buffers to `checkpoint`: rows buffered since are taken out (or put back as
    /// they were), and so are their outbox entries, deliveries and after-commit hooks.
    pub(super) fn restore(&mut self, checkpoint: Checkpoint) {
        let undone: Vec<Undo> = match &mut self.undo {
            Some(undo) => undo.drain(checkpoint.undo..).rev().collect(),
            None => Vec::new(),
        };
        for Undo {
            table,
            key,
            replaced,
        } in undone
        {
            let rows = self.pending.entry(table.clone()).or_default();
            match replaced {
                Some(earlier) => {
                    rows.insert(key.clone(), earlier.clone());
                    self.overlay_put(&table, &key, Some(earlier.row));
                }
                None => {
                    rows.shift_remove(&key);
                    if rows.is_empty() {
                        self.pending.shift_remove(&table);
                    }
                    self.overlay_put(&table, &key, None);
                }
            }
        }
        self.outbox.truncate(checkpoint.outbox);
        self.deliveries.truncate(checkpoint.deliveries);
        self.after_commit.truncate(checkpoint.after_commit);
        self.next_keys = checkpoint.next_keys;
        if checkpoint.started_log {
            self.undo = None;
        }
    }

    fn overlay_put(&self, table: &str, key: &str, row: Option<StoredRow>) {
        if let Some(overlay) = &self.overlay {
            let mut overlay = overlay.lock().expect("overlay lock");
            let slot = (table.to_string(), key.to_string());
            match row {
                Some(row) => overlay.insert(slot, row),
                None => overlay.remove(&slot),
            };
        }
    }

    /// Applies the writes a hook of `table` asked for, in order; the first that fails fails
    /// the change (the caller's checkpoint undoes the others).
    pub(super) async fn hook_writes(
        &mut self,
        table: &TableDef,
        requested: Vec<HookWrite>,
    ) -> Result<(), SyncError> {
        let hooks = table.spec.hooks.join(", ");
        let refused = |message: String| {
            SyncError::Hook(HookError::Rejected {
                hook: hooks.clone(),
                message,
            })
        };
        if self.hook_depth >= MAX_DEPTH {
            return Err(refused(format!(
                "hook writes nest deeper than {MAX_DEPTH} tables (a hook's write runs that \
                 table's hooks, which may write in turn)"
            )));
        }
        let Some(reads) = self.options.reads.clone() else {
            return Err(refused("hooks may not write here".into()));
        };
        let mut identity = self.caller.clone();
        if let Some(role) = &table.spec.hook_role {
            identity.role = role.clone();
        }
        self.hook_depth += 1;
        let mut outcome = Ok(());
        for write in requested {
            let target = write.table.clone();
            if let Err(error) = self.hook_write(&reads.schema, &identity, write).await {
                outcome = Err(match error {
                    // Running the whole change again settles these.
                    SyncError::Contended(_) | SyncError::Db(_) => error,
                    other => refused(format!("its write to `{target}` failed: {other}")),
                });
                break;
            }
        }
        self.hook_depth -= 1;
        outcome
    }

    async fn hook_write(
        &mut self,
        schema: &crate::schema::Schema,
        identity: &crate::auth::Caller,
        write: HookWrite,
    ) -> Result<(), SyncError> {
        let access = access(schema, identity, &write.table)?;
        let action = match write.action.as_str() {
            "insert" => Action::Insert,
            "update" => Action::Update,
            "upsert" => Action::Upsert,
            _ => Action::Delete,
        };
        let mut sent = check_sent(access.table, write.row)?;
        let pk = access.table.spec.primary_key.clone();
        let key = if matches!(action, Action::Insert | Action::Upsert)
            && access.table.key_assigned_by_server()
            && matches!(sent.get(&pk), None | Some(serde_json::Value::Null))
        {
            let key = self.assign_key(access.table).await?;
            sent.insert(pk, key.clone());
            key
        } else {
            key_of(access.table, &sent)?
        };
        let written = Box::pin(self.apply(RowWrite {
            access: &access,
            action,
            key,
            sent: &sent,
            base_version: None,
            // The hook decided: its write goes in whatever the row holds.
            rule: ConflictRule::Detect { use_local: true },
            op_id: None,
            new_row: None,
        }))
        .await?;
        if !written.applied {
            return Err(SyncError::BadRequest(
                "the row's conflict rule kept the stored row".into(),
            ));
        }
        Ok(())
    }
}
