//! `GET {prefix}/sync/stream`: the changes feed as server-sent events. The sync core checks
//! the request and streams the changes, encoded as events ([`crate::sync::feed::Feed::stream`]),
//! until the caller's credentials expire or are revoked; this handler writes them.

use super::error::ApiError;
use super::sync_doc::ChangeDoc;
use crate::api::AppState;
use crate::auth::Caller;
use crate::sync::devices;
use crate::sync::feed::{HEARTBEAT, resync_required};
use crate::sync::feed::{StreamEvent, StreamRequest, parse_cursor};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use poem::{Body, IntoResponse, Response};
use poem_openapi::ApiResponse;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{
    MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;
use std::sync::Arc;

/// The stream's body: server-sent events, documented as an event stream of the feed's `Change`
/// (the `resync_required` event that may end a stream carries the error body instead, as the
/// operation's description says). The events come encoded ([`StreamEvent::Changes`]): the
/// same bytes for every stream that read the same page.
pub struct ChangeEvents(BoxStream<'static, StreamEvent>);

impl Payload for ChangeEvents {
    const CONTENT_TYPE: &'static str = "text/event-stream";

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            items: Some(Box::new(MetaSchemaRef::Reference("Change".into()))),
            ..MetaSchema::new_with_format("array", "event-stream")
        }))
    }

    fn register(registry: &mut Registry) {
        <ChangeDoc as Type>::register(registry);
    }
}

impl ApiResponse for ChangeEvents {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: Self::CONTENT_TYPE,
                    schema: Self::schema_ref(),
                }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        <ChangeDoc as Type>::register(registry);
    }
}

impl IntoResponse for ChangeEvents {
    fn into_response(self) -> Response {
        let events = self.0.map(|event| {
            Ok::<_, std::io::Error>(match event {
                StreamEvent::Changes(events) => events,
                StreamEvent::Heartbeat => Bytes::from_static(HEARTBEAT),
                // The body a read with the stream's cursor would now be refused with.
                StreamEvent::ResyncRequired(error) => {
                    resync_required(&ApiError::from(error).body().to_string())
                }
            })
        });
        Response::builder()
            .content_type(Self::CONTENT_TYPE)
            // Proxies (nginx) are not to hold events back in a buffer.
            .header("X-Accel-Buffering", "no")
            .header("Cache-Control", "no-cache")
            .body(Body::from_bytes_stream(events))
    }
}

/// Opens the stream after `cursor` (a `Last-Event-ID` wins over the `cursor` parameter).
pub async fn open(
    state: &Arc<AppState>,
    caller: &Caller,
    cursor: Option<&str>,
    last_event_id: Option<&str>,
    tables: Option<Vec<String>>,
) -> Result<ChangeEvents, ApiError> {
    let request = StreamRequest {
        schema: state.current_schema(),
        caller: caller.clone(),
        tables,
        // Both are checked, though `Last-Event-ID` wins: neither may be malformed.
        cursor: match (parse_cursor(cursor)?, last_event_id) {
            (_, Some(id)) => parse_cursor(Some(id))?,
            (cursor, None) => cursor,
        },
        recheck: state.config.sync.stream_heartbeat,
        revocable: devices::revocable(&state.db, state.feed.revocations(), caller),
        leeway: state.config.auth.leeway,
    };
    let events = state.feed.stream(&state.db, request).await?;
    Ok(ChangeEvents(events.boxed()))
}
