//! Figures of writes made outside the gateway (README, "Writes made outside the gateway"):
//!
//! - **push with and without the triggers**: two fresh gateways, one with `sync.external_writes`
//!   on (the default) and one with it off, pushed alternately (4 clients × 100 rows, 4 times each,
//!   the best of each);
//!   the triggers must cost the gateway's own pushes less than 10 %;
//! - **an external write to a waiting long-poll**: another connection inserts one row while a
//!   device long-polls; the time from that statement's commit to the long-poll's answer;
//! - **external write throughput**: the same 100-row INSERT statements, from one connection,
//!   into the synced table (its triggers log every row) and into a table of the same columns
//!   without triggers, alternately (the rows are in the feed at their commit); then how long the
//!   gateway took to follow the log of those rows (outbox entries, hooks) after the last one.

use super::{Latencies, Server, line, postgres_database, push, start_server_with};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use std::time::{Duration, Instant};

pub async fn run(
    server: &Server,
    token: &str,
    database_url: &str,
    admin: Option<&str>,
    args: &super::Args,
) {
    push_with_and_without(token, admin, args.push_rows).await;
    let db = sea_orm::Database::connect(database_url)
        .await
        .expect("connect to the gateway's database");
    long_poll_latency(
        server,
        token,
        &db,
        if args.push_rows < 20_000 { 50 } else { 300 },
    )
    .await;
    throughput(&db, args.push_rows).await;
}

async fn push_with_and_without(token: &str, admin: Option<&str>, rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for (name, keys) in [
        ("sgbench_triggers_on", ""),
        ("sgbench_triggers_off", "external_writes = false\n"),
    ] {
        let url = match admin {
            Some(admin) => postgres_database(admin, name).await,
            None => format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            ),
        };
        servers.push(start_server_with(&dir.path().join(name), &url, keys).await);
    }
    let (with, without) = (&servers[0], &servers[1]);
    let (mut on, mut off) = (Vec::new(), Vec::new());
    let mut next = 0;
    for round in 0..4 {
        for (server, figures, label) in [
            (with, &mut on, "push, external writes on"),
            (without, &mut off, "push, external writes off"),
        ] {
            let (rows_s, _, _) = push(
                server,
                token,
                next,
                rows,
                100,
                4,
                &format!("{label} ({round})"),
            )
            .await;
            next += rows;
            figures.push(rows_s);
        }
    }
    let best = |figures: &[f64]| figures.iter().cloned().fold(0.0, f64::max);
    line(
        "push 4 × 100, triggers installed",
        format!("{:>9.0} rows/s (best of 4)", best(&on)),
        Some(best(&off)),
        best(&on),
    );
}

/// The feed cursor after everything the admin can read now.
async fn head_cursor(client: &reqwest::Client, base: &str, token: &str) -> String {
    let mut cursor = String::new();
    loop {
        let page: serde_json::Value = client
            .get(format!(
                "{base}/api/v1/sync/changes?cursor={cursor}&limit=1000"
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cursor = page["cursor"].as_str().unwrap().to_string();
        if !page["has_more"].as_bool().unwrap() {
            return cursor;
        }
    }
}

async fn long_poll_latency(server: &Server, token: &str, db: &DatabaseConnection, trials: usize) {
    let client = reqwest::Client::new();
    let mut cursor = head_cursor(&client, &server.base, token).await;
    let mut latencies = Latencies::default();
    for trial in 0..trials {
        let url = format!(
            "{}/api/v1/sync/changes?cursor={cursor}&wait=10",
            server.base
        );
        let waiting = {
            let (client, token) = (client.clone(), token.to_string());
            tokio::spawn(async move {
                let page: serde_json::Value = client
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (Instant::now(), page)
            })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        db.execute_unprepared(&format!(
            "INSERT INTO events (id, branch_id, device, kind, amount, created_at) VALUES \
             ('external-{trial}', 1, 'psql', 'sale', '1.00', '2026-12-05T10:00:00Z')"
        ))
        .await
        .unwrap();
        let committed = Instant::now();
        let (answered, page) = waiting.await.unwrap();
        assert!(
            !page["changes"].as_array().unwrap().is_empty(),
            "the long-poll ended without the external row"
        );
        cursor = page["cursor"].as_str().unwrap().to_string();
        latencies
            .0
            .push(answered.saturating_duration_since(committed));
    }
    eprintln!(
        "\r\x1b[2K  {:<34} {} ({trials} writes, target p99 ≤ 100 ms)",
        "external write → waiting long-poll",
        latencies.summary()
    );
}

async fn throughput(db: &DatabaseConnection, rows: usize) {
    let backend = db.get_database_backend();
    // The same table (columns, key, defaults, the feed's index), without the triggers.
    match backend {
        sea_orm::DbBackend::Postgres => {
            db.execute_unprepared(
                "CREATE TABLE IF NOT EXISTS events_unsynced (LIKE events INCLUDING ALL)",
            )
            .await
            .unwrap();
        }
        _ => {
            let row = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'",
                ))
                .await
                .unwrap()
                .unwrap();
            let sql: String = row.try_get("", "sql").unwrap();
            let sql = sql.replacen("\"events\"", "\"events_unsynced\"", 1);
            db.execute_unprepared(&sql).await.unwrap();
            db.execute_unprepared(
                "CREATE INDEX events_unsynced_seq ON events_unsynced (\"_sg_seq\")",
            )
            .await
            .unwrap();
        }
    }
    let statement = |table: &str, round: usize, first: usize| {
        let values: Vec<String> = (first..first + 100)
            .map(|i| {
                format!(
                    "('x{round}-{i}', 1, 'etl', 'sale', '{}.00', '2026-12-05T10:00:00Z')",
                    i % 100
                )
            })
            .collect();
        Statement::from_string(
            backend,
            format!(
                "INSERT INTO {table} (id, branch_id, device, kind, amount, created_at) VALUES {}",
                values.join(", ")
            ),
        )
    };
    let per_round = (rows / 2).max(1000) / 100 * 100;
    let (mut synced, mut unsynced) = (0.0f64, 0.0f64);
    let mut import = Duration::ZERO;
    for round in 0..2 {
        for table in ["events_unsynced", "events"] {
            let started = Instant::now();
            for first in (0..per_round).step_by(100) {
                db.execute_raw(statement(table, round, first))
                    .await
                    .unwrap();
            }
            let rows_s = per_round as f64 / started.elapsed().as_secs_f64();
            if table == "events" {
                synced = synced.max(rows_s);
                let written = Instant::now();
                imported(db).await;
                import += written.elapsed();
            } else {
                unsynced = unsynced.max(rows_s);
            }
        }
    }
    line(
        "external INSERT, 100 rows/statement",
        format!("{synced:>9.0} rows/s into the synced table (best of 2)"),
        Some(unsynced),
        synced,
    );
    eprintln!(
        "\r\x1b[2K  {:<34} {:.2} s after the writer's last statement ({} rows per round)",
        "  log followed (outbox, hooks)",
        import.as_secs_f64() / 2.0,
        per_round
    );
}

/// Waits until the gateway has followed every logged change.
async fn imported(db: &DatabaseConnection) {
    loop {
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM syncgate_external_changes",
            ))
            .await
            .unwrap()
            .unwrap();
        let waiting: i64 = row.try_get("", "n").unwrap();
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
