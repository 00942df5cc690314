use clap::Parser;
use std::process::ExitCode;
use syncgate::cli::{Cli, run};

fn main() -> ExitCode {
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
