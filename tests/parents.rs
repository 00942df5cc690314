//! Tables scoped through a parent row (`scope_from`): a visit is read and written by exactly those
//! who reach its job, a photo by those who reach its visit; when a job (or a visit) moves, every
//! row under it leaves the old readers' views and enters the new readers', without a write per
//! row — on every backend. `syncgate check` refuses unknown parents and cycles.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

const SCHEMA: &str = include_str!("fixtures/views.toml");

async fn server(backend: Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("views.toml", SCHEMA);
    let server = TestServer::start(sandbox.config()).await;
    (sandbox, server)
}

fn owner(sub: &str) -> String {
    token(sub, "OWNER", None)
}

async fn push(server: &Client, token: &str, ops: Vec<Value>) -> (u16, Value) {
    server.push(token, "device", true, json!(ops)).await
}

async fn write(server: &Client, table: &str, action: &str, data: Value) {
    let (status, body) = push(server, &admin(), vec![operation(None, table, action, data)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["applied"].as_array().unwrap().len(), 1, "{body}");
}

/// Every page of changes after `cursor`: the changes and the cursor to go on from.
async fn changes(server: &Client, token: &str, cursor: &str) -> (Vec<Value>, String) {
    let mut cursor = cursor.to_string();
    let mut all = Vec::new();
    loop {
        let (status, page) = server
            .get_as(
                token,
                &format!("{API}/sync/changes?cursor={cursor}&limit=100"),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        all.extend(page["changes"].as_array().unwrap().iter().cloned());
        cursor = page["cursor"].as_str().unwrap().to_string();
        if page["has_more"] != true {
            return (all, cursor);
        }
    }
}

/// `table:key` of each change, with `-` before removals.
fn named(changes: &[Value]) -> BTreeSet<String> {
    changes
        .iter()
        .map(|change| {
            let key = match &change["key"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let sign = if change["removed"] == true { "-" } else { "" };
            format!("{sign}{}:{key}", change["table"].as_str().unwrap())
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_under_a_reassigned_job_leave_the_old_owner_and_reach_the_new_one() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "jobs",
            "insert",
            json!({"id": "j", "owner": "alice"}),
        )
        .await;
        write(
            &server,
            "visits",
            "insert",
            json!({"id": "v", "job_id": "j"}),
        )
        .await;
        write(
            &server,
            "photos",
            "insert",
            json!({"id": "p", "visit_id": "v"}),
        )
        .await;
        let (first, alice_at) = changes(&server, &owner("alice"), "").await;
        assert_eq!(
            named(&first),
            set(&["jobs:j", "visits:v", "photos:p"]),
            "{backend:?}"
        );
        let (nothing, erin_at) = changes(&server, &owner("erin"), "").await;
        assert_eq!(nothing, Vec::<Value>::new());

        let reassigned = json!({"id": "j", "owner": "erin", "secret": "erin's notes"});
        write(&server, "jobs", "update", reassigned).await;

        let (left, alice_after) = changes(&server, &owner("alice"), &alice_at).await;
        assert_eq!(
            named(&left),
            set(&["-jobs:j", "-visits:v", "-photos:p"]),
            "{backend:?}: {left:?}"
        );
        assert!(!format!("{left:?}").contains("erin"), "{left:?}");
        let seqs: Vec<i64> = left.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
        assert!(
            seqs.windows(2).all(|w| w[0] <= w[1]),
            "in feed order: {seqs:?}"
        );
        // Once: nothing more after them.
        let (again, _) = changes(&server, &owner("alice"), &alice_after).await;
        assert_eq!(again, Vec::<Value>::new(), "{backend:?}");

        let (entered, _) = changes(&server, &owner("erin"), &erin_at).await;
        assert_eq!(
            named(&entered),
            set(&["jobs:j", "visits:v", "photos:p"]),
            "{backend:?}"
        );

        // Pull from alice's old cursor: the removed keys, no rows.
        let body = json!({"tables": ["visits", "photos"], "cursor": alice_at});
        let (status, pulled) = server
            .post_as(&owner("alice"), &format!("{API}/sync/pull"), &body)
            .await;
        assert_eq!(status, 200, "{pulled}");
        assert_eq!(
            pulled["removed"],
            json!({"visits": ["v"], "photos": ["p"]}),
            "{pulled}"
        );
        assert_eq!(pulled["data"]["photos"], json!([]), "{pulled}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_is_read_and_written_by_exactly_those_who_reach_its_parent() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "jobs",
            "insert",
            json!({"id": "a", "owner": "alice"}),
        )
        .await;
        write(
            &server,
            "jobs",
            "insert",
            json!({"id": "e", "owner": "erin", "crew": ["bob"]}),
        )
        .await;
        let alice = owner("alice");
        // Under her own job: written, and read back.
        let ops = vec![
            operation(
                Some("v1"),
                "visits",
                "insert",
                json!({"id": "va", "job_id": "a"}),
            ),
            operation(
                Some("p1"),
                "photos",
                "insert",
                json!({"id": "pa", "visit_id": "va"}),
            ),
        ];
        let (status, body) = push(&server, &alice, ops).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        // Under another owner's job, or no job: refused, nothing written.
        for data in [
            json!({"id": "ve", "job_id": "e"}),
            json!({"id": "vn", "job_id": null}),
        ] {
            let op = operation(None, "visits", "insert", data);
            let (status, body) = push(&server, &alice, vec![op]).await;
            assert_eq!(status, 403, "{backend:?}: {body}");
            assert!(
                body.to_string().contains("`job_id` names a row of `jobs`"),
                "{body}"
            );
        }
        write(
            &server,
            "visits",
            "insert",
            json!({"id": "ve", "job_id": "e"}),
        )
        .await;
        // The assignee of erin's job reaches its visit; alice does not.
        let (status, _) = server
            .get_as(&owner("bob"), &format!("{API}/tables/visits/rows/ve"))
            .await;
        assert_eq!(status, 200, "{backend:?}");
        let (status, _) = server
            .get_as(&alice, &format!("{API}/tables/visits/rows/ve"))
            .await;
        assert_eq!(status, 404, "{backend:?}");
        let op = operation(None, "visits", "update", json!({"id": "ve", "secret": "x"}));
        let (status, body) = push(&server, &alice, vec![op]).await;
        assert_eq!(status, 404, "{backend:?}: {body}");
        // Moving her visit under erin's job is refused too: the row would leave her scope.
        let op = operation(None, "visits", "update", json!({"id": "va", "job_id": "e"}));
        let (status, body) = push(&server, &alice, vec![op]).await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        // A job and its visit in one batch: the visit sees the job written before it.
        let ops = vec![
            operation(
                None,
                "jobs",
                "insert",
                json!({"id": "a2", "owner": "alice"}),
            ),
            operation(
                None,
                "visits",
                "insert",
                json!({"id": "va2", "job_id": "a2"}),
            ),
        ];
        let (status, body) = push(&server, &alice, ops).await;
        assert_eq!(status, 200, "{backend:?}: {body}");
        let (status, pulled) = server
            .post_as(
                &alice,
                &format!("{API}/sync/pull"),
                &json!({"tables": ["visits"]}),
            )
            .await;
        assert_eq!(status, 200);
        let keys: BTreeSet<&str> = pulled["data"]["visits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["id"].as_str().unwrap())
            .collect();
        assert_eq!(keys, BTreeSet::from(["va", "va2"]), "{backend:?}: {pulled}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visit_moved_to_another_job_takes_its_photos_along() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "jobs",
            "insert",
            json!({"id": "a", "owner": "alice"}),
        )
        .await;
        write(
            &server,
            "jobs",
            "insert",
            json!({"id": "e", "owner": "erin"}),
        )
        .await;
        write(
            &server,
            "visits",
            "insert",
            json!({"id": "v", "job_id": "a"}),
        )
        .await;
        write(
            &server,
            "photos",
            "insert",
            json!({"id": "p1", "visit_id": "v"}),
        )
        .await;
        write(
            &server,
            "photos",
            "insert",
            json!({"id": "p2", "visit_id": "v"}),
        )
        .await;
        let (_, alice_at) = changes(&server, &owner("alice"), "").await;
        let (_, erin_at) = changes(&server, &owner("erin"), "").await;

        write(
            &server,
            "visits",
            "update",
            json!({"id": "v", "job_id": "e"}),
        )
        .await;
        let (left, _) = changes(&server, &owner("alice"), &alice_at).await;
        assert_eq!(
            named(&left),
            set(&["-visits:v", "-photos:p1", "-photos:p2"]),
            "{backend:?}"
        );
        let (entered, _) = changes(&server, &owner("erin"), &erin_at).await;
        assert_eq!(
            named(&entered),
            set(&["visits:v", "photos:p1", "photos:p2"]),
            "{backend:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_with_more_rows_than_a_page_moves_them_in_one_page() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        write(
            &server,
            "stock",
            "insert",
            json!({"id": "s", "branch_id": 1}),
        )
        .await;
        let ops: Vec<Value> = (0..250)
            .map(|id| operation(None, "counts", "insert", json!({"id": id, "stock_id": "s"})))
            .collect();
        let (status, body) = push(&server, &admin(), ops).await;
        assert_eq!(status, 200, "{body}");
        let (_, one_at) = changes(&server, &clerk(1), "").await;
        let (_, two_at) = changes(&server, &clerk(2), "").await;
        write(
            &server,
            "stock",
            "update",
            json!({"id": "s", "branch_id": 2}),
        )
        .await;

        let (status, page) = server
            .get_as(
                &clerk(1),
                &format!("{API}/sync/changes?cursor={one_at}&limit=100"),
            )
            .await;
        assert_eq!(status, 200);
        let removed = page["changes"].as_array().unwrap();
        assert_eq!(
            removed.len(),
            251,
            "{backend:?}: the stock row and its 250 counts"
        );
        assert!(removed.iter().all(|c| c["removed"] == true));
        let (entered, _) = changes(&server, &clerk(2), &two_at).await;
        assert_eq!(entered.len(), 251, "{backend:?}");
        assert!(entered.iter().all(|c| c["removed"].is_null()));
    }
}

async fn check(schema: &str) -> (i32, String) {
    let sandbox = Sandbox::new(Backend::Sqlite).await;
    sandbox.write_schema("broken.toml", schema);
    let config = sandbox.write_config("");
    let output = Command::new(binary())
        .args(["check", "--offline", "--config"])
        .arg(&config)
        .output()
        .expect("run syncgate check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn check_refuses_unknown_parents_and_cycles() {
    let roles = "[roles.OWNER]\nscope = \"owner\"\n";
    let unknown = format!(
        "{roles}[tables.visits]\nscope_from = {{ column = \"job_id\", table = \"jobz\" }}\n\
         permissions = {{ OWNER = \"crud\" }}\n[tables.visits.columns]\nid = {{ type = \"text\" }}\n\
         job_id = {{ type = \"text\" }}\n\
         [tables.jobs]\nowner_column = \"owner\"\npermissions = {{ OWNER = \"crud\" }}\n\
         [tables.jobs.columns]\nid = {{ type = \"text\" }}\nowner = {{ type = \"text\" }}\n"
    );
    let (code, output) = check(&unknown).await;
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("broken.toml"), "{output}");
    assert!(
        output.contains("table `visits`") || output.contains("visits"),
        "{output}"
    );
    assert!(
        output.contains("`scope_from` names table `jobz`"),
        "{output}"
    );
    assert!(output.contains("did you mean `jobs`?"), "{output}");

    let cycle = format!(
        "{roles}[tables.a]\nscope_from = {{ column = \"b_id\", table = \"b\" }}\n\
         permissions = {{ OWNER = \"crud\" }}\n[tables.a.columns]\nid = {{ type = \"text\" }}\n\
         b_id = {{ type = \"text\" }}\n\
         [tables.b]\nscope_from = {{ column = \"a_id\", table = \"a\" }}\n\
         permissions = {{ OWNER = \"crud\" }}\n[tables.b.columns]\nid = {{ type = \"text\" }}\n\
         a_id = {{ type = \"text\" }}\n"
    );
    let (code, output) = check(&cycle).await;
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains("`scope_from` makes a cycle: a → b → a"),
        "{output}"
    );
    assert!(output.contains("scoped by its own columns"), "{output}");

    let mistyped = format!(
        "{roles}[tables.visits]\nscope_from = {{ column = \"job_id\", table = \"jobs\" }}\n\
         permissions = {{ OWNER = \"crud\" }}\n[tables.visits.columns]\nid = {{ type = \"text\" }}\n\
         job_id = {{ type = \"integer\" }}\n\
         [tables.jobs]\nowner_column = \"owner\"\npermissions = {{ OWNER = \"crud\" }}\n\
         [tables.jobs.columns]\nid = {{ type = \"text\" }}\nowner = {{ type = \"text\" }}\n"
    );
    let (code, output) = check(&mistyped).await;
    assert_eq!(code, 1, "{output}");
    assert!(
        output.contains(
            "`scope_from` column `job_id` is integer but the primary key of `jobs` is text"
        ),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_parent_created_after_its_rows_brings_them_to_its_readers() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        // Written by the admin (or a sync from elsewhere) before their job exists: nobody
        // scoped reaches them yet.
        write(
            &server,
            "visits",
            "insert",
            json!({"id": "v", "job_id": "later"}),
        )
        .await;
        write(
            &server,
            "photos",
            "insert",
            json!({"id": "p", "visit_id": "v"}),
        )
        .await;
        let (nothing, alice_at) = changes(&server, &owner("alice"), "").await;
        assert_eq!(nothing, Vec::<Value>::new(), "{backend:?}");
        write(
            &server,
            "jobs",
            "insert",
            json!({"id": "later", "owner": "alice"}),
        )
        .await;
        let (entered, _) = changes(&server, &owner("alice"), &alice_at).await;
        assert_eq!(
            named(&entered),
            set(&["jobs:later", "visits:v", "photos:p"]),
            "{backend:?}"
        );
    }
}
