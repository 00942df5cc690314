//! Checking where a file goes (a `file` column of a row the caller may update), storing it, and
//! writing its id into the row through the write pipeline.

use super::DEFAULT_MAX_SIZE;
use super::media::{accepted, sniff};
use super::storage::FileStorage;
use crate::auth::Caller;
use crate::plugins::Plugins;
use crate::schema::model::{Column, ColumnType};
use crate::schema::{Schema, TableDef};
use crate::store::files::{self, StoredFile};
use crate::store::rows::{self, StoredRow};
use crate::sync::types::Action;
use crate::sync::write::{Actor, ConflictRule, RowWrite, WriteOptions, Writer};
use crate::sync::{SyncError, access};
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error("the file is {size} bytes; `{table}.{field}` accepts at most {max} bytes")]
    TooLarge {
        table: String,
        field: String,
        size: u64,
        max: u64,
    },
    #[error("the file's content is `{found}`; `{table}.{field}` accepts {accepted}")]
    Unsupported {
        table: String,
        field: String,
        found: String,
        accepted: String,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("file storage failed: {0}")]
    Storage(#[from] std::io::Error),
}

impl From<sea_orm::DbErr> for FileError {
    fn from(error: sea_orm::DbErr) -> Self {
        FileError::Sync(error.into())
    }
}

/// Where a file goes in one row: a `file` column, or a key of a `json` column.
pub struct Target<'a> {
    pub table: &'a TableDef,
    pub key: Value,
    /// As the request named it: `COLUMN`, or `COLUMN.KEY` for a key of a json column (how it is
    /// recorded with the file, too).
    pub field: String,
    pub column_name: String,
    pub column: &'a Column,
    /// The key of the json column the file's id is written under.
    pub json_key: Option<String>,
}

impl Target<'_> {
    pub fn max_size(&self) -> u64 {
        self.column.max_size.unwrap_or(DEFAULT_MAX_SIZE)
    }
}

/// The live row `key` of `table` that the caller may update, and its file column `field`.
pub async fn target<'a>(
    db: &DatabaseConnection,
    schema: &'a Schema,
    caller: &Caller,
    table: &str,
    key: &str,
    field: &str,
) -> Result<Target<'a>, FileError> {
    let access = access(schema, caller, table)?;
    let table = access.table;
    // Column names have no `.`: what follows the first one is a key of a json column.
    let (column_name, json_key) = match field.split_once('.') {
        Some((column, key)) => (column, Some(key)),
        None => (field, None),
    };
    let wanted = if json_key.is_some() {
        ColumnType::Json
    } else {
        ColumnType::File
    };
    let column = table
        .spec
        .columns
        .get(column_name)
        .filter(|c| c.kind == wanted)
        .ok_or_else(|| {
            FileError::BadRequest(match json_key {
                Some(_) => format!(
                    "`{column_name}` is not a json column of table `{}` (`field` = \
                     `COLUMN.KEY` writes the file's id under KEY of a json column)",
                    table.name
                ),
                None => format!(
                    "`{field}` is not a file column of table `{}` (or name a key of a json \
                     column as `COLUMN.KEY`)",
                    table.name
                ),
            })
        })?;
    if json_key.is_some_and(|key| key.is_empty() || key.len() > 200) {
        return Err(FileError::BadRequest(
            "the json key after `.` in `field` must hold 1 to 200 characters".into(),
        ));
    }
    if !access.permissions.update {
        return Err(SyncError::Forbidden(format!(
            "your role `{}` may not update rows of table `{}`",
            caller.role, table.name
        ))
        .into());
    }
    let key = table.parse_key(key).map_err(FileError::BadRequest)?;
    let found = match rows::find(db, table, &key).await? {
        Some(row) if !row.deleted => crate::sync::admits(db, &access, &row.values).await?,
        _ => false,
    };
    if !found {
        return Err(SyncError::RowNotFound {
            table: table.name.clone(),
            key: key.to_string(),
        }
        .into());
    }
    Ok(Target {
        table,
        key,
        field: field.to_string(),
        column_name: column_name.to_string(),
        column,
        json_key: json_key.map(String::from),
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The storage key of an attachment's bytes.
pub fn object_key(id: &str) -> String {
    format!("files/{id}")
}

/// Checks size and content type, and stores the file; the row is not changed yet.
pub async fn store(
    db: &DatabaseConnection,
    storage: &dyn FileStorage,
    caller: &Caller,
    target: &Target<'_>,
    bytes: &[u8],
) -> Result<StoredFile, FileError> {
    let size = bytes.len() as u64;
    if size > target.max_size() {
        return Err(FileError::TooLarge {
            table: target.table.name.clone(),
            field: target.field.clone(),
            size,
            max: target.max_size(),
        });
    }
    let media_type = sniff(bytes);
    if !accepted(target.column, &media_type) {
        return Err(FileError::Unsupported {
            table: target.table.name.clone(),
            field: target.field.clone(),
            found: media_type,
            accepted: target.column.accept.join(", "),
        });
    }
    let file = StoredFile {
        id: uuid::Uuid::new_v4().to_string(),
        table: target.table.name.clone(),
        key: target.key.clone(),
        field: target.field.clone(),
        media_type,
        size: size as i64,
        sha256: sha256_hex(bytes),
        subject: caller.subject.clone(),
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    storage.put(&object_key(&file.id), bytes).await?;
    files::insert_file(db, &file).await?;
    Ok(file)
}

/// Writes the attachment id into the target's column (or under its key of a json column): a new version of the row, through the
/// write pipeline like any update (hooks, webhooks, outbox). Returns the row.
pub async fn attach(
    db: &DatabaseConnection,
    schema: &Schema,
    plugins: &Plugins,
    caller: &Caller,
    target: &Target<'_>,
    file_id: &str,
    options: WriteOptions,
) -> Result<StoredRow, FileError> {
    let access = access(schema, caller, &target.table.name)?;
    let device_id = caller.device_id.as_deref().unwrap_or("file-upload");
    let actor = Actor { caller, device_id };
    let mut writer = Writer::begin(db, plugins, actor, options).await?;
    let reference = Value::String(file_id.to_string());
    let value = match &target.json_key {
        None => reference,
        // The row's object with the key set, its other keys kept (merge column or not), as this
        // transaction reads it.
        Some(json_key) => {
            let current = writer.current(target.table, &target.key).await?;
            let mut object = current
                .and_then(|row| row.values.get(&target.column_name).cloned())
                .and_then(|value| match value {
                    Value::Object(object) => Some(object),
                    _ => None,
                })
                .unwrap_or_default();
            object.insert(json_key.clone(), reference);
            Value::Object(object)
        }
    };
    let mut sent = Map::new();
    sent.insert(target.table.spec.primary_key.clone(), target.key.clone());
    sent.insert(target.column_name.clone(), value);
    let written = writer
        .apply(RowWrite {
            access: &access,
            action: Action::Update,
            key: target.key.clone(),
            sent: &sent,
            base_version: None,
            rule: ConflictRule::Apply,
            op_id: None,
            new_row: None,
        })
        .await?;
    writer.commit(schema).await?;
    Ok(written.row)
}

/// Undoes [`store`] when the row could not be updated.
pub async fn discard(db: &DatabaseConnection, storage: &dyn FileStorage, id: &str) {
    let _ = storage.delete(&object_key(id)).await;
    let _ = files::delete_file(db, id).await;
}
