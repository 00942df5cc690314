//! Rows other connections wrote directly in the database, entering the pipeline's last stage:
//! they have committed already, so nothing is checked or decided; they get a feed position, the
//! moves their scope change owes readers, an outbox entry on an edge, and (when the table asks)
//! their `after_commit` hooks and webhooks.

use super::Writer;
use crate::plugins::HookOp;
use crate::schema::TableDef;
use crate::store::rows::StoredRow;
use serde_json::Value;

impl Writer<'_> {
    /// Buffers `after`, the row `key` as another connection left it (a tombstone for a delete),
    /// whose state the feed last had was `before` (`None`: the row is new to the feed). Moves are
    /// worked out against `before`, as for the writer's own writes against the rows it read.
    pub fn import(
        &mut self,
        table: &TableDef,
        key: &Value,
        before: Option<StoredRow>,
        after: StoredRow,
        hooks: bool,
    ) {
        let action = match &before {
            _ if after.deleted => "delete",
            Some(before) if !before.deleted => "update",
            _ => "insert",
        };
        let hook_op = hooks.then(|| HookOp {
            action: action.into(),
            table: table.name.clone(),
            key: key.clone(),
            data: after.values.clone(),
            row: after.values.clone(),
            current: before
                .as_ref()
                .filter(|before| !before.deleted)
                .map(|before| before.values.clone()),
            op_id: None,
        });
        self.rows
            .insert((table.name.clone(), key.to_string()), before);
        // Written whether or not the key has a row now: a deleted row's tombstone is put back.
        self.buffer_as(table, key, &after, hook_op, false);
    }
}
