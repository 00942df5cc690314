//! Device tokens that end: a revocation (device deleted, token regenerated, every token of a
//! user revoked) ends the live streams and long-polls using the token within a second, with the
//! default 15 s heartbeat, on the replica that revoked it and on another replica of the same
//! PostgreSQL; tokens expire after `devices.token_ttl` and a device refreshes its own; and
//! streams whose clients have gone are dropped at the next heartbeat — on every backend.

mod common;

use common::process::postgres_replicas;
use common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// What a revocation must end: a live stream and a long-poll, both with the device's token.
struct Readers {
    stream: EventReader,
    long_poll: JoinHandle<(u16, Value, Instant)>,
}

async fn open_readers(server: &Client, token: &str) -> Readers {
    let stream = EventReader::open(server, token, "", None).await;
    let (_, page) = server.get_as(token, &format!("{API}/sync/changes")).await;
    let cursor = page["cursor"].as_str().unwrap().to_string();
    let url = server.url(&format!("{API}/sync/changes?cursor={cursor}&wait=30"));
    let (client, token) = (server.client.clone(), token.to_string());
    let long_poll = tokio::spawn(async move {
        let response = client.get(url).bearer_auth(token).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, Instant::now())
    });
    // Both are waiting before the revocation.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Readers { stream, long_poll }
}

impl Readers {
    /// How long after `revoked` the stream ended and the long-poll was refused.
    async fn ended_after(mut self, revoked: Instant, what: &str) -> (Duration, Duration) {
        loop {
            match self.stream.next(Duration::from_secs(20)).await {
                None => break,
                Some(Sse::Comment) => {}
                Some(Sse::Change { change, .. }) => {
                    panic!("{what}: the stream sent a change after the revocation: {change}")
                }
            }
        }
        let stream = revoked.elapsed();
        let (status, body, answered) =
            tokio::time::timeout(Duration::from_secs(40), self.long_poll)
                .await
                .expect("the long-poll answers")
                .unwrap();
        assert_eq!(status, 401, "{what}: the long-poll answered {body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        (stream, answered - revoked)
    }
}

async fn register(server: &Client, jwt: &str, id: &str) -> String {
    let (status, device) = server
        .post_as(
            jwt,
            &format!("{API}/sync/devices"),
            &json!({"id": id, "name": id, "platform": "web", "app_version": "1"}),
        )
        .await;
    assert_eq!(status, 201, "{device}");
    device["token"].as_str().unwrap().to_string()
}

fn assert_within_a_second(what: &str, (stream, long_poll): (Duration, Duration)) {
    eprintln!("{what}: stream ended after {stream:?}, long-poll after {long_poll:?}");
    assert!(
        stream < Duration::from_secs(1),
        "{what}: stream ended after {stream:?}"
    );
    assert!(
        long_poll < Duration::from_secs(1),
        "{what}: long-poll after {long_poll:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_revocation_ends_streams_and_long_polls_within_a_second() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        assert_eq!(
            server
                .get_as(&clerk(1), &format!("{API}/sync/status"))
                .await
                .0,
            200
        );

        let token = register(&server, &clerk(1), "regenerated").await;
        let readers = open_readers(&server, &token).await;
        let revoked = Instant::now();
        let (status, body) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/devices/regenerated/token"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_within_a_second(
            &format!("{backend:?} regenerated"),
            readers.ended_after(revoked, "regenerated").await,
        );

        let token = register(&server, &clerk(1), "deleted").await;
        let readers = open_readers(&server, &token).await;
        let revoked = Instant::now();
        let (status, _) = server
            .delete_as(&clerk(1), &format!("{API}/sync/devices/deleted"))
            .await;
        assert_eq!(status, 204);
        assert_within_a_second(
            &format!("{backend:?} deleted"),
            readers.ended_after(revoked, "deleted").await,
        );

