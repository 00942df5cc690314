//! Extra paths for endpoints the gateway serves (`[[server.aliases]]`), so that clients written
//! for an older API keep working while they move: `POST /sync` served as `POST /sync/push`, or
//! every path under `/api/sync/` as the same path under `/api/v1/sync/`.
//!
//! An alias is checked against the endpoints once, when the API is built: its target must be
//! served, and no alias may take a (method, path) an endpoint already answers. A request is
//! rewritten only when no endpoint answers it as sent, so an endpoint always wins.

use super::allow::AllowedMethods;
use crate::config::AliasConfig;
use serde_json::{Value, json};

/// The aliases of one built API.
#[derive(Default)]
pub struct Aliases {
    /// The endpoints as documented before aliases were added.
    served: Option<AllowedMethods>,
    entries: Vec<Alias>,
}

struct Alias {
    /// As configured, for messages.
    path: String,
    target: String,
    from: Vec<String>,
    to: Vec<String>,
    /// `path` and `to` end in `/*`: every path under `from` maps to the same path under `to`.
    prefix: bool,
    /// Upper-case methods; empty for every method of the target.
    methods: Vec<String>,
}

impl Aliases {
    /// Checks `configured` against the endpoints of the document `spec`; every problem names
    /// the alias.
    pub fn resolve(configured: &[AliasConfig], spec: &str) -> Result<Self, Vec<String>> {
        let served = AllowedMethods::from_spec(spec);
        let mut entries = Vec::new();
        let mut problems = Vec::new();
        for alias in configured {
            match Alias::parse(alias) {
                Ok(entry) => entries.push(entry),
                Err(problem) => problems.push(format!("alias `{}`: {problem}", alias.path)),
            }
        }
        let aliases = Self {
            served: Some(served),
            entries,
        };
        let mut taken: Vec<(String, String)> = Vec::new();
        for alias in &aliases.entries {
            let routes = aliases.routes_of(alias);
            if routes.is_empty() {
                problems.push(format!(
                    "alias `{}`: `{}` is not a path this gateway serves{} (see GET /openapi.json)",
                    alias.path,
                    alias.target,
                    if alias.methods.is_empty() {
                        String::new()
                    } else {
                        format!(" with {}", alias.methods.join(" or "))
                    }
                ));
            }
            for (method, old, _) in routes {
                let served = aliases.served.as_ref().expect("set above");
                if served.serves(&method, &old) {
                    problems.push(format!(
                        "alias `{}`: `{method} {old}` is an endpoint of this gateway already; an \
                         alias may only add paths",
                        alias.path
                    ));
                } else if taken.contains(&(method.clone(), old.clone())) {
                    problems.push(format!(
                        "alias `{}`: `{method} {old}` is taken by an earlier alias",
                        alias.path
                    ));
                } else {
                    taken.push((method, old));
                }
            }
        }
        if problems.is_empty() {
            Ok(aliases)
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The served path a request to `path` with `method` stands for, when an alias matches it
    /// and no endpoint answers it as sent.
    pub fn rewrite(&self, method: &str, path: &str) -> Option<String> {
        let served = self.served.as_ref()?;
        if self.entries.is_empty() || served.serves(method, path) {
            return None;
        }
        let wanted: Vec<&str> = path.split('/').collect();
        self.entries.iter().find_map(|alias| {
            if !alias.methods.is_empty() && !alias.methods.iter().any(|m| m == method) {
                return None;
            }
            let target = alias.map(&wanted)?;
            served.serves(method, &target).then_some(target)
        })
    }

    /// Adds every alias to the OpenAPI document: a copy of its target's operation, marked
    /// deprecated and named as an alias.
    pub fn document(&self, document: &mut Value) {
        for alias in &self.entries {
            for (method, old, new) in self.routes_of(alias) {
                let lower = method.to_lowercase();
                let Some(mut operation) = document["paths"][&new][&lower].as_object().cloned()
                else {
                    continue;
                };
                operation.insert("deprecated".into(), json!(true));
                let id = operation
                    .get("operationId")
                    .and_then(Value::as_str)
                    .unwrap_or("operation")
                    .to_string();
                operation.insert("operationId".into(), json!(alias_id(&id, &old)));
                let summary = format!("Deprecated alias of `{method} {new}`");
                let description = operation
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|text| format!("{summary} (config `server.aliases`).\n\n{text}"))
                    .unwrap_or_else(|| format!("{summary} (config `server.aliases`)."));
                operation.insert("summary".into(), json!(summary));
                operation.insert("description".into(), json!(description));
                if document["paths"][&old].is_null() {
                    document["paths"][&old] = json!({});
                }
                document["paths"][&old][&lower] = Value::Object(operation);
            }
        }
    }

    /// Every (method, alias path, served path) the alias adds.
    fn routes_of(&self, alias: &Alias) -> Vec<(String, String, String)> {
        let Some(served) = &self.served else {
            return Vec::new();
        };
        let mut routes = Vec::new();
        for (template, methods) in served.templates() {
            let segments: Vec<&str> = template.split('/').collect();
            let Some(old) = alias.unmap(&segments) else {
                continue;
            };
            for method in methods {
                if alias.methods.is_empty() || alias.methods.contains(&method) {
                    routes.push((method, old.clone(), template.to_string()));
                }
            }
        }
        routes
    }
}

impl Alias {
    fn parse(config: &AliasConfig) -> Result<Self, String> {
        let prefix = config.path.ends_with("/*");
        if prefix != config.to.ends_with("/*") {
            return Err("`path` and `to` must both end in `/*` (a prefix) or neither".into());
        }
        for (key, value) in [("path", &config.path), ("to", &config.to)] {
            if !value.starts_with('/') {
                return Err(format!("`{key}` = `{value}` must start with `/`"));
            }
        }
        let split = |path: &str| -> Vec<String> {
            let path = path.strip_suffix("/*").unwrap_or(path);
            path.split('/').map(String::from).collect()
        };
        let from = split(&config.path);
        let to = split(&config.to);
        let names = |segments: &[String]| -> Vec<String> {
            let mut names: Vec<String> = segments.iter().filter(|s| is_param(s)).cloned().collect();
            names.sort();
            names
        };
        if names(&from) != names(&to) {
            return Err("`path` and `to` must name the same `{parameters}`".into());
        }
        let mut methods = Vec::new();
        for method in &config.methods {
            let upper = method.to_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&upper.as_str()) {
                return Err(format!(
                    "method `{method}`: expected GET, POST, PUT, PATCH or DELETE"
                ));
            }
            methods.push(upper);
        }
        Ok(Self {
            path: config.path.clone(),
            target: config.to.clone(),
            from,
            to,
            prefix,
            methods,
        })
    }

