use clap::Parser;
use std::process::ExitCode;
use syncgate::cli::{Cli, run};

/// mimalloc rather than glibc malloc: request handling allocates many small JSON values, and
/// glibc's allocator took about a fifth of the gateway's CPU time in a push profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
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
