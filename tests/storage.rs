//! Schema tables in the database: created on first start, extended with new columns, and never
//! changed in a way that could lose data — on SQLite and PostgreSQL.

mod common;

use common::{Backend, Sandbox, TestServer, backends, binary};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use syncgate::server::StartError;
use syncgate::store::StoreError;

const V1: &str = r#"
[roles.ADMIN]
scope = "all"

[tables.items]
permissions = { ADMIN = "crud" }
[tables.items.columns]
id = { type = "uuid" }
name = { type = "text" }
price = { type = "decimal", nullable = true }
"#;

async fn columns(db: &DatabaseConnection, backend: Backend, table: &str) -> Vec<(String, String)> {
    let sql = match backend {
        Backend::Sqlite => {
            format!("SELECT name, type FROM pragma_table_info('{table}') ORDER BY cid")
        }
        Backend::Postgres => format!(
            "SELECT column_name AS name, data_type AS type FROM information_schema.columns \
             WHERE table_name = '{table}' ORDER BY ordinal_position"
        ),
    };
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let name: String = row.try_get("", "name").unwrap();
            let kind: String = row.try_get("", "type").unwrap();
            (name, kind.to_lowercase())
        })
        .collect()
}

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql).await.unwrap();
}

async fn start_and_stop(sandbox: &Sandbox) {
    TestServer::start(sandbox.config()).await.stop().await;
}

