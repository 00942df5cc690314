//! Files (seeds 001 and 004): multipart upload checked by content, size and scope; chunked
//! resumable sessions with their hash; expiry; ranged downloads; and no orphaned files once a
//! row is deleted — on every backend.

mod common;

use common::{API, Sandbox, TestServer, backends, clerk};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

const SCHEMA: &str = r#"
[roles.ADMIN]
scope = "all"
[roles.CLERK]
scope = "branch"

[tables.photos]
branch_column = "branch_id"
permissions = { ADMIN = "crud", CLERK = "crud" }
[tables.photos.columns]
id = { type = "text" }
branch_id = { type = "integer" }
image = { type = "file", nullable = true, accept = ["image/png", "image/jpeg"] }
scan = { type = "file", nullable = true, max_size = 200000 }
data = { type = "json", default = {}, accept = ["image/png"], max_size = 1000 }
"#;

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

async fn server(backend: common::Backend) -> (Sandbox, TestServer) {
    let sandbox = Sandbox::new(backend).await;
    sandbox.write_schema("photos.toml", SCHEMA);
    let mut config = sandbox.config();
    config.server.max_body_bytes = 32 * 1024 * 1024;
    config.files.dir = sandbox.path().join("files");
    config.files.upload_expiry = Duration::from_secs(2);
    config.files.cleanup_grace = Some(Duration::ZERO);
    config.jobs.files.schedule = "* * * * * *".into();
    let server = TestServer::start(config).await;
    for (id, branch) in [("p1", 1), ("p2", 2)] {
        let (status, body) = server
            .push(
                &clerk(branch),
                "d",
                true,
                json!([{"table": "photos", "action": "insert", "data": {"id": id}}]),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    (sandbox, server)
}

async fn upload(
    server: &TestServer,
    token: &str,
    parts: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in parts {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some((filename, bytes)) = file {
        form = form.part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(filename.to_string())
                .mime_str("image/jpeg")
                .unwrap(),
        );
    }
    let response = server
        .client
        .post(server.url(&format!("{API}/sync/files")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

const TARGET: &[(&str, &str)] = &[("table", "photos"), ("row", "p1"), ("field", "image")];

#[tokio::test(flavor = "multi_thread")]
async fn uploads_are_checked_by_content_size_and_scope() {
    for backend in backends() {
        let (_sandbox, server) = server(backend).await;
        let (status, body) = upload(
            &server,
            &clerk(1),
            TARGET,
            Some(("photo.png", PNG.to_vec())),
        )
        .await;
        assert_eq!(status, 201, "{backend:?}: {body}");
        assert_eq!(
            body["media_type"], "image/png",
            "read from the content, not the part's header"
        );
        let id = body["attachment_id"].as_str().unwrap().to_string();
        assert_eq!(body["row"]["image"], id.as_str());
        assert_eq!(body["version"], 2);
        let (_, feed) = server
            .get_as(&clerk(1), &format!("{API}/sync/changes?tables=photos"))
            .await;
        assert_eq!(
            feed["changes"][0]["row"]["image"],
            id.as_str(),
            "the new version is in the feed"
        );

        let (status, body) = upload(
            &server,
            &clerk(1),
            TARGET,
            Some(("photo.jpg", b"not a picture at all".to_vec())),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (415, json!("unsupported_media_type")),
            "{body}"
        );
        let mut big = PNG.to_vec();
        big.resize(10 * 1024 * 1024 + 1, 0);
        let (status, body) = upload(&server, &clerk(1), TARGET, Some(("big.png", big))).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (413, json!("file_too_large")),
            "{body}"
        );
        let (status, body) = upload(
            &server,
            &clerk(1),
            &TARGET[..2],
            Some(("p.png", PNG.to_vec())),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("field"),
            "names the missing part: {body}"
        );
        let (status, body) = upload(&server, &clerk(1), TARGET, None).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("file"),
            "{body}"
        );
        let other_branch = [("table", "photos"), ("row", "p2"), ("field", "image")];
        let (status, _) = upload(
            &server,
            &clerk(1),
            &other_branch,
            Some(("p.png", PNG.to_vec())),
        )
        .await;
        assert_eq!(status, 404, "a row outside the caller's scope");
        server.stop().await;
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn put_chunk(server: &TestServer, id: &str, index: usize, bytes: Vec<u8>) -> (u16, Value) {
    let response = server
        .client
        .put(server.url(&format!("{API}/sync/upload/{id}/chunks/{index}")))
        .bearer_auth(clerk(1))
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn get_raw(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client.get(server.url(path)).bearer_auth(clerk(1));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn chunked_uploads_resume_complete_and_download_by_range() {
    for backend in backends() {
        let (sandbox, server) = server(backend).await;
        let file: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let chunks: Vec<Vec<u8>> = file.chunks(30_000).map(<[u8]>::to_vec).collect();
        let create = json!({"table": "photos", "row": "p1", "field": "scan", "size": file.len(), "chunk_size": 30_000, "sha256": sha(&file)});
        let (status, session) = server
            .post_as(&clerk(1), &format!("{API}/sync/upload"), &create)
            .await;
        assert_eq!(status, 201, "{backend:?}: {session}");
        let id = session["id"].as_str().unwrap().to_string();
        assert_eq!(session["chunks"], 4);

        // Two chunks, then the connection is "lost": the client asks what is there.
        put_chunk(&server, &id, 0, chunks[0].clone()).await;
        put_chunk(&server, &id, 2, chunks[2].clone()).await;
        let (_, state) = server
            .get_as(&clerk(1), &format!("{API}/sync/upload/{id}"))
            .await;
        assert_eq!(
            (state["received"].clone(), state["missing"].clone()),
            (json!([0, 2]), json!([1, 3])),
            "{state}"
        );
        let (status, body) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/upload/{id}/complete"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 409, "chunks are missing: {body}");
        let (status, body) = put_chunk(&server, &id, 1, vec![0; 10]).await;
        assert_eq!(status, 400, "a wrong size is refused: {body}");
        for index in [1, 3, 1] {
            let (status, body) = put_chunk(&server, &id, index, chunks[index].clone()).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, attached) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/upload/{id}/complete"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 201, "{attached}");
        let file_id = attached["attachment_id"].as_str().unwrap().to_string();
        assert_eq!(
            server
                .get_as(&clerk(1), &format!("{API}/sync/upload/{id}"))
                .await
                .0,
            404,
            "the session is gone"
        );

        let path = format!("{API}/sync/download/{file_id}");
        let whole = get_raw(&server, &path, &[]).await;
        assert_eq!(whole.status(), 200);
        let etag = whole.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(whole.headers()["content-length"], "100000");
        assert_eq!(whole.bytes().await.unwrap().to_vec(), file);
        for (range, expected, content_range) in [
            ("bytes=0-99", &file[..100], "bytes 0-99/100000"),
            ("bytes=-100", &file[99_900..], "bytes 99900-99999/100000"),
            (
                "bytes=29990-30009",
                &file[29_990..30_010],
                "bytes 29990-30009/100000",
            ),
        ] {
            let partial = get_raw(&server, &path, &[("range", range)]).await;
            assert_eq!(partial.status(), 206, "{range}");
            assert_eq!(partial.headers()["content-range"], content_range);
            assert_eq!(partial.bytes().await.unwrap().to_vec(), expected, "{range}");
        }
        let unsatisfiable = get_raw(&server, &path, &[("range", "bytes=100000-")]).await;
        assert_eq!(unsatisfiable.status(), 416);
        assert_eq!(unsatisfiable.headers()["content-range"], "bytes */100000");
        assert_eq!(
            get_raw(&server, &path, &[("if-none-match", &etag)])
                .await
                .status(),
            304
        );
        let response = server
            .client
            .get(server.url(&path))
            .bearer_auth(clerk(2))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "another branch may not read it");

        // A corrupted chunk is caught by the hash.
        let (_, session) = server
            .post_as(&clerk(1), &format!("{API}/sync/upload"), &create)
            .await;
        let id = session["id"].as_str().unwrap().to_string();
        for (index, chunk) in chunks.iter().enumerate() {
            let mut chunk = chunk.clone();
            if index == 2 {
                chunk[5] ^= 0xFF;
            }
            put_chunk(&server, &id, index, chunk).await;
        }
        let (status, body) = server
            .post_as(
                &clerk(1),
                &format!("{API}/sync/upload/{id}/complete"),
                &json!({}),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("SHA-256"),
            "{body}"
        );
        // Cancel.
        let (status, _) = server
            .delete_as(&clerk(1), &format!("{API}/sync/upload/{id}"))
            .await;
        assert_eq!(status, 204);
        assert!(
            !sandbox.path().join(format!("files/uploads/{id}")).exists(),
            "its chunks are gone"
        );
        server.stop().await;
    }
}

fn files_on_disk(sandbox: &Sandbox, dir: &str) -> usize {
    std::fs::read_dir(sandbox.path().join("files").join(dir))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_sessions_and_files_of_deleted_rows_are_removed() {
    for backend in backends() {
        let (sandbox, server) = server(backend).await;
        let create = json!({"table": "photos", "row": "p1", "field": "scan", "size": 10, "chunk_size": 5, "sha256": sha(b"0123456789")});
        let (_, session) = server
            .post_as(&clerk(1), &format!("{API}/sync/upload"), &create)
            .await;
        let id = session["id"].as_str().unwrap().to_string();
        put_chunk(&server, &id, 0, b"01234".to_vec()).await;
        assert_eq!(files_on_disk(&sandbox, "uploads"), 1);

        let (status, _) = upload(&server, &clerk(1), TARGET, Some(("a.png", PNG.to_vec()))).await;
        assert_eq!(status, 201);
        // Replacing the file leaves the first one unreferenced; deleting the row, the second.
        upload(&server, &clerk(1), TARGET, Some(("b.png", PNG.to_vec()))).await;
        assert_eq!(files_on_disk(&sandbox, "files"), 2);
        let delete = json!([{"table": "photos", "action": "delete", "data": {"id": "p1"}}]);
        assert_eq!(server.push(&clerk(1), "d", true, delete).await.0, 200);

        let deadline = Instant::now() + Duration::from_secs(15);
        while files_on_disk(&sandbox, "files") > 0 || files_on_disk(&sandbox, "uploads") > 0 {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: files {} uploads {}",
                files_on_disk(&sandbox, "files"),
                files_on_disk(&sandbox, "uploads")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            server
                .get_as(&clerk(1), &format!("{API}/sync/upload/{id}"))
                .await
                .0,
            404
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_writes_its_id_under_a_key_of_a_json_column_in_the_same_request() {
    for backend in backends() {
        let (sandbox, server) = server(backend).await;
        let note = json!([{"table": "photos", "action": "update", "data": {"id": "p1", "data": {"note": "kept"}}}]);
        assert_eq!(server.push(&clerk(1), "d", true, note).await.0, 200);
        let into = |key: &'static str| -> Vec<(&'static str, &'static str)> {
            vec![("table", "photos"), ("row", "p1"), ("field", key)]
        };
        let (status, front) = upload(
            &server,
            &clerk(1),
            &into("data.front"),
            Some(("f.png", PNG.to_vec())),
        )
        .await;
        assert_eq!(status, 201, "{backend:?}: {front}");
        let front_id = front["attachment_id"].as_str().unwrap().to_string();
        assert_eq!(front["field"], "data.front", "{front}");
        assert_eq!(
            front["row"]["data"],
            json!({"note": "kept", "front": front_id}),
            "{front}"
        );
        let (_, back) = upload(
            &server,
            &clerk(1),
            &into("data.back"),
            Some(("b.png", PNG.to_vec())),
        )
        .await;
        let back_id = back["attachment_id"].as_str().unwrap().to_string();
        let (_, row) = server
            .get_as(&clerk(1), &format!("{API}/tables/photos/rows/p1"))
            .await;
        assert_eq!(
            row["data"],
            json!({"note": "kept", "front": front_id, "back": back_id}),
            "one new version per upload, other keys kept: {row}"
        );
        assert_eq!(row["_version"], 4, "{row}");

        // The json column's accept and max_size hold; a json column needs a key, a file column none.
        let cases = [
            (into("data.front"), b"not an image".to_vec(), 415),
            (into("data.front"), [PNG, &[0u8; 1000]].concat(), 413),
            (into("data"), PNG.to_vec(), 400),
            (into("image.front"), PNG.to_vec(), 400),
            (
                vec![("table", "photos"), ("row", "p2"), ("field", "data.front")],
                PNG.to_vec(),
                404,
            ),
        ];
        for (parts, bytes, expected) in cases {
            let (status, body) = upload(&server, &clerk(1), &parts, Some(("x.png", bytes))).await;
            assert_eq!(status, expected, "{parts:?}: {body}");
        }
        let (_, row) = server
            .get_as(&clerk(1), &format!("{API}/tables/photos/rows/p1"))
            .await;
        assert_eq!(row["_version"], 4, "refused uploads wrote nothing: {row}");
        let download = get_raw(&server, &format!("{API}/sync/download/{front_id}"), &[]).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.bytes().await.unwrap().as_ref(), PNG);
        let (status, _) = server
            .get_as(&clerk(2), &format!("{API}/sync/download/{front_id}"))
            .await;
        assert_eq!(status, 404, "another branch cannot download it");

        // A replaced key's file is no longer referenced and goes; the others stay.
        let (status, _) = upload(
            &server,
            &clerk(1),
            &into("data.front"),
            Some(("g.png", PNG.to_vec())),
        )
        .await;
        assert_eq!(status, 201);
        let (status, _) = server
            .get_as(&clerk(1), &format!("{API}/sync/download/{front_id}"))
            .await;
        assert_eq!(status, 404, "the replaced photo is not served");
        let deadline = Instant::now() + Duration::from_secs(15);
        while files_on_disk(&sandbox, "files") != 2 {
            assert!(
                Instant::now() < deadline,
                "{backend:?}: {} files",
                files_on_disk(&sandbox, "files")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (status, _) = server
            .get_as(&clerk(1), &format!("{API}/sync/download/{back_id}"))
            .await;
        assert_eq!(status, 200, "the back photo is still referenced");
        server.stop().await;
    }
}