    /// The served path for the request path `wanted`, when this alias matches it.
    fn map(&self, wanted: &[&str]) -> Option<String> {
        translate(&self.from, &self.to, self.prefix, wanted)
    }

    /// The alias path of the served path `template`, when this alias leads to it.
    fn unmap(&self, template: &[&str]) -> Option<String> {
        translate(&self.to, &self.from, self.prefix, template)
    }
}

/// `path` matched against `pattern` (a `{name}` takes any non-empty segment; a prefix pattern
/// takes any rest), rewritten into `into` with the same values.
fn translate(pattern: &[String], into: &[String], prefix: bool, path: &[&str]) -> Option<String> {
    let fits = if prefix {
        path.len() > pattern.len()
    } else {
        path.len() == pattern.len()
    };
    if !fits {
        return None;
    }
    let mut values = Vec::new();
    for (expected, got) in pattern.iter().zip(path) {
        if is_param(expected) && !got.is_empty() {
            values.push((expected.as_str(), *got));
        } else if expected != got {
            return None;
        }
    }
    let mut out: Vec<&str> = into
        .iter()
        .map(|segment| {
            values
                .iter()
                .find(|(name, _)| name == segment)
                .map_or(segment.as_str(), |(_, value)| value)
        })
        .collect();
    out.extend(&path[pattern.len()..]);
    Some(out.join("/"))
}

