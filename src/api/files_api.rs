//! Files: simple multipart upload (seed 001), chunked resumable upload sessions and ranged
//! downloads (seed 004).

use super::bearer::BearerAuth;
use super::error::ApiError;
use super::row_doc::RowObject;
use super::strict_json::StrictJson;
use super::writes::write_options;
use crate::api::AppState;
use crate::auth::Caller;
use crate::files::attach::{self, FileError, Target};
use crate::files::{range, uploads};
use crate::store::files::{StoredFile, Upload};
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::multipart::Upload as FilePart;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi, Tags};
use serde_json::Value;
use std::sync::Arc;

#[derive(Tags)]
enum FilesTag {
    /// Upload files into `file` columns and download them.
    Files,
}

pub struct FilesApi;

/// A file upload (`multipart/form-data`).
#[derive(Multipart)]
struct FileForm {
    /// The table of the row.
    table: String,
    /// The row's primary key.
    row: String,
    /// The `file` column, or `COLUMN.KEY`: the file's id is written under KEY of the `json`
    /// column COLUMN (its other keys kept), e.g. `data.Inspection_Photo_1`.
    #[oai(rename = "field")]
    column: String,
    file: FilePart,
}

/// A stored file, attached to its row.
#[derive(Object)]
struct Attachment {
    attachment_id: String,
    table: String,
    key: Value,
    field: String,
    /// Read from the file's content.
    media_type: String,
    size: i64,
    sha256: String,
    /// The row's new version, which holds the attachment id in `field`.
    version: i64,
    row: RowObject,
}

#[derive(ApiResponse)]
enum AttachResponse {
    /// Stored and attached.
    #[oai(status = 201)]
    Created(Json<Attachment>),
}

#[derive(Object)]
struct NewUpload {
    table: String,
    row: String,
    /// The `file` column, or `COLUMN.KEY` of a `json` column (see `POST /sync/files`).
    field: String,
    /// Size of the whole file in bytes.
    size: i64,
    /// Size of every chunk but the last, in bytes (at most 16 MiB).
    chunk_size: i64,
    /// SHA-256 of the whole file, hex.
    sha256: String,
}

/// An upload session and the chunks it holds.
#[derive(Object)]
struct UploadSession {
    id: String,
    table: String,
    key: Value,
    field: String,
    size: i64,
    chunk_size: i64,
    chunks: i64,
    received: Vec<i64>,
    missing: Vec<i64>,
    expires_at: String,
}

#[derive(ApiResponse)]
enum SessionCreated {
    #[oai(status = 201)]
    Created(Json<UploadSession>),
}

#[derive(ApiResponse)]
enum Cancelled {
    /// The session and its chunks are gone.
    #[oai(status = 204)]
    Cancelled,
}

