//! Op records (`syncgate_op_records`): the first outcome of each `(subject, device_id, op_id)`,
//! so a retried operation is answered as a replay and writes nothing. A record holds what the
//! replay needs (status, version, key, conflict details) and a fingerprint of the operation; the
//! row itself is read as it is now when the replay is answered.

use super::sql::SqlBuilder;
use sea_orm::{ConnectionTrait, DbErr, Value};
use serde_json::Value as Json;
use std::collections::HashMap;

/// Whose op ids these are: a user's device. Op ids of different users never meet.
#[derive(Debug, Clone, Copy)]
pub struct OpOwner<'a> {
    pub subject: &'a str,
    pub device_id: &'a str,
}

/// What an operation's first outcome was, as stored (`applied` or `conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpRecordStatus {
    Applied,
    Conflict,
}

impl OpRecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpRecordStatus::Applied => "applied",
            OpRecordStatus::Conflict => "conflict",
        }
    }

    fn parse(text: &str) -> Result<Self, DbErr> {
        match text {
            "applied" => Ok(OpRecordStatus::Applied),
            "conflict" => Ok(OpRecordStatus::Conflict),
            other => Err(DbErr::Custom(format!(
                "syncgate_op_records.status: unknown status `{other}`"
            ))),
        }
    }
}

/// The first outcome of an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    pub table: String,
    pub key: Json,
    pub status: OpRecordStatus,
    pub version: i64,
    pub deleted: bool,
    /// The conflict details (JSON), when the outcome was a conflict.
    pub conflict: Option<Json>,
    /// Identifies the operation's content, to tell a retry from a reused op id.
    pub fingerprint: String,
}

const COLUMNS: &str = "op_id, table_name, row_key, status, version, deleted, conflict, fingerprint";

/// The records of those of `op_ids` already applied for `owner`, by op id.
pub async fn find_many(
    db: &impl ConnectionTrait,
    owner: OpOwner<'_>,
    op_ids: &[&str],
) -> Result<HashMap<String, OpRecord>, DbErr> {
    let mut found = HashMap::new();
    for chunk in op_ids.chunks(500) {
        let mut sql = SqlBuilder::new(db.get_database_backend());
        sql.push(&format!(
            "SELECT {COLUMNS} FROM syncgate_op_records WHERE subject = "
        ))
        .bind(owner.subject.into(), None)
        .push(" AND device_id = ")
        .bind(owner.device_id.into(), None)
        .push(" AND op_id IN (");
        sql.bind_list(chunk.iter().map(|op_id| Value::from(*op_id)));
        sql.push(")");
        for row in db.query_all_raw(sql.build()).await? {
            let unreadable =
                |what: &str| DbErr::Custom(format!("syncgate_op_records holds unreadable {what}"));
            let key: String = row.try_get("", "row_key")?;
            let conflict: Option<String> = row.try_get("", "conflict")?;
            let record = OpRecord {
                table: row.try_get("", "table_name")?,
                key: serde_json::from_str(&key).map_err(|_| unreadable("key JSON"))?,
                status: OpRecordStatus::parse(&row.try_get::<String>("", "status")?)?,
                version: row.try_get("", "version")?,
                deleted: row.try_get("", "deleted")?,
                conflict: conflict
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|_| unreadable("conflict JSON"))?,
                fingerprint: row.try_get("", "fingerprint")?,
            };
            found.insert(row.try_get("", "op_id")?, record);
        }
    }
    Ok(found)
}

/// Records first outcomes with multi-row INSERTs.
pub async fn record_many(
    db: &impl ConnectionTrait,
    owner: OpOwner<'_>,
    records: &[(String, OpRecord)],
) -> Result<(), DbErr> {
    let now = chrono::Utc::now().timestamp_millis();
    // 10 values per record; SQLite allows 32766 bound values per statement.
    for chunk in records.chunks(1000) {
        let mut sql = SqlBuilder::new(db.get_database_backend());
        sql.push(
            "INSERT INTO syncgate_op_records (subject, device_id, op_id, table_name, row_key, \
             status, version, deleted, conflict, fingerprint, created_at) VALUES ",
        );
        for (index, (op_id, record)) in chunk.iter().enumerate() {
            sql.push(if index == 0 { "(" } else { ", (" });
            sql.bind_list([
                owner.subject.into(),
                owner.device_id.into(),
                op_id.as_str().into(),
                record.table.as_str().into(),
                record.key.to_string().into(),
                record.status.as_str().into(),
                record.version.into(),
                record.deleted.into(),
                Value::String(record.conflict.as_ref().map(Json::to_string)),
                record.fingerprint.as_str().into(),
            ]);
            sql.push(", ").bind(now.into(), None).push(")");
        }
        db.execute_raw(sql.build()).await?;
    }
    Ok(())
}
