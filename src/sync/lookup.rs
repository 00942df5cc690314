//! `lookup(table, key)` for hook scripts: a live row the caller may read, read on its own
//! connection (committed rows only). Scripts are synchronous, so the read blocks this worker
//! thread; the gateway runs on tokio's multi-threaded runtime, which allows that.

use super::{access, visible_row};
use crate::auth::Caller;
use crate::plugins::Lookup;
use crate::schema::Schema;
use crate::store::rows::StoredRow;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

pub fn lookup(db: DatabaseConnection, schema: Arc<Schema>, caller: Caller) -> Lookup {
    Arc::new(move |table, key| {
        let access = access(&schema, &caller, table).map_err(|error| error.to_string())?;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| "no runtime".to_string())?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err("lookup needs the multi-threaded runtime".into());
        }
        let pk = &access.table.spec.columns[&access.table.spec.primary_key];
        let key = crate::schema::values::normalize(pk, key.clone());
        let found =
            tokio::task::block_in_place(|| handle.block_on(visible_row(&db, &access, &key)))
                .map_err(|error| error.to_string())?;
        Ok(found.map(StoredRow::into_client))
    })
}
