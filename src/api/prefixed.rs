//! Serves a macro-derived API under the API prefix chosen in the config at run time.

use super::context;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem_openapi::OpenApi;
use poem_openapi::registry::{MetaApi, Registry};
use std::collections::HashMap;

pub struct Prefixed<T> {
    pub api: T,
    pub prefix: String,
}

impl<T: OpenApi> OpenApi for Prefixed<T> {
    fn meta() -> Vec<MetaApi> {
        let prefix = context::current().map(|c| c.prefix).unwrap_or_default();
        let mut apis = T::meta();
        for api in &mut apis {
            for path in &mut api.paths {
                path.path = format!("{prefix}{}", path.path);
            }
        }
        apis
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn add_routes(self, route_table: &mut HashMap<String, HashMap<Method, BoxEndpoint<'static>>>) {
        let mut own = HashMap::new();
        self.api.add_routes(&mut own);
        for (path, methods) in own {
            route_table.insert(format!("{}{path}", self.prefix), methods);
        }
    }
}
