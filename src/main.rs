use clap::Parser;
use std::process::ExitCode;
use syncgate::cli::{Cli, run};

/// mimalloc rather than glibc malloc: request handling allocates many small JSON values, and
/// glibc's allocator took about a fifth of the gateway's CPU time in a push profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    small_pages_only();
    // Before any database opens: SQLite keeps the allocator it starts with.
    syncgate::store::sqlite_memory::use_mimalloc();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // One paragraph: the outermost message already says what to do.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Turns transparent huge pages off for this process. mimalloc asks the kernel for huge pages
/// (2 MB) on its arenas, and a huge page is backed whole however little of it is used: with
/// them, 19,000 open streams held 22 KB of memory each (`VmRSS` growth), without them 14 KB —
/// a connection's buffers are reserved at 8 KB but mostly untouched. Push and live-delivery
/// figures did not move beyond run-to-run noise (BENCHMARKS.md).
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