async fn start_error(sandbox: &Sandbox) -> String {
    match TestServer::try_start(sandbox.config()).await {
        Ok(server) => {
            server.stop().await;
            panic!("the server started although the schema would lose data");
        }
        Err(StartError::Store(StoreError::UnsafeSchemaChange(refusals))) => refusals.join("\n"),
        Err(other) => panic!("unexpected start error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_are_created_with_typed_and_system_columns() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("items.toml", V1);
        start_and_stop(&sandbox).await;
        let db = sandbox.connect().await;
        let found = columns(&db, backend, "items").await;
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "id",
                "name",
                "price",
                "_sg_version",
                "_sg_seq",
                "_sg_deleted",
                "_sg_changed_at"
            ],
            "{backend:?}"
        );
        let price = &found[2].1;
        match backend {
            Backend::Sqlite => assert_eq!(price, "text", "decimals keep every digit as text"),
            Backend::Postgres => {
                assert_eq!(price, "numeric");
                assert_eq!(found[0].1, "uuid");
            }
        }
        let recorded = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT columns FROM syncgate_tables WHERE name = 'items'",
            ))
            .await
            .unwrap()
            .expect("the layout is recorded");
        let layout: String = recorded.try_get("", "columns").unwrap();
        assert!(
            layout.contains("\"price\":{\"type\":\"decimal\",\"nullable\":true}"),
            "{layout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn new_columns_are_added_and_defaults_fill_existing_rows() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("items.toml", V1);
        start_and_stop(&sandbox).await;
        let db = sandbox.connect().await;
        execute(
            &db,
            "INSERT INTO items (id, name) VALUES ('5f0c8e4e-7d7a-4b43-9a57-1b1d2f7c9e10', 'tea')",
        )
        .await;

        let v2 = format!(
            "{V1}note = {{ type = \"text\", nullable = true }}\nstock = {{ type = \"integer\", default = 7 }}\n\
             added = {{ type = \"timestamp\", default = \"2026-01-01T00:00:00Z\" }}\n"
        );
        sandbox.write_schema("items.toml", &v2);
        start_and_stop(&sandbox).await;

        let names: Vec<String> = columns(&db, backend, "items")
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            names.contains(&"note".into()) && names.contains(&"stock".into()),
            "{names:?}"
        );
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT stock, note FROM items",
            ))
            .await
            .unwrap()
            .unwrap();
        let stock: i64 = row.try_get("", "stock").unwrap();
        let note: Option<String> = row.try_get("", "note").unwrap();
        assert_eq!((stock, note), (7, None), "{backend:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_that_could_lose_data_are_refused_and_not_applied() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("items.toml", V1);
        start_and_stop(&sandbox).await;
        let db = sandbox.connect().await;
        execute(
            &db,
            "INSERT INTO items (id, name) VALUES ('5f0c8e4e-7d7a-4b43-9a57-1b1d2f7c9e10', 'tea')",
        )
        .await;
        let before = columns(&db, backend, "items").await;

        let cases = [
            (
                "dropped column",
                V1.replace("price = { type = \"decimal\", nullable = true }\n", ""),
                "column `price`: the column is in the database but no longer in the schema",
            ),
            (
                "changed type",
                V1.replace("type = \"decimal\"", "type = \"integer\""),
                "column `price`: the type changed from decimal to integer",
            ),
            (
                "changed type that looks the same on SQLite",
                V1.replace("name = { type = \"text\" }", "name = { type = \"uuid\" }"),
                "column `name`: the type changed from text to uuid",
            ),
            (
                "changed primary key",
                V1.replace(
                    "[tables.items]\n",
                    "[tables.items]\nprimary_key = \"name\"\n",
                ),
                "the primary key is `id` in the database but `name` in the schema",
            ),
            (
                "new required column on a table with rows",
                format!("{V1}sku = {{ type = \"text\" }}\n"),
                "column `sku`: the new column is required (not nullable, no default) but the table already has 1 rows",
            ),
        ];
        for (what, schema, expected) in cases {
            sandbox.write_schema("items.toml", &schema);
            let message = start_error(&sandbox).await;
            assert!(message.contains(expected), "{backend:?} {what}: {message}");

            let config = sandbox.write_config("");
            let output = std::process::Command::new(binary())
                .args(["check", "--config"])
                .arg(&config)
                .output()
                .unwrap();
            let report = String::from_utf8_lossy(&output.stdout);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{backend:?} {what}: {report}"
            );
            assert!(
                report.contains(expected),
                "{backend:?} {what}: check says {report}"
            );

            assert_eq!(
                columns(&db, backend, "items").await,
                before,
                "{backend:?} {what}: nothing applied"
            );
        }

        // Making a column required while rows hold null is refused too.
        let nullable_dropped = V1.replace(
            "price = { type = \"decimal\", nullable = true }",
            "price = { type = \"decimal\" }",
        );
        sandbox.write_schema("items.toml", &nullable_dropped);
        let message = start_error(&sandbox).await;
        assert!(
            message
                .contains("column `price`: the column is no longer nullable but 1 rows hold null"),
            "{message}"
        );

        // And once the schema is restored, the gateway starts again.
        sandbox.write_schema("items.toml", V1);
        start_and_stop(&sandbox).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn check_lists_pending_table_changes_without_applying_them() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("items.toml", V1);
        start_and_stop(&sandbox).await;
        sandbox.write_schema(
            "items.toml",
            &format!("{V1}note = {{ type = \"text\", nullable = true }}\n"),
        );
        let config = sandbox.write_config("");
        let output = std::process::Command::new(binary())
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{report}");
        assert!(
            report.contains("note: at start: add column `note` to table `items`"),
            "{report}"
        );
        let db = sandbox.connect().await;
        let names: Vec<String> = columns(&db, backend, "items")
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            !names.contains(&"note".to_string()),
            "check changed nothing"
        );

        let output = std::process::Command::new(binary())
            .args(["migrate", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("ok: migrations applied"));
        let names: Vec<String> = columns(&db, backend, "items")
            .await
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(
            names.contains(&"note".to_string()),
            "migrate applied the schema"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_starting_together_apply_the_schema_once() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("items.toml", V1);
        let (a, b) = tokio::join!(
            TestServer::try_start(sandbox.config()),
            TestServer::try_start(sandbox.config())
        );
        a.expect("first replica starts").stop().await;
        b.expect("second replica starts").stop().await;
    }
}
