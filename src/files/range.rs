//! `Range: bytes=…` of a download: one range (`start-end`, `start-`, or the suffix `-len`).

/// The byte span to send, inclusive, or `Err(())` when the range cannot be satisfied (416).
/// `None` when there is no usable `Range` header (send the whole file).
pub fn parse(header: Option<&str>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = header?.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        // Several ranges: answer with the whole file, which HTTP allows.
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let span = match (start.trim(), end.trim()) {
        ("", "") => return None,
        ("", suffix) => {
            let len: u64 = suffix.parse().ok()?;
            if len == 0 || size == 0 {
                return Some(Err(()));
            }
            (size.saturating_sub(len), size - 1)
        }
        (start, "") => {
            let start: u64 = start.parse().ok()?;
            if start >= size {
                return Some(Err(()));
            }
            (start, size - 1)
        }
        (start, end) => {
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            if start > end {
                return None;
            }
            if start >= size {
                return Some(Err(()));
            }
            (start, end.min(size - 1))
        }
    };
    Some(Ok(span))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_single_ranges() {
        assert_eq!(parse(Some("bytes=0-9"), 100), Some(Ok((0, 9))));
        assert_eq!(parse(Some("bytes=90-"), 100), Some(Ok((90, 99))));
        assert_eq!(parse(Some("bytes=-10"), 100), Some(Ok((90, 99))));
        assert_eq!(parse(Some("bytes=50-500"), 100), Some(Ok((50, 99))));
        assert_eq!(parse(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(parse(Some("bytes=0-1,5-6"), 100), None);
        assert_eq!(parse(None, 100), None);
        assert_eq!(parse(Some("items=0-1"), 100), None);
    }
}
