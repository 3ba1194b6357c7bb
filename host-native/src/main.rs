//! `portico [OPTIONS] [ROOT]`: serve a folder over HTTP/1.1.

use std::process::ExitCode;

use portico::cli::{self, Cli};
use portico::{NativeHandler, RootDir};

fn main() -> ExitCode {
    let cli: Cli = cli::parse("portico");
    let run = || {
        let root = RootDir::open(&cli.serve.options.root)?;
        portico::serve("portico", &cli.serve, NativeHandler::new(root, cli.serve.site()?))
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => cli::fail("portico", &error),
    }
}
