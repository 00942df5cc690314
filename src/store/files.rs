//! File and upload session records (`syncgate_files`, `syncgate_uploads`).

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};
use serde_json::Value as Json;

#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub id: String,
    pub table: String,
    pub key: Json,
    pub field: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    pub subject: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub id: String,
    pub subject: String,
    pub table: String,
    pub key: Json,
    pub field: String,
    pub size: i64,
    pub chunk_size: i64,
    pub sha256: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl Upload {
    pub fn chunks(&self) -> i64 {
        (self.size + self.chunk_size - 1) / self.chunk_size
    }

    /// The size chunk `index` must have.
    pub fn chunk_len(&self, index: i64) -> i64 {
        if index == self.chunks() - 1 {
            self.size - self.chunk_size * index
        } else {
            self.chunk_size
        }
    }
}

fn insert_values(db: &impl ConnectionTrait, sql_head: &str, values: Vec<Value>) -> SqlBuilder {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(sql_head);
    sql.bind_list(values);
    sql.push(")");
    sql
}

pub async fn insert_file(db: &impl ConnectionTrait, file: &StoredFile) -> Result<(), DbErr> {
    let sql = insert_values(
        db,
        "INSERT INTO syncgate_files (id, table_name, row_key, field, media_type, size, sha256, subject, created_at) VALUES (",
        vec![
            file.id.clone().into(),
            file.table.clone().into(),
            file.key.to_string().into(),
            file.field.clone().into(),
            file.media_type.clone().into(),
            file.size.into(),
            file.sha256.clone().into(),
            file.subject.clone().into(),
            file.created_at.into(),
        ],
    );
    db.execute_raw(sql.build()).await?;
    Ok(())
}

const FILE_COLUMNS: &str =
    "id, table_name, row_key, field, media_type, size, sha256, subject, created_at";

pub async fn get_file(db: &impl ConnectionTrait, id: &str) -> Result<Option<StoredFile>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {FILE_COLUMNS} FROM syncgate_files WHERE id = "
    ))
    .bind(id.into(), None);
    db.query_one_raw(sql.build())
        .await?
        .map(|row| decode_file(&row))
        .transpose()
}

/// Every file record, oldest first (for the cleanup job).
pub async fn all_files(
    db: &impl ConnectionTrait,
    after_created: i64,
    limit: u64,
) -> Result<Vec<StoredFile>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {FILE_COLUMNS} FROM syncgate_files WHERE created_at >= "
    ))
    .bind(after_created.into(), None)
    .push(&format!(" ORDER BY created_at, id LIMIT {limit}"));
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(decode_file)
        .collect()
}

pub async fn delete_file(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("DELETE FROM syncgate_files WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

fn decode_file(row: &QueryResult) -> Result<StoredFile, DbErr> {
    let key: String = row.try_get("", "row_key")?;
    Ok(StoredFile {
        id: row.try_get("", "id")?,
        table: row.try_get("", "table_name")?,
        key: serde_json::from_str(&key)
            .map_err(|e| DbErr::Custom(format!("syncgate_files.row_key: {e}")))?,
        field: row.try_get("", "field")?,
        media_type: row.try_get("", "media_type")?,
        size: row.try_get("", "size")?,
        sha256: row.try_get("", "sha256")?,
        subject: row.try_get("", "subject")?,
        created_at: row.try_get("", "created_at")?,
    })
}

pub async fn insert_upload(db: &impl ConnectionTrait, upload: &Upload) -> Result<(), DbErr> {
    let sql = insert_values(
        db,
        "INSERT INTO syncgate_uploads (id, subject, table_name, row_key, field, size, chunk_size, sha256, created_at, expires_at) VALUES (",
        vec![
            upload.id.clone().into(),
            upload.subject.clone().into(),
            upload.table.clone().into(),
            upload.key.to_string().into(),
            upload.field.clone().into(),
            upload.size.into(),
            upload.chunk_size.into(),
            upload.sha256.clone().into(),
            upload.created_at.into(),
            upload.expires_at.into(),
        ],
    );
    db.execute_raw(sql.build()).await?;
    Ok(())
}

const UPLOAD_COLUMNS: &str =
    "id, subject, table_name, row_key, field, size, chunk_size, sha256, created_at, expires_at";

pub async fn get_upload(db: &impl ConnectionTrait, id: &str) -> Result<Option<Upload>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM syncgate_uploads WHERE id = "
    ))
    .bind(id.into(), None);
    db.query_one_raw(sql.build())
        .await?
        .map(|row| decode_upload(&row))
        .transpose()
}

pub async fn expired_uploads(db: &impl ConnectionTrait, now: i64) -> Result<Vec<Upload>, DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM syncgate_uploads WHERE expires_at < "
    ))
    .bind(now.into(), None);
    db.query_all_raw(sql.build())
        .await?
        .iter()
        .map(decode_upload)
        .collect()
}

pub async fn delete_upload(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    let mut sql = SqlBuilder::new(db.get_database_backend());
    sql.push("DELETE FROM syncgate_uploads WHERE id = ")
        .bind(id.into(), None);
    db.execute_raw(sql.build()).await?;
    Ok(())
}

fn decode_upload(row: &QueryResult) -> Result<Upload, DbErr> {
    let key: String = row.try_get("", "row_key")?;
    Ok(Upload {
        id: row.try_get("", "id")?,
        subject: row.try_get("", "subject")?,
        table: row.try_get("", "table_name")?,
        key: serde_json::from_str(&key)
            .map_err(|e| DbErr::Custom(format!("syncgate_uploads.row_key: {e}")))?,
        field: row.try_get("", "field")?,
        size: row.try_get("", "size")?,
        chunk_size: row.try_get("", "chunk_size")?,
        sha256: row.try_get("", "sha256")?,
        created_at: row.try_get("", "created_at")?,
        expires_at: row.try_get("", "expires_at")?,
    })
}
