//! The schema and API prefix that the OpenAPI service is being built for.
//!
//! poem-openapi asks an API for its metadata through functions without `self` (`meta()`,
//! `register()`), so the per-table API reads the schema from here. Builds are serialised by a
//! lock, and the service captures its document and routes while the lock is held, so two
//! servers in one process (tests) never see each other's schema.

use crate::schema::Schema;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

#[derive(Clone)]
pub struct BuildContext {
    pub schema: Arc<Schema>,
    pub prefix: String,
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());
static CURRENT: RwLock<Option<BuildContext>> = RwLock::new(None);

/// Holds the context for the duration of one build.
pub struct Building {
    _lock: MutexGuard<'static, ()>,
}

pub fn begin(context: BuildContext) -> Building {
    let lock = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *CURRENT
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(context);
    Building { _lock: lock }
}

impl Drop for Building {
    fn drop(&mut self) {
        *CURRENT
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }
}

/// The context of the build in progress, if any.
pub fn current() -> Option<BuildContext> {
    CURRENT
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Names in the OpenAPI metadata are `&'static str`; each distinct name is leaked once, so a
/// reload that keeps its tables leaks nothing new.
pub fn intern(name: &str) -> &'static str {
    use std::collections::HashSet;
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(existing) = names.get(name) {
        return existing;
    }
    let leaked: &'static str = Box::leak(name.to_string().into_boxed_str());
    names.insert(leaked);
    leaked
}
