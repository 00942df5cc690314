//! Rows that move between views: the changes feed of a branch reader when 10 % of its rows
//! moved to another branch, next to the same feed with none moved (same rows, same run); and a
//! job with 10,000 visits (scoped through it) passed to another owner, the time until the old
//! owner's and the new owner's copies have converged, next to reading the same rows as a
//! bootstrap.

use super::{SECRET, Server, progress};
use serde_json::{Value, json};
use std::time::Instant;

fn mint(sub: &str, role: &str, branch: Option<i64>) -> String {
    let config = syncgate::config::AuthConfig {
        jwt_secret: Some(syncgate::config::Secret::new(SECRET)),
        ..Default::default()
    };
    syncgate::auth::Authenticator::from_config(&config)
        .unwrap()
        .mint(&syncgate::auth::Claims {
            sub: sub.into(),
            role: role.into(),
            branch: branch.map(Value::from),
            exp: chrono::Utc::now().timestamp() + 86_400,
            other: Default::default(),
        })
        .unwrap()
}

/// Pushes `operations` as the admin, 5,000 to a request.
async fn push_all(client: &reqwest::Client, server: &Server, admin: &str, operations: Vec<Value>) {
    for chunk in operations.chunks(5000) {
        let body = json!({"device_id": "bench-mover", "operations": chunk});
        let response = client
            .post(format!("{}/api/v1/sync/push", server.base))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }
}

#[derive(serde::Deserialize)]
struct Entry {
    #[serde(default)]
    removed: bool,
}

#[derive(serde::Deserialize)]
struct Page {
    changes: Vec<Entry>,
    cursor: String,
    has_more: bool,
}

/// Reads `tables` after `cursor` to the end: the entries read, the removals among them, and
/// the cursor to go on from.
async fn read_feed(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    tables: &str,
    mut cursor: String,
) -> (usize, usize, String) {
    let (mut entries, mut removals) = (0, 0);
    loop {
        let page: Page = client
            .get(format!(
                "{}/api/v1/sync/changes?tables={tables}&limit=1000&cursor={cursor}",
                server.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        entries += page.changes.len();
        removals += page.changes.iter().filter(|entry| entry.removed).count();
        cursor = page.cursor;
        if !page.has_more {
            return (entries, removals, cursor);
        }
    }
}

pub async fn run(server: &Server, rows: usize, children: usize) {
    let client = reqwest::Client::new();
    let admin = super::token();
    let clerk = mint("clerk-1", "CLERK", Some(1));
    let stock = |i: usize, branch: i64, note: &str, action: &str| {
        json!({"table": "stock", "action": action,
               "data": {"id": format!("s{i:07}"), "branch_id": branch, "note": note}})
    };
    progress(&format!("moves: {rows} rows in branch 1"));
    let inserts = (0..rows).map(|i| stock(i, 1, "n0", "insert")).collect();
    push_all(&client, server, &admin, inserts).await;
    let (_, _, start) = read_feed(&client, server, &clerk, "stock", String::new()).await;

    progress("moves: every row updated in place, read by the branch");
    let updates = (0..rows).map(|i| stock(i, 1, "n1", "update")).collect();
    push_all(&client, server, &admin, updates).await;
    let started = Instant::now();
    let (read, removed, after_still) = read_feed(&client, server, &clerk, "stock", start).await;
    let still = read as f64 / started.elapsed().as_secs_f64();
    assert_eq!((read, removed), (rows, 0));

    progress("moves: every row updated again, one in ten to branch 2");
    let updates = (0..rows)
        .map(|i| stock(i, if i % 10 == 0 { 2 } else { 1 }, "n2", "update"))
        .collect();
    push_all(&client, server, &admin, updates).await;
    let started = Instant::now();
    let (read, removed, _) = read_feed(&client, server, &clerk, "stock", after_still).await;
    let moved = read as f64 / started.elapsed().as_secs_f64();
    assert_eq!(
        (read, removed),
        (rows, rows / 10),
        "every row once, a tenth removed"
    );
    eprintln!(
        "\r\x1b[2K  changes feed, {rows} rows, 10 % moved out   {moved:>9.0} entries/s  [none moved {still:.0}/s, moved/none {:.2}]",
        moved / still
    );

    progress(&format!("moves: a job with {children} visits"));
    let mut operations =
        vec![json!({"table": "jobs", "action": "insert", "data": {"id": "job", "owner": "alice"}})];
    operations.extend((0..children).map(|i| {
        json!({"table": "visits", "action": "insert",
               "data": {"id": format!("v{i:06}"), "job_id": "job", "note": "visit"}})
    }));
    push_all(&client, server, &admin, operations).await;
    let (alice, erin) = (mint("alice", "OWNER", None), mint("erin", "OWNER", None));
    let started = Instant::now();
    let (held, _, alice_at) =
        read_feed(&client, server, &alice, "jobs,visits", String::new()).await;
    let bootstrap = started.elapsed();
    assert_eq!(held, children + 1);
    let (_, _, erin_at) = read_feed(&client, server, &erin, "jobs,visits", String::new()).await;

    let started = Instant::now();
    let reassign =
        json!({"table": "jobs", "action": "update", "data": {"id": "job", "owner": "erin"}});
    push_all(&client, server, &admin, vec![reassign]).await;
    let written = started.elapsed();
    let old = async {
        let (read, removed, _) = read_feed(&client, server, &alice, "jobs,visits", alice_at).await;
        assert_eq!((read, removed), (children + 1, children + 1));
        started.elapsed()
    };
    let new = async {
        let (read, removed, _) = read_feed(&client, server, &erin, "jobs,visits", erin_at).await;
        assert_eq!((read, removed), (children + 1, 0));
        started.elapsed()
    };
    let (old, new) = tokio::join!(old, new);
    let converged = old.max(new);
    eprintln!(
        "\r\x1b[2K  a job with {children} visits reassigned   both owners converged in {:.0} ms (write {:.1} ms, old owner {:.0} ms, new owner {:.0} ms)  [bootstrap of the same rows {:.0} ms, converged/bootstrap {:.2}]",
        converged.as_secs_f64() * 1000.0,
        written.as_secs_f64() * 1000.0,
        old.as_secs_f64() * 1000.0,
        new.as_secs_f64() * 1000.0,
        bootstrap.as_secs_f64() * 1000.0,
        converged.as_secs_f64() / bootstrap.as_secs_f64()
    );
}