fn is_param(segment: &str) -> bool {
    segment.len() > 2 && segment.starts_with('{') && segment.ends_with('}')
}

/// The operation id of an alias: the target's, with the alias path in it, e.g.
/// `push_via_sync` for `POST /sync`.
fn alias_id(id: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    format!("{id}_via_{}", words.join("_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"paths": {
        "/api/v1/sync/push": {"post": {"operationId": "push"}},
        "/api/v1/sync/status": {"get": {"operationId": "status"}},
        "/api/v1/sync/devices/{id}": {"get": {"operationId": "device"}, "put": {"operationId": "putDevice"}},
        "/health": {"get": {"operationId": "health"}}
    }}"#;

    fn alias(path: &str, to: &str, methods: &[&str]) -> AliasConfig {
        AliasConfig {
            path: path.into(),
            to: to.into(),
            methods: methods.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn exact_prefix_and_parameter_aliases_rewrite_requests() {
        let aliases = Aliases::resolve(
            &[
                alias("/sync", "/api/v1/sync/push", &["POST"]),
                alias("/api/sync/*", "/api/v1/sync/*", &[]),
                alias("/old/{id}", "/api/v1/sync/devices/{id}", &["GET"]),
            ],
            SPEC,
        )
        .unwrap();
        assert_eq!(
            aliases.rewrite("POST", "/sync").as_deref(),
            Some("/api/v1/sync/push")
        );
        assert_eq!(aliases.rewrite("GET", "/sync"), None, "POST only");
        assert_eq!(
            aliases.rewrite("PUT", "/api/sync/devices/7").as_deref(),
            Some("/api/v1/sync/devices/7")
        );
        assert_eq!(aliases.rewrite("GET", "/api/sync/nothing"), None);
        assert_eq!(
            aliases.rewrite("GET", "/old/x").as_deref(),
            Some("/api/v1/sync/devices/x")
        );
        assert_eq!(
            aliases.rewrite("POST", "/api/v1/sync/push"),
            None,
            "served as sent"
        );
    }

    #[test]
    fn aliases_are_documented_as_deprecated_copies() {
        let aliases =
            Aliases::resolve(&[alias("/api/sync/*", "/api/v1/sync/*", &[])], SPEC).unwrap();
        let mut document: Value = serde_json::from_str(SPEC).unwrap();
        aliases.document(&mut document);
        let put = &document["paths"]["/api/sync/devices/{id}"]["put"];
        assert_eq!(put["deprecated"], true);
        assert_eq!(put["operationId"], "putDevice_via_api_sync_devices_id");
        assert!(document["paths"]["/api/sync/push"]["post"].is_object());
        assert!(document["paths"]["/api/health"].is_null());
    }

    #[test]
    fn aliases_that_collide_or_lead_nowhere_are_refused() {
        let problems = Aliases::resolve(
            &[
                alias("/api/v1/sync/status", "/health", &[]),
                alias("/x", "/api/v1/sync/pushh", &[]),
                alias("/y/*", "/api/v1/sync/push", &[]),
                alias("/z", "/api/v1/sync/push", &["FETCH"]),
                alias("/w", "/api/v1/sync/push", &[]),
                alias("/w", "/api/v1/sync/push", &[]),
            ],
            SPEC,
        )
        .err()
        .unwrap();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("must both end"), "{problems:#?}");
        assert!(problems[1].contains("FETCH"), "{problems:#?}");
        assert!(problems[2].contains("already"), "{problems:#?}");
        assert!(problems[3].contains("pushh"), "{problems:#?}");
        assert!(problems[4].contains("earlier alias"), "{problems:#?}");
    }
}
