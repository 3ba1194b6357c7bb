//! The command line both hosts share, and the one-line error exits.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
// Flags from the environment read as people write them: `1`, `yes`,
// `on`, `true` (and `0`, `no`, `off`, `false`).
use clap::builder::{BoolishValueParser, PossibleValuesParser, TypedValueParser as _};
use clap::parser::ValueSource;
use portico_config::{DEFAULT_MAX_CONNECTIONS, LogFormat, Options, parse};
use portico_core::Site;

use crate::shared::Config;

/// The options of `portico` (and, flattened into its own, `portico-wasi`).
#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// The directory to serve.
    #[arg(default_value = "static", env = "PORTICO_ROOT")]
    pub root: PathBuf,

    /// The port to listen on; 0 picks a free one.
    #[arg(short, long, default_value_t = 8080, value_parser = parse::port, env = "PORTICO_PORT", help_heading = LISTEN)]
    pub port: u16,

    /// The address to listen on, IPv4 or IPv6 (e.g. 0.0.0.0, ::1).
    #[arg(short, long, default_value = "127.0.0.1", value_parser = parse::ip, env = "PORTICO_BIND", help_heading = LISTEN)]
    pub bind: IpAddr,

    /// Connections open at once; a new one beyond it closes the longest-idle one (or gets 503
    /// if none is idle). Lowered to fit the open-file limit
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = parse::connections, env = "PORTICO_MAX_CONNECTIONS", help_heading = LISTEN)]
    pub max_connections: u32,

    /// Worker threads, each serving its share of the connections; 0: one per core (half the cores on a loopback address, whose clients share them)
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = parse::workers, env = "PORTICO_WORKERS", help_heading = LISTEN)]
    pub workers: u32,

    /// Seconds a response may wait for its client to take a byte; then it is dropped
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = parse::seconds, env = "PORTICO_SEND_TIMEOUT", help_heading = LISTEN)]
    pub send_timeout: u64,

    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 15, value_parser = parse::seconds, env = "PORTICO_IDLE_TIMEOUT", help_heading = LISTEN)]
    pub idle_timeout: u64,

    /// Seconds a client may take to send a whole request head once it has
    /// started one; then 408.
    #[arg(long, default_value_t = 10, value_parser = parse::seconds, env = "PORTICO_HEAD_TIMEOUT", help_heading = LISTEN)]
    pub head_timeout: u64,

    /// Do not print an access-log line per request.
    #[arg(short, long, env = "PORTICO_QUIET", value_parser = BoolishValueParser::new(), help_heading = LOGS)]
    pub quiet: bool,

    /// Access-log lines on stdout: Common Log Format, plus Referer and User-Agent, or JSON
    #[arg(long, value_name = "FORMAT", default_value_t = LogFormat::Common, value_parser = PossibleValuesParser::new(LogFormat::NAMES).map(|name| LogFormat::from_name(&name).unwrap_or_default()), env = "PORTICO_LOG_FORMAT", help_heading = LOGS)]
    pub log_format: LogFormat,

    /// A file to serve for a directory (repeatable, first found wins) [default: index.html]
    #[arg(long = "index", value_name = "NAME", value_parser = parse::index, env = "PORTICO_INDEX", value_delimiter = ',', help_heading = SITE)]
    pub index: Vec<String>,

    /// Add 'Name: value' to every response (repeatable; replaces portico's own)
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse::header, env = "PORTICO_HEADER", value_delimiter = '\n', help_heading = SITE)]
    pub header: Vec<(String, String)>,

    /// Cache-Control for files, e.g. 'max-age=3600'
    #[arg(long, value_name = "VALUE", value_parser = parse::cache_control, env = "PORTICO_CACHE_CONTROL", help_heading = SITE)]
    pub cache_control: Option<String>,

    /// Serve and list names starting with '.' (.well-known always is served)
    #[arg(long, env = "PORTICO_HIDDEN", value_parser = BoolishValueParser::new(), help_heading = SITE)]
    pub hidden: bool,

    /// Answer a directory without an index file with 404 instead of a listing
    #[arg(long, env = "PORTICO_NO_LISTING", value_parser = BoolishValueParser::new(), help_heading = SITE)]
    pub no_listing: bool,

    /// Allow cross-origin reads: 'Access-Control-Allow-Origin: *' and CORS preflights answered
    #[arg(long, env = "PORTICO_CORS", value_parser = BoolishValueParser::new(), help_heading = SITE)]
    pub cors: bool,

    /// Serve FILE (relative to the root) with 200 for a missing page a browser navigates to
    /// (a request that accepts text/html); assets still get 404
    #[arg(long, value_name = "FILE", value_parser = parse::fallback, env = "PORTICO_FALLBACK", help_heading = SITE)]
    pub fallback: Option<String>,

    /// A single-page app: the same as --fallback index.html
    #[arg(long, conflicts_with = "fallback", env = "PORTICO_SPA", value_parser = BoolishValueParser::new(), help_heading = SITE)]
    pub spa: bool,

    /// Keep up to SIZE of files compressed on the fly (e.g. 64M; 0: off): a compressible file
    /// without a .br/.zst/.gz sibling is compressed once per coding, off the event loop, and
    /// served like a sibling from then on
    #[arg(long, value_name = "SIZE", default_value = "64M", value_parser = parse::size, env = "PORTICO_COMPRESS_CACHE", help_heading = SITE)]
    pub compress_cache: u64,

    /// Media types compressed on the fly, comma-separated, 'type/*' for a whole type [default:
    /// text/*, JavaScript, JSON, XML, SVG, wasm, fonts not compressed already]
    #[arg(long, value_name = "TYPES", value_parser = parse::media_range, env = "PORTICO_COMPRESS_TYPES", value_delimiter = ',', help_heading = SITE)]
    pub compress_types: Vec<String>,

    /// Read options from this TOML file (command line and PORTICO_* variables win over it)
    #[arg(long, value_name = "FILE", env = "PORTICO_CONFIG", help_heading = CONFIG)]
    pub config: Option<PathBuf>,

    /// Print the effective configuration as TOML and exit
    #[arg(long, help_heading = CONFIG)]
    pub print_config: bool,

    /// Print a completion script for SHELL and exit
    #[arg(long, value_name = "SHELL", help_heading = CONFIG)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the manual page (roff) and exit
    #[arg(long, help_heading = CONFIG)]
    pub man: bool,

    /// Every option's value once the configuration file is read (by
    /// [`parse`] and [`reload`]): what the server runs with.
    #[arg(skip)]
    pub options: Options,
}

