//! Reading a live stream (`text/event-stream`) in tests.

use super::client::{API, Client};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// One server-sent event, or a comment line.
#[derive(Debug)]
pub enum Sse {
    Change { id: String, change: Value },
    Comment,
}

/// Reads events off an open `text/event-stream` response.
pub struct EventReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl EventReader {
    pub async fn open(server: &Client, token: &str, query: &str, last_id: Option<&str>) -> Self {
        let mut request = server
            .client
            .get(server.url(&format!("{API}/sync/stream{query}")))
            .bearer_auth(token);
        if let Some(id) = last_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event within `timeout`; `None` when the stream ended.
    pub async fn next(&mut self, timeout: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut id = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id: ") {
                        id = value.to_string();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push_str(value);
                    }
                }
                if block.starts_with(':') {
                    return Some(Sse::Comment);
                }
                return Some(Sse::Change {
                    id,
                    change: serde_json::from_str(&data).unwrap(),
                });
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) => return None,
                Err(_) => panic!("no event within {timeout:?} (buffer: {:?})", self.buffer),
            }
        }
    }

    /// Every change until none arrives for `quiet` (heartbeats skipped).
    pub async fn until_quiet(&mut self, quiet: Duration) -> Vec<Value> {
        let mut found = Vec::new();
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|line| line.strip_prefix("data: ")) {
                    found.push(serde_json::from_str(data).unwrap());
                }
                continue;
            }
            match tokio::time::timeout(quiet, self.body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Ok(_) | Err(_) => return found,
            }
        }
    }

    /// The next `count` changes, skipping heartbeats.
    pub async fn changes(&mut self, count: usize) -> Vec<(String, Value)> {
        let mut found = Vec::new();
        while found.len() < count {
            match self.next(Duration::from_secs(10)).await {
                Some(Sse::Change { id, change }) => found.push((id, change)),
                Some(Sse::Comment) => {}
                None => panic!("the stream ended after {found:?}"),
            }
        }
        found
    }
}
