//! Scopes in both directions: a caller neither reads nor writes rows outside its scope, and no
//! write moves a row out of it — branch, owner, claim rules, shared tables, on every backend.

mod common;

use common::{API, admin, all_changes, backends, clerk, sync_server, token, token_with};
use serde_json::{Value, json};

fn keys(changes: &[Value]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            c["key"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| c["key"].to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn branch_scoped_roles_only_reach_their_branch() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let one = clerk(1);
        let two = clerk(2);
        let insert = |id: &str, branch: Option<i64>| {
            let mut data = json!({"id": id, "name": id});
            if let Some(branch) = branch {
                data["branch_id"] = json!(branch);
            }
            json!([{"table": "items", "action": "insert", "data": data}])
        };
        assert_eq!(
            server.push(&one, "d1", true, insert("a1", Some(1))).await.0,
            200
        );
        assert_eq!(
            server.push(&one, "d1", true, insert("a2", None)).await.0,
            200,
            "branch filled in"
        );
        assert_eq!(
            server.push(&two, "d2", true, insert("b1", None)).await.0,
            200
        );

        // Writing into another branch is forbidden.
        let (status, body) = server.push(&one, "d1", true, insert("x", Some(2))).await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("outside your scope")
        );

        // Reading: each clerk sees its own branch; the admin sees all.
        assert_eq!(
            keys(&all_changes(&server, &one, "").await),
            ["a1", "a2"],
            "{backend:?}"
        );
        assert_eq!(keys(&all_changes(&server, &two, "").await), ["b1"]);
        assert_eq!(
            keys(&all_changes(&server, &admin(), "").await),
            ["a1", "a2", "b1"]
        );
        let (_, pulled) = server
            .post_as(
                &two,
                &format!("{API}/sync/pull"),
                &json!({"tables": ["items"]}),
            )
            .await;
        assert_eq!(
            pulled["data"]["items"].as_array().unwrap().len(),
            1,
            "{pulled}"
        );
        let (status, _) = server
            .get_as(&two, &format!("{API}/tables/items/rows/a1"))
            .await;
        assert_eq!(
            status, 404,
            "another branch's row does not exist for the caller"
        );
        let (status, _) = server
            .get_as(&one, &format!("{API}/tables/items/rows/a1"))
            .await;
        assert_eq!(status, 200);
        let (_, typed) = server
            .get_as(&two, &format!("{API}/tables/items/changes"))
            .await;
        assert_eq!(typed["changes"].as_array().unwrap().len(), 1);

        // Updating or deleting another branch's row: it is not found.
        for action in ["update", "delete", "upsert"] {
            let ops = json!([{"table": "items", "action": action, "data": {"id": "a1", "name": "stolen"}}]);
            let (status, body) = server.push(&two, "d2", true, ops).await;
            let expected = if action == "upsert" { 409 } else { 404 };
            assert_eq!(status, expected, "{backend:?} {action}: {body}");
        }
        // Moving a row out of one's own branch is forbidden.
        let ops =
            json!([{"table": "items", "action": "update", "data": {"id": "a1", "branch_id": 2}}]);
        let (status, body) = server.push(&one, "d1", true, ops).await;
        assert_eq!(status, 403, "{body}");
        // The admin may move it.
        let ops =
            json!([{"table": "items", "action": "update", "data": {"id": "a1", "branch_id": 2}}]);
        assert_eq!(server.push(&admin(), "hq", true, ops).await.0, 200);
        assert_eq!(keys(&all_changes(&server, &two, "").await), ["b1", "a1"]);

        // A branch claim given as text matches an integer branch column.
        let text_branch = token("c", "CLERK", Some(json!("2")));
        assert_eq!(
            keys(&all_changes(&server, &text_branch, "").await),
            ["b1", "a1"]
        );
        // A branch-scoped caller without a branch sees nothing and writes nothing.
        let no_branch = token("c", "CLERK", None);
        assert!(all_changes(&server, &no_branch, "").await.is_empty());
        let (status, _) = server.push(&no_branch, "d", true, insert("nb", None)).await;
        assert_eq!(status, 422, "no branch to fill in: the column is required");
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_scoped_roles_only_reach_their_own_rows() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let ana = token("ana", "INSPECTOR", None);
        let bob = token("bob", "INSPECTOR", None);
        let form = |id: &str| json!([{"table": "forms", "action": "insert", "data": {"id": id, "updated_at": "2026-11-22T10:00:00Z"}}]);
        let ana_form = "00000000-0000-4000-8000-00000000000a";
        let (status, body) = server.push(&ana, "tablet", true, form(ana_form)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["applied"][0]["row"]["inspector"], "ana");
        assert_eq!(body["applied"][0]["row"]["data"], json!({}), "json default");
        server
            .push(
                &bob,
                "phone",
                true,
                form("00000000-0000-4000-8000-00000000000b"),
            )
            .await;

        assert_eq!(
            all_changes(&bob, &server).await,
            ["00000000-0000-4000-8000-00000000000b"],
            "{backend:?}"
        );
        let steal = json!([{"table": "forms", "action": "update", "data": {"id": ana_form, "data": {"x": 1}}}]);
        assert_eq!(server.push(&bob, "phone", true, steal).await.0, 404);
        let give_away = json!([{"table": "forms", "action": "insert", "data": {"id": "00000000-0000-4000-8000-00000000000c", "inspector": "ana", "updated_at": "2026-11-22T10:00:00Z"}}]);
        assert_eq!(server.push(&bob, "phone", true, give_away).await.0, 403);
        // Inspectors may not delete ("cru").
        let delete = json!([{"table": "forms", "action": "delete", "data": {"id": ana_form}}]);
        assert_eq!(server.push(&ana, "tablet", true, delete).await.0, 403);
        server.stop().await;
    }

    async fn all_changes(token: &str, server: &common::TestServer) -> Vec<String> {
        keys(&common::all_changes(server, token, "").await)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn claim_rules_and_shared_tables() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let claims = |region: &str| {
            let mut other = serde_json::Map::new();
            other.insert("region".into(), json!(region));
            token_with("r", "REGIONAL", None, other, 600)
        };
        let north = claims("north");
        let south = claims("south");
        let visit = |id: i64| json!([{"table": "visits", "action": "insert", "data": {"id": id, "note": "x"}}]);
        let (status, body) = server.push(&north, "d", true, visit(1)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["applied"][0]["row"]["region"], "north");
        server.push(&south, "d", true, visit(2)).await;
        let north_keys = common::all_changes(&server, &north, "").await;
        assert_eq!(north_keys.len(), 1, "{backend:?}");
        assert_eq!(north_keys[0]["key"], 1);
        let (status, _) = server
            .get_as(&south, &format!("{API}/tables/visits/rows/1"))
            .await;
        assert_eq!(status, 404);
        let (status, _) = server
            .get_as(&north, &format!("{API}/tables/visits/rows/1"))
            .await;
        assert_eq!(status, 200);

        // A shared table: every permitted role reads every row.
        let rows = json!([
            {"table": "catalog", "action": "insert", "data": {"id": "c1", "label": "tea"}},
            {"table": "catalog", "action": "insert", "data": {"id": "c2", "label": "rice"}}
        ]);
        assert_eq!(server.push(&admin(), "hq", true, rows).await.0, 200);
        assert_eq!(
            common::all_changes(&server, &clerk(1), "&tables=catalog")
                .await
                .len(),
            2
        );
        assert_eq!(
            common::all_changes(&server, &clerk(2), "&tables=catalog")
                .await
                .len(),
            2
        );
        let write =
            json!([{"table": "catalog", "action": "insert", "data": {"id": "c3", "label": "x"}}]);
        assert_eq!(
            server.push(&clerk(1), "d", true, write).await.0,
            403,
            "read-only role"
        );
        server.stop().await;
    }
}
