//! syncgate: a sync gateway for offline-first applications, configured by a declarative schema.
//!
//! Layout: [`config`] (figment layers), [`schema`] (the declarative model), [`store`] (sea-orm,
//! system tables, schema tables), [`jobs`] (scheduler), [`server`] (HTTP), [`check`] and [`cli`].

pub mod api;
pub mod auth;
pub mod check;
pub mod cli;
pub mod config;
pub mod files;
pub mod jobs;
pub mod logging;
pub mod ops;
pub mod plugins;
pub mod schema;
pub mod server;
pub mod store;
pub mod suggest;
pub mod sync;
pub mod upstream;