        // Every token of a user, by an admin: both devices' readers end; another user's do not.
        let first = register(&server, &clerk(2), "clerk2-a").await;
        let second = register(&server, &clerk(2), "clerk2-b").await;
        let bystander = register(&server, &clerk(1), "bystander").await;
        let (first, second) = (
            open_readers(&server, &first).await,
            open_readers(&server, &second).await,
        );
        let mut other = EventReader::open(&server, &bystander, "", None).await;
        let revoked = Instant::now();
        let (status, body) = server
            .post_as(
                &admin(),
                &format!("{API}/sync/users/clerk-2/revoke_tokens"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["devices"], json!(["clerk2-a", "clerk2-b"]), "{body}");
        for (name, readers) in [("first", first), ("second", second)] {
            assert_within_a_second(
                &format!("{backend:?} revoke_tokens {name}"),
                readers.ended_after(revoked, name).await,
            );
        }
        let (status, _) = server
            .push(
                &bystander,
                "bystander",
                true,
                json!([insert_item("after-revoke")]),
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            matches!(
                other.next(Duration::from_secs(5)).await,
                Some(Sse::Change { .. })
            ),
            "{backend:?}: another user's stream must go on"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_on_one_replica_ends_readers_on_another() {
    // The default heartbeat (15 s) and a poll interval no revocation can ride on.
    let Some((_sandbox, mut replica_a, mut replica_b)) = postgres_replicas().await else {
        return;
    };
    for action in ["regenerate", "delete", "revoke_tokens"] {
        let id = format!("cross-{action}");
        let token = register(&replica_a, &clerk(1), &id).await;
        let readers = open_readers(&replica_b, &token).await;
        let revoked = Instant::now();
        let status = match action {
            "regenerate" => {
                replica_a
                    .post_as(
                        &clerk(1),
                        &format!("{API}/sync/devices/{id}/token"),
                        &json!({}),
                    )
                    .await
                    .0
            }
            "delete" => {
                replica_a
                    .delete_as(&clerk(1), &format!("{API}/sync/devices/{id}"))
                    .await
                    .0
            }
            _ => {
                replica_a
                    .post_as(
                        &clerk(1),
                        &format!("{API}/sync/users/clerk-1/revoke_tokens"),
                        &json!({}),
                    )
                    .await
                    .0
            }
        };
        assert!(status == 200 || status == 204, "{action}: {status}");
        assert_within_a_second(
            &format!("replica B after {action} on A"),
            readers.ended_after(revoked, action).await,
        );
    }
    replica_a.kill();
    replica_b.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn device_tokens_expire_and_a_device_refreshes_its_own() {
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", SYNC_SCHEMA);
        let mut config = sandbox.config();
        config.devices.token_ttl = Duration::from_secs(3);
        let server = TestServer::start(config).await;
        let old = register(&server, &clerk(1), "tab").await;
        let (status, device) = server
            .get_as(&old, &format!("{API}/sync/devices/tab"))
            .await;
        assert_eq!(status, 200, "{device}");
        assert!(device["token_expires_at"].is_string(), "{device}");

        // The device refreshes with its own token: a new token, a new lifetime; the old one
        // and its stream stop.
        let mut old_stream = EventReader::open(&server, &old, "", None).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (status, refreshed) = server
            .post_as(&old, &format!("{API}/sync/devices/tab/token"), &json!({}))
            .await;
        assert_eq!(status, 200, "{refreshed}");
        let refreshed_at = Instant::now();
        let new = refreshed["token"].as_str().unwrap().to_string();
        assert!(refreshed["token_expires_at"].is_string(), "{refreshed}");
        while old_stream.next(Duration::from_secs(5)).await.is_some() {}
        assert!(refreshed_at.elapsed() < Duration::from_secs(1));
        let (status, body) = server
            .get_as(&old, &format!("{API}/sync/devices/tab"))
            .await;
        assert_eq!(status, 401, "{body}");

        // The new token works until its lifetime ends; its stream ends then too.
        assert_eq!(
            server
                .get_as(&new, &format!("{API}/sync/devices/tab"))
                .await
                .0,
            200
        );
        let mut stream = EventReader::open(&server, &new, "", None).await;
        while stream.next(Duration::from_secs(10)).await.is_some() {}
        let lasted = refreshed_at.elapsed();
        assert!(
            lasted > Duration::from_millis(2500) && lasted < Duration::from_millis(4500),
            "{backend:?}: the stream ended {lasted:?} after the refresh (lifetime 3 s)"
        );
        let (status, body) = server
            .get_as(&new, &format!("{API}/sync/devices/tab"))
            .await;
        assert_eq!(status, 401, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expired"),
            "{backend:?}: {body}"
        );
        // The user's JWT gets the device a new token.
        let (status, again) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/devices/tab/token"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 200, "{again}");
        let token = again["token"].as_str().unwrap();
        assert_eq!(
            server
                .get_as(token, &format!("{API}/sync/devices/tab"))
                .await
                .0,
            200
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_user_or_an_admin_revokes_a_users_tokens() {
    for backend in backends() {
        let (_sandbox, server) = sync_server(backend).await;
        let victim = register(&server, &clerk(2), "victim").await;
        let own = register(&server, &clerk(1), "own").await;
        // Another user, with a JWT or with a device token: refused, nothing revoked.
        for attacker in [clerk(1), own.clone()] {
            let (status, body) = server
                .post_as(
                    &attacker,
                    &format!("{API}/sync/users/clerk-2/revoke_tokens"),
                    &json!({}),
                )
                .await;
            assert_eq!(status, 403, "{backend:?}: {body}");
        }
        assert_eq!(
            server
                .get_as(&victim, &format!("{API}/sync/devices"))
                .await
                .0,
            200
        );
        // The user itself, even from a device token.
        let (status, body) = server
            .post_as(
                &own,
                &format!("{API}/sync/users/clerk-1/revoke_tokens"),
                &json!({}),
            )
            .await;
        assert_eq!(
            (status, body["devices"].clone()),
            (200, json!(["own"])),
            "{body}"
        );
        assert_eq!(
            server.get_as(&own, &format!("{API}/sync/devices")).await.0,
            401
        );
        assert_eq!(
            server
                .get_as(&victim, &format!("{API}/sync/devices"))
                .await
                .0,
            200
        );
        server.stop().await;
    }
}

/// The `syncgate_live_streams_open` gauge from `/metrics`.
async fn open_streams(server: &Client) -> f64 {
    let text = server.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("syncgate_live_streams_open "))
        .map_or(0.0, |value| value.trim().parse().unwrap())
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[tokio::test(flavor = "multi_thread")]
async fn abandoned_streams_are_dropped_at_the_next_heartbeat() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const STREAMS: usize = 2000;
    let heartbeat = Duration::from_secs(3);
    for backend in backends() {
        let sandbox = Sandbox::new(backend).await;
        sandbox.write_schema("sync.toml", SYNC_SCHEMA);
        let mut config = sandbox.config();
        config.sync.stream_heartbeat = heartbeat;
        let server = TestServer::start(config).await;
        let address = server.base_url.trim_start_matches("http://").to_string();
        let before = open_descriptors();
        let request = format!(
            "GET {API}/sync/stream HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\r\n",
            clerk(1)
        );
        let mut clients = Vec::with_capacity(STREAMS);
        for _ in 0..STREAMS {
            let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
            socket.write_all(request.as_bytes()).await.unwrap();
            clients.push(socket);
        }
        // Each client reads the whole answer head, so that closing sends a plain FIN (a
        // socket closed with unread data would send a reset, which the server sees at once).
        for socket in &mut clients {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                socket.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
            assert!(
                head.starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&head)
            );
        }
        assert_eq!(open_streams(&server).await, STREAMS as f64, "{backend:?}");
        // Every client goes away at once.
        let gone = Instant::now();
        drop(clients);
        let deadline = gone + heartbeat + Duration::from_millis(1500);
        loop {
            let open = open_streams(&server).await;
            if open == 0.0 && open_descriptors() <= before + 50 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{backend:?}: {open} streams and {} descriptors left {:?} after the clients \
                 went (heartbeat {heartbeat:?})",
                open_descriptors().saturating_sub(before),
                gone.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!(
            "{backend:?}: {STREAMS} abandoned streams dropped {:?} after their clients went",
            gone.elapsed()
        );
        server.stop().await;
    }
}
