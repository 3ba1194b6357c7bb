//! `portico [OPTIONS] [ROOT]`: serve a folder over HTTP/1.1.

use std::process::ExitCode;

use portico::NativeHandler;
use portico::cli::{self, Cli};

fn main() -> ExitCode {
    let cli: Cli = cli::parse("portico");
    let run = || {
        let root = cli.serve.open_root()?;
        portico::serve("portico", &cli.serve, NativeHandler::new(root, cli.serve.site()?))
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => cli::fail("portico", &error),
    }
}