const LISTEN: &str = "Listening";
const SITE: &str = "What is served";
const LOGS: &str = "Logs";
const CONFIG: &str = "Configuration";

impl ServeArgs {
    /// The address to bind.
    pub fn addr(&self) -> SocketAddr {
        self.options.listening().addr
    }

    /// The socket configuration the options describe.
    pub fn config(&self) -> Config {
        let listening = self.options.listening();
        Config {
            max_connections: listening.max_connections,
            workers: listening.workers,
            send_timeout: listening.send_timeout,
            access_log: listening.access_log,
            ..Config::default()
        }
    }

    /// The web root the options name, opened, compressing on the fly as
    /// they say, large directories read off the loop.
    pub fn open_root(&self) -> anyhow::Result<crate::RootDir> {
        let options = &self.options;
        crate::RootDir::open(&options.root)?
            .compressing(options.compress_cache, options.compress_types.clone())
            .context("cannot start compressing on the fly")?
            .listing_off_loop()
            .context("cannot start reading large directories off the loop")
    }

    /// The site configuration the options describe: the one place either
    /// host builds it (portico-wasi hands it to its guest too).
    pub fn site(&self) -> anyhow::Result<Site> {
        Ok(self.options.site()?)
    }

    /// The options as the command line and the environment give them (the
    /// defaults elsewhere), before the configuration file.
    fn given(&self) -> Options {
        let mut options = Options::default();
        options.root = self.root.clone();
        options.port = self.port;
        options.bind = self.bind;
        options.max_connections = self.max_connections;
        options.workers = self.workers;
        options.send_timeout = self.send_timeout;
        options.idle_timeout = self.idle_timeout;
        options.head_timeout = self.head_timeout;
        options.quiet = self.quiet;
        options.log_format = self.log_format;
        options.index = self.index.clone();
        options.headers = self.header.clone();
        options.cache_control = self.cache_control.clone();
        options.hidden = self.hidden;
        options.listing = !self.no_listing;
        options.cors = self.cors;
        options.fallback = self.fallback.clone();
        options.spa = self.spa;
        options.compress_cache = self.compress_cache;
        if !self.compress_types.is_empty() {
            options.compress_types = self.compress_types.clone();
        }
        options
    }

    /// Fill [`ServeArgs::options`]: the command line and the environment,
    /// then the configuration file (if one is named) under them.
    fn resolve(&mut self, matches: &clap::ArgMatches) -> anyhow::Result<()> {
        let mut options = self.given();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the configuration '{}'", path.display()))?;
            options.apply_file(&text, path, |key| {
                // The file's keys are the long options, but for these two.
                let id = match key {
                    "headers" => "header".to_owned(),
                    "listing" => "no_listing".to_owned(),
                    key => key.replace('-', "_"),
                };
                matches!(
                    matches.value_source(&id),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })?;
        }
        self.options = options;
        Ok(())
    }
}

