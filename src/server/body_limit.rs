//! Refuses request bodies over `server.max_body_bytes` with 413. poem's own `SizeLimit` also
//! refuses requests without `Content-Length` (every GET), so this one checks the header when
//! present and otherwise reads a chunked body up to the limit.

use poem::error::ReadBodyError;
use poem::http::header::CONTENT_LENGTH;
use poem::{Endpoint, IntoResponse, Request, Response, Result};

pub async fn limit_body<E: Endpoint>(
    next: &E,
    mut request: Request,
    max: usize,
) -> Result<Response> {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared {
        Some(length) if length > max as u64 => return Err(ReadBodyError::PayloadTooLarge.into()),
        Some(_) => {}
        None => {
            let body = request.take_body();
            if !body.is_empty() {
                let bytes = body.into_bytes_limit(max).await?;
                request.set_body(bytes);
            }
        }
    }
    next.call(request).await.map(IntoResponse::into_response)
}
