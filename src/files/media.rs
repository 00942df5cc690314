//! A file's media type, read from its content (magic bytes), not from what the client claims.

use crate::schema::model::Column;

/// The media type of `bytes`: from their content when recognisable, else
/// `application/octet-stream` (or `text/plain` for valid UTF-8 text).
pub fn sniff(bytes: &[u8]) -> String {
    if let Some(kind) = infer::get(bytes) {
        return kind.mime_type().to_string();
    }
    if std::str::from_utf8(bytes).is_ok() {
        "text/plain".into()
    } else {
        "application/octet-stream".into()
    }
}

/// Whether the column accepts `media_type` (`image/*` matches every image type).
pub fn accepted(column: &Column, media_type: &str) -> bool {
    column.accept.is_empty()
        || column
            .accept
            .iter()
            .any(|allowed| match allowed.strip_suffix("/*") {
                Some(kind) => media_type.split('/').next() == Some(kind),
                None => allowed.eq_ignore_ascii_case(media_type),
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_type_from_the_content() {
        let png = [
            0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R',
        ];
        assert_eq!(sniff(&png), "image/png");
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F']),
            "image/jpeg"
        );
        assert_eq!(sniff(b"just some text, named photo.jpg"), "text/plain");
    }
}