/// `portico`'s own command line.
#[derive(Parser, Debug)]
#[command(
    name = "portico",
    version,
    about = "Serve a folder over HTTP/1.1: correct, fast and safe."
)]
pub struct Cli {
    /// Options shared with portico-wasi.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// A command line that holds the shared options.
pub trait Serving {
    /// The shared options.
    fn serve_args(&mut self) -> &mut ServeArgs;
}

impl Serving for Cli {
    fn serve_args(&mut self) -> &mut ServeArgs {
        &mut self.serve
    }
}

/// Parse the command line, then `PORTICO_*` variables and the
/// configuration file under it; on a usage or configuration error print
/// one line (`NAME: error: ...`) and exit 2. `--help`, `--version`,
/// `--print-config`, `--completions` and `--man` print and exit 0.
pub fn parse<T: Parser + Serving>(name: &str) -> T {
    let mut command = T::command();
    let matches = command.try_get_matches_from_mut(std::env::args_os());
    let parsed = matches.and_then(|matches| {
        // Not `from_arg_matches_mut`: it takes the values out, and the
        // configuration file needs to know which options were given.
        T::from_arg_matches(&matches).map(|args| (args, matches))
    });
    let (mut args, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let rendered = error.to_string();
            // The first paragraph, on one line: a value with a newline in
            // it (`--cache-control $'a\nb'`) shows as `\n`.
            let first = rendered.split("\n\n").next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first).trim_end();
            let first = first.replace("\n  [possible values", " [possible values");
            let first = first.replace('\n', "\\n");
            eprintln!("{name}: error: {first} (see --help)");
            std::process::exit(2);
        }
    };
    let serve = args.serve_args();
    if let Some(shell) = serve.completions {
        clap_complete::generate(shell, &mut command, name, &mut std::io::stdout());
        std::process::exit(0);
    }
    if serve.man {
        let man = clap_mangen::Man::new(command);
        if let Err(error) = man.render(&mut std::io::stdout()) {
            eprintln!("{name}: error: cannot write the manual page: {error}");
            std::process::exit(1);
        }
        std::process::exit(0);
    }
    // Kept for SIGHUP: a reload reads the same command line again.
    let _ = INVOCATION.set(matches.clone());
    if let Err(error) = serve.resolve(&matches) {
        eprintln!("{name}: error: {}", one_line(&format!("{error:#}")));
        std::process::exit(2);
    }
    let _ = STARTED.set(serve.options.clone());
    if serve.print_config {
        let root = &serve.options.root;
        // Absolute: a relative root in a file is read relative to the file.
        let absolute = std::path::absolute(root).unwrap_or_else(|_| root.clone());
        match portico_config::effective(&serve.options, absolute) {
            Ok(text) => print!("{text}"),
            Err(error) => {
                eprintln!("{name}: error: {}", one_line(&format!("{error:#}")));
                std::process::exit(1);
            }
        }
        std::process::exit(0);
    }
    args
}

/// The command line as parsed at start, and the options the server
/// started with.
static INVOCATION: std::sync::OnceLock<clap::ArgMatches> = std::sync::OnceLock::new();
static STARTED: std::sync::OnceLock<Options> = std::sync::OnceLock::new();

/// What a reload read.
#[derive(Debug)]
pub struct Reload {
    /// The site to serve from now on.
    pub site: Site,
    /// The settings whose values changed but apply only at start (file
    /// keys, as [`Options::restart_only_changes`] names them): kept as
    /// they were until a restart.
    pub not_applied: Vec<&'static str>,
}

/// The site as the command line given at start and the configuration
/// file as it is now say (`SIGHUP`), and what of the rest changed.
pub fn reload() -> anyhow::Result<Reload> {
    use clap::FromArgMatches as _;
    let matches = INVOCATION.get().context("no command line to reload from")?;
    let mut args = ServeArgs::from_arg_matches(matches)?;
    args.resolve(matches)?;
    let not_applied = STARTED
        .get()
        .map(|started| started.restart_only_changes(&args.options))
        .unwrap_or_default();
    Ok(Reload { site: args.site()?, not_applied })
}

/// A message that may span lines (wasmtime's errors, parser messages) as
/// the one line every message here is.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Print a fatal error as one line and give the exit code for it.
pub fn fail(name: &str, error: &anyhow::Error) -> ExitCode {
    eprintln!("{name}: error: {}", one_line(&format!("{error:#}")));
    ExitCode::FAILURE
}
