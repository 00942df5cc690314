//! SQLite allocates through mimalloc, the allocator of the rest of the gateway.
//!
//! Left to glibc, SQLite's large allocations — a page of the feed is one string SQLite builds,
//! 0.3 to 1.5 MB — were mapped fresh from the kernel and unmapped again for every page: in a
//! profile of the changes feed, page faults, zeroing and unmapping were a tenth of the
//! gateway's time. mimalloc keeps such blocks for reuse.

use libmimalloc_sys as mi;
use libsqlite3_sys::{SQLITE_CONFIG_MALLOC, SQLITE_OK, sqlite3_config, sqlite3_mem_methods};
use std::ffi::{c_int, c_void};

/// Makes SQLite allocate with mimalloc; call before the first database is opened (SQLite
/// ignores it afterwards, and keeps the allocator it started with). Answers whether SQLite took it.
pub fn use_mimalloc() -> bool {
    let methods = sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: SQLite copies the methods before returning; every function is safe to call from
    // any thread with the pointers SQLite passes (mimalloc is thread-safe).
    unsafe {
        sqlite3_config(SQLITE_CONFIG_MALLOC, &methods as *const sqlite3_mem_methods) == SQLITE_OK
    }
}

unsafe extern "C" fn malloc(bytes: c_int) -> *mut c_void {
    // SAFETY: a plain allocation; SQLite never asks for a negative size.
    unsafe { mi::mi_malloc(bytes.max(0) as usize) }
}

unsafe extern "C" fn free(block: *mut c_void) {
    // SAFETY: SQLite frees only blocks these functions gave it.
    unsafe { mi::mi_free(block) }
}

unsafe extern "C" fn realloc(block: *mut c_void, bytes: c_int) -> *mut c_void {
    // SAFETY: as for `free`.
    unsafe { mi::mi_realloc(block, bytes.max(0) as usize) }
}

unsafe extern "C" fn size(block: *mut c_void) -> c_int {
    // SAFETY: as for `free`.
    let usable = unsafe { mi::mi_usable_size(block) };
    c_int::try_from(usable).unwrap_or(c_int::MAX)
}

extern "C" fn roundup(bytes: c_int) -> c_int {
    (bytes + 7) & !7
}

extern "C" fn init(_: *mut c_void) -> c_int {
    SQLITE_OK
}

extern "C" fn shutdown(_: *mut c_void) {}
