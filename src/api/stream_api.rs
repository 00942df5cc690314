//! `GET {prefix}/sync/stream`: the changes feed as server-sent events. The sync core checks
//! the request and streams the changes ([`crate::sync::feed::Feed::stream`]) until the caller's
//! credentials expire or are revoked; this handler maps each change to an event.

use super::error::ApiError;
use super::sync_doc::ChangeDoc;
use crate::api::AppState;
use crate::auth::Caller;
use crate::sync::devices;
use crate::sync::feed::{StreamEvent, StreamRequest, parse_cursor};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use poem::web::sse::Event;
use poem_openapi::payload::EventStream;
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;

/// One event of the stream; documented as the feed's `Change` (the `resync_required` event that
/// may end a stream carries the error body instead, as the operation's description says).
pub struct ChangeEvent(pub StreamEvent);

impl Type for ChangeEvent {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "Change".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Reference("Change".into())
    }

    fn register(registry: &mut Registry) {
        <ChangeDoc as Type>::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for ChangeEvent {
    fn to_json(&self) -> Option<Value> {
        match &self.0 {
            StreamEvent::Change { entry, .. } => serde_json::from_str(entry.json.get()).ok(),
            // Not a `Change`: the event is written by `open` alone.
            StreamEvent::ResyncRequired(_) => None,
        }
    }
}

pub type ChangeEvents = EventStream<BoxStream<'static, ChangeEvent>>;

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
    let events = state
        .feed
        .stream(&state.db, request)
        .await?
        .map(ChangeEvent)
        .boxed();
    Ok(EventStream::new(events)
        .keep_alive(state.config.sync.stream_heartbeat)
        .to_event(|ChangeEvent(event)| match event {
            // The change's JSON as the page built it, shared by every stream of the view.
            StreamEvent::Change { entry, cursor } => Event::message(entry.json.get())
                .id(cursor)
                .event_type("change"),
            // The body a read with the stream's cursor would now be refused with.
            StreamEvent::ResyncRequired(error) => {
                Event::message(ApiError::from(error).body().to_string())
                    .event_type("resync_required")
            }
        }))
}
