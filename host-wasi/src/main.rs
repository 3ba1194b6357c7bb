//! `portico-wasi [OPTIONS] [ROOT]`: portico with its HTTP logic in a
//! wasmtime sandbox that can read the web root and nothing else.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use portico::cli::{self, ServeArgs, Serving};
use portico_wasi::{GUEST, WasiHandler};

#[derive(Parser, Debug)]
#[command(
    name = "portico-wasi",
    version,
    about = "Serve a folder over HTTP/1.1, with the HTTP logic sandboxed in WebAssembly."
)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,

    /// Load this guest module instead of the built-in one.
    #[arg(long, value_name = "PATH", help_heading = "Sandbox")]
    module: Option<PathBuf>,

    /// Write the built-in guest module to PATH and exit (to embed it
    /// elsewhere; see docs/ABI.md).
    #[arg(long, value_name = "PATH", help_heading = "Sandbox")]
    export_module: Option<PathBuf>,
}

impl Serving for Cli {
    fn serve_args(&mut self) -> &mut ServeArgs {
        &mut self.serve
    }
}

fn main() -> ExitCode {
    let cli: Cli = cli::parse("portico-wasi");
    let run = || {
        if let Some(path) = &cli.export_module {
            return std::fs::write(path, GUEST)
                .with_context(|| format!("cannot write '{}'", path.display()));
        }
        let wasm = match &cli.module {
            Some(path) => std::fs::read(path)
                .with_context(|| format!("cannot read module '{}'", path.display()))?,
            None => GUEST.to_vec(),
        };
        let handler = WasiHandler::serving(&wasm, cli.serve.open_root()?, cli.serve.site()?)?;
        portico::serve("portico-wasi", &cli.serve, handler)
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => cli::fail("portico-wasi", &error),
    }
}
