//! The methods each documented path answers, for the `Allow` header a 405 must carry
//! (RFC 9110 §15.5.6). Read from the OpenAPI document, so it follows the schema's tables.

use serde_json::Value;

pub struct AllowedMethods(Vec<(Vec<String>, String, String)>);

impl AllowedMethods {
    pub fn from_spec(spec: &str) -> Self {
        let document: Value = serde_json::from_str(spec).unwrap_or_default();
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        Self(
            paths
                .into_iter()
                .map(|(path, operations)| {
                    let segments = path.split('/').map(String::from).collect();
                    let methods: Vec<String> = operations
                        .as_object()
                        .map(|ops| ops.keys().map(|m| m.to_uppercase()).collect())
                        .unwrap_or_default();
                    (segments, methods.join(", "), path)
                })
                .collect(),
        )
    }

    /// The methods of the documented path `path` matches (a `{param}` matches any segment).
    pub fn for_path(&self, path: &str) -> Option<&str> {
        self.matching(path).map(|(_, methods, _)| methods.as_str())
    }

    /// The documented path `path` matches, e.g. `/sync/devices/{id}` for `/sync/devices/7`.
    pub fn template_for(&self, path: &str) -> Option<&str> {
        self.matching(path)
            .map(|(_, _, template)| template.as_str())
    }

    /// Whether `method` (upper case) on `path` is documented.
    pub fn serves(&self, method: &str, path: &str) -> bool {
        self.for_path(path)
            .is_some_and(|methods| methods.split(", ").any(|m| m == method))
    }

    /// Every documented path with its methods (upper case).
    pub fn templates(&self) -> impl Iterator<Item = (&str, Vec<String>)> {
        self.0.iter().map(|(_, methods, template)| {
            let methods = methods.split(", ").map(String::from).collect();
            (template.as_str(), methods)
        })
    }

    /// A literal path wins over a template (`/sync/devices/me` over `/sync/devices/{id}`).
    fn matching(&self, path: &str) -> Option<&(Vec<String>, String, String)> {
        let wanted: Vec<&str> = path.split('/').collect();
        let fits = |template: &[String], literal_only: bool| {
            template.len() == wanted.len()
                && template.iter().zip(&wanted).all(|(t, w)| {
                    t == w
                        || (!literal_only
                            && t.starts_with('{')
                            && t.ends_with('}')
                            && !w.is_empty())
                })
        };
        self.0
            .iter()
            .find(|(template, _, _)| fits(template, true))
            .or_else(|| self.0.iter().find(|(template, _, _)| fits(template, false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_their_paths() {
        let allowed = AllowedMethods::from_spec(
            r#"{"paths": {"/a/{id}": {"get": {}, "put": {}}, "/a/{id}/token": {"post": {}}}}"#,
        );
        assert_eq!(allowed.for_path("/a/7"), Some("GET, PUT"));
        assert_eq!(allowed.for_path("/a/7/token"), Some("POST"));
        assert_eq!(allowed.for_path("/b"), None);
        assert_eq!(allowed.template_for("/a/7/token"), Some("/a/{id}/token"));
    }
}