#[derive(ApiResponse)]
enum Download {
    /// The whole file.
    #[oai(status = 200)]
    Full(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Accept-Ranges")] String,
    ),
    /// The requested range.
    #[oai(status = 206)]
    Partial(
        Binary<Vec<u8>>,
        #[oai(header = "Content-Type")] String,
        #[oai(header = "ETag")] String,
        #[oai(header = "Content-Range")] String,
    ),
    /// The file has not changed (`If-None-Match`).
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
    /// The range lies outside the file.
    #[oai(status = 416)]
    RangeNotSatisfiable(#[oai(header = "Content-Range")] String),
}

use crate::schema::values::format_millis as rfc3339;

/// Stores the file and writes the attachment id into its row (a new version).
async fn attach_file(
    state: &AppState,
    caller: &Caller,
    target: &Target<'_>,
    bytes: &[u8],
) -> Result<Attachment, ApiError> {
    let file = attach::store(&state.db, state.files.as_ref(), caller, target, bytes).await?;
    let schema = state.schema();
    let plugins = state.plugins();
    let options = write_options(state, caller);
    match attach::attach(
        &state.db, &schema, &plugins, caller, target, &file.id, options,
    )
    .await
    {
        Ok(row) => Ok(attachment(file, row.version, RowObject(row.into_client()))),
        Err(error) => {
            attach::discard(&state.db, state.files.as_ref(), &file.id).await;
            Err(error.into())
        }
    }
}

fn attachment(file: StoredFile, version: i64, row: RowObject) -> Attachment {
    Attachment {
        attachment_id: file.id,
        table: file.table,
        key: file.key,
        field: file.field,
        media_type: file.media_type,
        size: file.size,
        sha256: file.sha256,
        version,
        row,
    }
}

async fn session_view(state: &AppState, upload: &Upload) -> Result<UploadSession, ApiError> {
    let received = uploads::received(state.files.as_ref(), upload).await?;
    Ok(UploadSession {
        id: upload.id.clone(),
        table: upload.table.clone(),
        key: upload.key.clone(),
        field: upload.field.clone(),
        size: upload.size,
        chunk_size: upload.chunk_size,
        chunks: upload.chunks(),
        missing: (0..upload.chunks())
            .filter(|i| !received.contains(i))
            .collect(),
        received,
        expires_at: rfc3339(upload.expires_at),
    })
}

fn key_text(key: &Value) -> String {
    key.as_str()
        .map(String::from)
        .unwrap_or_else(|| key.to_string())
}

#[OpenApi(tag = "FilesTag::Files")]
impl FilesApi {
    /// Upload a file into a row's `file` column, or under a key of its `json` column.
    ///
    /// The media type is read from the content and checked against the column's `accept`;
    /// too large: 413; wrong type: 415; a row the caller may not update: 404. The row gets a new
    /// version holding the attachment id, in this one request: in the column, or with `field` =
    /// `COLUMN.KEY` under KEY of the json column (its other keys kept). When the row cannot be
    /// written, the stored file is removed again.
    #[oai(path = "/sync/files", method = "post", operation_id = "uploadFile")]
    async fn upload(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        form: FileForm,
    ) -> Result<AttachResponse, ApiError> {
        let schema = state.schema();
        let target = attach::target(
            &state.db,
            &schema,
            &auth.0,
            &form.table,
            &form.row,
            &form.column,
        )
        .await?;
        let bytes = form.file.into_vec().await.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("cannot read the file part: {error}"),
            )
        })?;
        Ok(AttachResponse::Created(Json(
            attach_file(&state, &auth.0, &target, &bytes).await?,
        )))
    }

    /// Start a chunked, resumable upload.
    #[oai(path = "/sync/upload", method = "post", operation_id = "createUpload")]
    async fn create_upload(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        body: StrictJson<NewUpload>,
    ) -> Result<SessionCreated, ApiError> {
        let schema = state.schema();
        let target = attach::target(
            &state.db,
            &schema,
            &auth.0,
            &body.table,
            &body.row,
            &body.field,
        )
        .await?;
        let expiry = state.config.files.upload_expiry;
        let upload = uploads::create(
            &state.db,
            &auth.0,
            &target,
            body.size,
            body.chunk_size,
            &body.sha256,
            expiry,
        )
        .await?;
        Ok(SessionCreated::Created(Json(
            session_view(&state, &upload).await?,
        )))
    }

    /// Which chunks of the session are present (to resume after a lost connection).
    #[oai(path = "/sync/upload/:id", method = "get", operation_id = "getUpload")]
    async fn get_upload(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The id the server gave it (a UUID).
        id: Path<String>,
    ) -> Result<Json<UploadSession>, ApiError> {
        let upload = uploads::session(&state.db, &auth.0, &id.0).await?;
        Ok(Json(session_view(&state, &upload).await?))
    }

    /// Store one chunk (sending it again replaces it; a wrong size is refused).
    #[oai(
        path = "/sync/upload/:id/chunks/:index",
        method = "put",
        operation_id = "putChunk"
    )]
    async fn put_chunk(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The id the server gave it (a UUID).
        id: Path<String>,
        index: Path<i64>,
        body: Binary<Vec<u8>>,
    ) -> Result<Json<UploadSession>, ApiError> {
        let (upload, _) = uploads::put_chunk(
            &state.db,
            state.files.as_ref(),
            &auth.0,
            &id.0,
            index.0,
            &body.0,
        )
        .await?;
        Ok(Json(session_view(&state, &upload).await?))
    }

    /// Finish the upload: every chunk present and the SHA-256 right, then the file is attached
    /// to its row at once.
    #[oai(
        path = "/sync/upload/:id/complete",
        method = "post",
        operation_id = "completeUpload"
    )]
    async fn complete(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The id the server gave it (a UUID).
        id: Path<String>,
    ) -> Result<AttachResponse, ApiError> {
        let upload = uploads::session(&state.db, &auth.0, &id.0).await?;
        let bytes = uploads::assemble(state.files.as_ref(), &upload).await?;
        let schema = state.schema();
        let target = attach::target(
            &state.db,
            &schema,
            &auth.0,
            &upload.table,
            &key_text(&upload.key),
            &upload.field,
        )
        .await?;
        let attached = attach_file(&state, &auth.0, &target, &bytes).await?;
        uploads::remove(&state.db, state.files.as_ref(), &upload.id).await?;
        Ok(AttachResponse::Created(Json(attached)))
    }

    /// Cancel an upload and drop its chunks.
    #[oai(
        path = "/sync/upload/:id",
        method = "delete",
        operation_id = "cancelUpload"
    )]
    async fn cancel(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The id the server gave it (a UUID).
        id: Path<String>,
    ) -> Result<Cancelled, ApiError> {
        let upload = uploads::session(&state.db, &auth.0, &id.0).await?;
        uploads::remove(&state.db, state.files.as_ref(), &upload.id).await?;
        Ok(Cancelled::Cancelled)
    }

    /// Download a file by attachment id, whole or a `Range` of it.
    ///
    /// Only files of rows the caller may read, while the row still holds them (a replaced or
    /// cleared file: 404). `ETag` is the SHA-256; `If-None-Match` with it answers 304.
    #[oai(path = "/sync/download/:id", method = "get", operation_id = "download")]
    async fn download(
        &self,
        state: Data<&Arc<AppState>>,
        auth: BearerAuth,
        /// The id the server gave it (a UUID).
        id: Path<String>,
        #[oai(name = "Range")] range_header: Header<Option<String>>,
        #[oai(name = "If-None-Match")] if_none_match: Header<Option<String>>,
    ) -> Result<Download, ApiError> {
        let missing = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no file `{}`", id.0),
            )
        };
        crate::sync::SyncError::check_identifier("id", &id.0)?;
        let file = crate::store::files::get_file(&state.db, &id.0)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(missing)?;
        let schema = state.schema();
        let access = crate::sync::access(&schema, &auth.0, &file.table).map_err(|_| missing())?;
        let row = crate::sync::visible_row(&state.db, &access, &file.key)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(missing)?;
        // A file its row replaced or cleared is gone for readers at once, not at the next
        // cleanup.
        if !crate::files::holds(&row.values, &file.field, &file.id) {
            return Err(missing());
        }
        let etag = format!("\"{}\"", file.sha256);
        if if_none_match
            .0
            .as_deref()
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
        {
            return Ok(Download::NotModified(etag));
        }
        let size = file.size as u64;
        let key = attach::object_key(&file.id);
        match range::parse(range_header.0.as_deref(), size) {
            None => {
                let bytes = state
                    .files
                    .read_range(&key, 0, size)
                    .await
                    .map_err(FileError::from)?;
                Ok(Download::Full(
                    Binary(bytes),
                    file.media_type,
                    etag,
                    "bytes".into(),
                ))
            }
            Some(Err(())) => Ok(Download::RangeNotSatisfiable(format!("bytes */{size}"))),
            Some(Ok((start, end))) => {
                let bytes = state
                    .files
                    .read_range(&key, start, end - start + 1)
                    .await
                    .map_err(FileError::from)?;
                Ok(Download::Partial(
                    Binary(bytes),
                    file.media_type,
                    etag,
                    format!("bytes {start}-{end}/{size}"),
                ))
            }
        }
    }
}
