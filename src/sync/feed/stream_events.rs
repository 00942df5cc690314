//! What a live stream writes, as server-sent events: each change an `event: change` with the
//! change as `data` and the cursor that resumes after it as `id`. A page read for many streams
//! at once (the streams a commit woke, sharing one read) is encoded by the first of them and
//! written by every one as the same bytes.

use super::shared_read::FeedPage;
use super::view::View;
use bytes::Bytes;

/// The comment sent when a stream has had nothing to send for a heartbeat interval.
pub const HEARTBEAT: &[u8] = b":\n\n";

/// The changes of `page` as events, for streams reading it with `view`.
pub fn page_events(page: &FeedPage, view: &View) -> Bytes {
    page.events
        .get_or_init(|| {
            let mut text = Vec::with_capacity(
                page.entries
                    .iter()
                    .map(|entry| entry.json.get().len() + 64)
                    .sum(),
            );
            for entry in &page.entries {
                event(&mut text, &view.cursor(entry.seq), entry.json.get());
            }
            Bytes::from(text)
        })
        .clone()
}

/// One `change` event. The change is compact JSON, one line: it is the event's only `data`.
fn event(text: &mut Vec<u8>, cursor: &str, change: &str) {
    for part in ["id: ", cursor, "\nevent: change\ndata: ", change, "\n\n"] {
        text.extend_from_slice(part.as_bytes());
    }
}

/// The event a stream ends with when a reload changed what it reads: the body a read with the
/// stream's cursor would now be refused with.
pub fn resync_required(body: &str) -> Bytes {
    let mut text = b"event: resync_required\n".to_vec();
    for line in body.lines() {
        for part in ["data: ", line, "\n"] {
            text.extend_from_slice(part.as_bytes());
        }
    }
    text.push(b'\n');
    Bytes::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_its_id_type_and_data_lines() {
        let mut text = Vec::new();
        event(&mut text, "12", r#"{"seq":12}"#);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "id: 12\nevent: change\ndata: {\"seq\":12}\n\n"
        );
        assert_eq!(
            &resync_required(r#"{"error":"resync_required"}"#)[..],
            b"event: resync_required\ndata: {\"error\":\"resync_required\"}\n\n"
        );
    }
}
