//! "Did you mean …?" for names a user typed: config keys, schema keys, columns, roles.

/// The candidate closest to `typed`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let typed_lower = typed.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&typed_lower, &candidate.to_lowercase());
            (distance, candidate)
        })
        .filter(|(distance, candidate)| {
            let longest = typed.chars().count().max(candidate.chars().count());
            *distance <= (longest / 3).max(1)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn finds_close_names_only() {
        let columns = ["id", "price", "name", "stock"];
        assert_eq!(did_you_mean("prce", columns), Some("price"));
        assert_eq!(did_you_mean("Name", columns), Some("name"));
        assert_eq!(did_you_mean("quantity", columns), None);
        assert_eq!(did_you_mean("ADMN", ["ADMIN", "CAJERO"]), Some("ADMIN"));
    }
}
