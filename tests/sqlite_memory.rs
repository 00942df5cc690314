//! SQLite takes mimalloc as its allocator when told before the first database opens (as
//! `syncgate serve` does), and works with it: large strings grown by realloc, many rows freed.
//! Its own test binary: SQLite must not have started in this process before.

use sea_orm::{ConnectionTrait, Database, Statement};

#[tokio::test]
async fn sqlite_runs_on_mimalloc() {
    assert!(
        syncgate::store::sqlite_memory::use_mimalloc(),
        "SQLite refused the allocator"
    );
    let db = Database::connect("sqlite::memory:").await.unwrap();
    db.execute_unprepared(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO t SELECT i, printf('row %d with some text to grow the page', i) FROM n;",
    )
    .await
    .unwrap();
    // One value of about 1 MB, grown by realloc, as a page of the feed is.
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT length('[' || group_concat(json_object('id', id, 'note', note), ',' ORDER BY id) || ']') AS n FROM t",
        ))
        .await
        .unwrap()
        .unwrap();
    let length: i64 = row.try_get("", "n").unwrap();
    assert!(length > 900_000, "{length}");
    // SQLite's blocks are mimalloc's.
    unsafe {
        let block = libsqlite3_sys::sqlite3_malloc(100);
        assert!(libmimalloc_sys::mi_is_in_heap_region(block));
        libsqlite3_sys::sqlite3_free(block);
    }
}
