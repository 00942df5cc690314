//! The sync core: the write pipeline (`write`, used by push, conflict resolution, snapshots and
//! attachments), the read side (`feed`: the changes feed, pull, live streams), the manual
//! conflict queue, devices and their status. It knows nothing of HTTP; `api` maps its results and errors.

mod access;
pub mod activity;
pub mod conflicts;
pub mod data;
pub mod devices;
mod error;
pub mod external;
pub mod feed;
pub mod keys;
pub mod lookup;
pub mod push;
mod resolve;
pub mod status;
pub mod types;
pub mod write;

pub use access::{
    Access, access, admits, narrowed_to_branch, readable, usable_tables, visible_row,
};
pub use error::SyncError;
