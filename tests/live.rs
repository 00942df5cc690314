//! Live delivery: the server-sent event stream (scoped, heartbeats, resuming with
//! `Last-Event-ID` with nothing skipped or repeated, ended by a revoked device token or an
//! expired JWT), long-polls that share their reads, a bootstrap that stays exact while writers
//! go on, and two replicas on one PostgreSQL waking each other — on every backend.

mod common;

use common::process::postgres_replicas;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Writes the row `id` of `items` (an upsert from the device `writer`); it must be applied.
async fn write_item(server: &Client, token: &str, id: &str) {
    let upsert = operation(None, "items", "upsert", json!({"id": id, "name": id}));
    let (status, body) = server.push(token, "writer", true, json!([upsert])).await;
    assert_eq!(status, 200, "{body}");
}

fn fast_heartbeat(sandbox: &Sandbox) -> syncgate::config::Config {
    let mut config = sandbox.config();
    config.sync.stream_heartbeat = Duration::from_millis(300);
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_delivers_scoped_changes_and_resumes_without_gaps() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", SYNC_SCHEMA);
        let server = TestServer::start(fast_heartbeat(&sandbox)).await;
        write_item(&server, &clerk(1), "a").await;
        write_item(&server, &clerk(2), "other-branch").await;

        let mut stream = EventReader::open(&server, &clerk(1), "?tables=items", None).await;
        let first = stream.changes(1).await;
        assert_eq!(first[0].1["key"], "a", "{backend:?}: what was there first");
        // The id is a resumable cursor: the seq, then the view it was read with.
        assert_eq!(
            first[0].0.split('.').next(),
            Some(first[0].1["seq"].to_string().as_str()),
            "the id starts with the seq"
        );
        // New writes arrive as they commit; another branch's never do.
        write_item(&server, &clerk(2), "other-branch-2").await;
        write_item(&server, &clerk(1), "b").await;
        write_item(&server, &clerk(1), "c").await;
        let live = stream.changes(2).await;
        let keys: Vec<&Value> = live.iter().map(|(_, c)| &c["key"]).collect();
        assert_eq!(keys, [&json!("b"), &json!("c")], "{backend:?}");
        // Heartbeats keep an idle stream open.
        let mut comments = 0;
        while comments < 2 {
            match stream.next(Duration::from_secs(5)).await {
                Some(Sse::Comment) => comments += 1,
                other => panic!("expected a heartbeat, got {other:?}"),
            }
        }
        let last_id = live[1].0.clone();
        drop(stream);

        // Written while the client was away: resuming after the last id gives exactly those.
        write_item(&server, &clerk(1), "d").await;
        write_item(&server, &clerk(1), "a").await; // a again: its new version moves to the end
        let mut resumed =
            EventReader::open(&server, &clerk(1), "?tables=items&cursor=0", Some(&last_id)).await;
        let missed = resumed.changes(2).await;
        let keys: Vec<&Value> = missed.iter().map(|(_, c)| &c["key"]).collect();
        assert_eq!(
            keys,
            [&json!("d"), &json!("a")],
            "{backend:?}: nothing skipped or repeated"
        );
        assert_eq!(missed[1].1["version"], 2);
        match resumed.next(Duration::from_millis(800)).await {
            Some(Sse::Comment) => {}
            other => panic!("nothing else was written, got {other:?}"),
        }
        drop(resumed);

        // The same with `cursor` and no header; bad requests are refused before streaming.
        let mut by_cursor = EventReader::open(
            &server,
            &clerk(1),
            &format!("?tables=items&cursor={last_id}"),
            None,
        )
        .await;
        assert_eq!(by_cursor.changes(2).await.len(), 2);
        let refused = server
            .client
            .get(server.url(&format!("{API}/sync/stream?tables=nope")))
            .bearer_auth(clerk(1))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 404);
        let refused = server.get(&format!("{API}/sync/stream")).await;
        assert_eq!(refused.status(), 401);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_ends_when_its_device_token_is_revoked_or_its_jwt_expires() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", SYNC_SCHEMA);
        let mut config = fast_heartbeat(&sandbox);
        config.auth.leeway = Duration::ZERO;
        let server = TestServer::start(config).await;
        let (status, device) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/devices"),
                &json!({"id": "tab", "name": "Tab", "platform": "web", "app_version": "1"}),
            )
            .await;
        assert_eq!(status, 201, "{device}");
        let device_token = device["token"].as_str().unwrap().to_string();
        let mut stream = EventReader::open(&server, &device_token, "", None).await;
        let (status, _) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/devices/tab/token"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let deadline = Instant::now() + Duration::from_secs(5);
        while stream.next(Duration::from_secs(5)).await.is_some() {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: the stream outlived its token"
            );
        }

        let short = token_with("clerk-1", "CLERK", Some(json!(1)), Default::default(), 2);
        let mut stream = EventReader::open(&server, &short, "", None).await;
        let opened = Instant::now();
        while stream.next(Duration::from_secs(6)).await.is_some() {
            assert!(
                opened.elapsed() < Duration::from_secs(10),
                "{backend:?}: never ended"
            );
        }
        let lasted = opened.elapsed();
        assert!(
            lasted < Duration::from_secs(5),
            "{backend:?}: ended at the JWT's expiry, after {lasted:?}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn long_polls_with_the_same_view_share_their_reads() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        write_item(&server, &clerk(1), "seed").await;
        let (_, page) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes"))
            .await;
        let cursor = page["cursor"].as_str().unwrap().to_string();
        let reads = |text: &str| -> f64 {
            text.lines()
                .filter(|line| line.starts_with("syncgate_feed_reads_total"))
                .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
                .sum()
        };
        // Enough that some are polled only after the first read has ended.
        let waiters = 1000;
        let mut polls = Vec::new();
        for _ in 0..waiters {
            let client = server.client.clone();
            let url = server.url(&format!("{API}/sync/changes?cursor={cursor}&wait=20"));
            polls.push(tokio::spawn(async move {
                let response = client.get(url).bearer_auth(clerk(1)).send().await.unwrap();
                response.json::<Value>().await.unwrap()
            }));
        }
        // Every waiter is parked (first reads done) before the write.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before = reads(&server.get("/metrics").await.text().await.unwrap());
        write_item(&server, &clerk(1), "wake").await;
        for poll in polls {
            let page = poll.await.unwrap();
            assert_eq!(page["changes"][0]["key"], "wake", "{backend:?}: {page}");
        }
        let after = reads(&server.get("/metrics").await.text().await.unwrap());
        // One read: a waiter polled after the read ended takes the finished page (it began
        // after the waiter had seen the write), rather than reading again.
        let used = after - before;
        assert_eq!(
            used, 1.0,
            "{backend:?}: {waiters} woken long-polls with one view made {used} feed reads"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bootstrap_under_concurrent_writes_ends_with_exactly_the_scope() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let server = std::sync::Arc::new(server);
        for n in 0..60 {
            write_item(&server, &clerk(1), &format!("r{n}")).await;
        }
        // A writer goes on: inserts, updates, deletes, in branch 1 and branch 2.
        let writer = {
            let server = server.clone();
            tokio::spawn(async move {
                for n in 0..60 {
                    write_item(&server, &clerk(1), &format!("w{n}")).await;
                    write_item(&server, &clerk(2), &format!("x{n}")).await;
                    write_item(&server, &clerk(1), &format!("r{}", n % 20)).await;
                    if n % 7 == 0 {
                        let ops = json!([{"table": "items", "action": "delete", "data": {"id": format!("r{}", 30 + n / 7)}}]);
                        let (status, body) = server.push(&clerk(1), "writer", true, ops).await;
                        assert_eq!(status, 200, "{body}");
                    }
                }
            })
        };
        // The device pages from cursor 0 with small pages while the writer runs, then once
        // more after it stopped.
        let mut device: BTreeMap<String, Value> = BTreeMap::new();
        let mut cursor = String::new();
        let mut writer = Some(writer);
        loop {
            let (status, page) = server
                .get_as(
                    &clerk(1),
                    &format!("{API}/sync/changes?tables=items&limit=7&cursor={cursor}"),
                )
                .await;
            assert_eq!(status, 200, "{page}");
            for change in page["changes"].as_array().unwrap() {
                let key = change["key"].as_str().unwrap().to_string();
                assert_eq!(change["row"]["branch_id"], 1, "only branch 1: {change}");
                if change["deleted"] == true {
                    device.remove(&key);
                } else {
                    device.insert(key, change["row"].clone());
                }
            }
            cursor = page["cursor"].as_str().unwrap().to_string();
            if page["has_more"] == false {
                match writer.take() {
                    Some(running) => {
                        if running.is_finished() {
                            running.await.unwrap();
                        } else {
                            writer = Some(running);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    None => break,
                }
            }
        }
        let (_, pulled) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/pull"),
                &json!({"tables": ["items"], "limit": 5000}),
            )
            .await;
        let truth: BTreeMap<String, Value> = pulled["data"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| (row["id"].as_str().unwrap().to_string(), row.clone()))
            .collect();
        assert_eq!(
            truth.len(),
            60 + 60 - 9,
            "{backend:?}: the rows of branch 1"
        );
        assert_eq!(
            device, truth,
            "{backend:?}: the device ends with exactly its scope"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_on_one_postgresql_wake_each_other_at_once() {
    let Some((_sandbox, mut replica_a, mut replica_b)) = postgres_replicas().await else {
        return;
    };
    let client = reqwest::Client::new();
    let (_, page) = replica_b
        .get_as(&clerk(1), &format!("{API}/sync/changes"))
        .await;
    let cursor = page["cursor"].as_str().unwrap().to_string();

    let poll = {
        let url = replica_b.url(&format!("{API}/sync/changes?cursor={cursor}&wait=20"));
        let client = client.clone();
        tokio::spawn(async move {
            let response = client.get(url).bearer_auth(clerk(1)).send().await.unwrap();
            (Instant::now(), response.json::<Value>().await.unwrap())
        })
    };
    let stream_url = replica_b.url(&format!("{API}/sync/stream?cursor={cursor}"));
    let response = client
        .get(stream_url)
        .bearer_auth(clerk(1))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let written = Instant::now();
    let (status, body) = replica_a
        .push(
            &clerk(1),
            "till-1",
            true,
            json!([{"table": "items", "action": "insert", "data": {"id": "cross", "name": "x"}}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (answered, page) = poll.await.unwrap();
    assert_eq!(page["changes"][0]["key"], "cross", "{page}");
    let poll_delay = answered - written;
    let mut text = String::new();
    while !text.contains("\"cross\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the stream on replica B got the write")
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let stream_delay = written.elapsed();
    eprintln!("cross-replica delivery: long-poll {poll_delay:?}, stream {stream_delay:?}");
    assert!(
        poll_delay < Duration::from_secs(2),
        "long-poll woken after {poll_delay:?}"
    );
    assert!(
        stream_delay < Duration::from_secs(2),
        "stream woken after {stream_delay:?}"
    );
    replica_a.kill();
    replica_b.kill();
}
