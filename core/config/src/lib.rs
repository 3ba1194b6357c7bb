//! # portico-config
//!
//! A portico server's options, wherever they come from: a TOML file, the
//! `PORTICO_*` environment variables, or option values a command line
//! parsed, in; a [`Site`] for the core and the [`Listening`] settings for
//! a server loop, out. Every host builds its site through this crate:
//! `portico` and `portico-wasi` from their command line, file and
//! environment; a wasi:http component from its environment alone.
//!
//! It does no I/O (the host reads the file and the environment and hands
//! over their text) and needs no sockets, no libc and no command-line
//! parser, so it builds for every target the core does.
//!
//! ```text
//!  defaults ─▶ Options::apply_file(TOML text) ─▶ Options::apply_env(PORTICO_*)
//!           ─▶ (a command line's own values) ─▶ Options ─▶ site() ─▶ Site
//!                                                        ─▶ listening() ─▶ Listening
//! ```
//!
//! Precedence, highest first: the command line, the environment, the file,
//! the defaults. Each layer takes a `given` test that says which options a
//! higher layer set, so it leaves those alone. Every value is checked by
//! the same parser in [`parse`] whichever layer it comes from, and every
//! error is one line that names where the bad value was.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod file;
pub mod parse;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use portico_core::{Limits, PathRule, Site, SiteError};
use serde::{Deserialize, Serialize};

pub use file::effective;

/// The most worker threads a server may be asked for: each may hold a
/// sandbox instance of its own.
pub const MAX_WORKERS: u32 = 128;

/// The connection cap when none is given: a memory guard rather than a
/// limit anyone should meet (an idle connection costs a few hundred bytes
/// in portico, a socket's buffers in the kernel). A host lowers it to fit
/// its open-file limit.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16_384;

/// An option value that cannot be used, as the one line a host prints:
/// where it came from (a file and its line, a variable), the option and
/// why.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The format of the access-log lines:
///
/// - `common`, the Common Log Format:
///   `127.0.0.1 - - [02/Dec/2026:02:03:04 +0000] "GET / HTTP/1.1" 200 1234`;
/// - `combined`, that plus `"referer" "user-agent"` (`"-"` when not sent),
///   as Apache's and nginx's `combined`;
/// - `json`, one object per line with the keys `time` (RFC 3339, UTC,
///   milliseconds), `remote`, `method`, `path`, `protocol`, `status`,
///   `bytes`, `duration_ms`, `user_agent` and `referer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// The Common Log Format.
    #[default]
    Common,
    /// Common, plus Referer and User-Agent.
    Combined,
    /// One JSON object a line.
    Json,
}

impl LogFormat {
    /// Every format's name, as options and files spell them.
    pub const NAMES: [&'static str; 3] = ["common", "combined", "json"];

    /// The format of this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "common" => Some(Self::Common),
            "combined" => Some(Self::Combined),
            "json" => Some(Self::Json),
            _ => None,
        }
    }

    /// Its name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Combined => "combined",
            Self::Json => "json",
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[rules]]` table: settings for the files under a path pattern.
#[derive(Deserialize, Serialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleConfig {
    /// The pattern (`/assets/**`, `/*.html`).
    pub path: String,
    /// `Cache-Control` for the files it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Fields for the files it matches.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl RuleConfig {
    /// The core's rule, checked.
    pub fn rule(&self) -> Result<PathRule, SiteError> {
        let mut rule =
            PathRule::new(self.path.clone())?.with_cache_control(self.cache_control.clone())?;
        for (name, value) in &self.headers {
            rule = rule.with_header(name.clone(), value.clone())?;
        }
        Ok(rule)
    }
}

/// Every option a portico server takes, with its value. The keys of a
/// file and the `PORTICO_*` variables are these names in kebab case and
/// upper snake case (`max-connections`, `PORTICO_MAX_CONNECTIONS`).
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Options {
    /// The directory to serve.
    pub root: PathBuf,
    /// The port to listen on; 0 picks a free one.
    pub port: u16,
    /// The address to listen on.
    pub bind: IpAddr,
    /// Connections open at once.
    pub max_connections: u32,
    /// Worker threads; 0: the host's default.
    pub workers: u32,
    /// Seconds a response may wait for its client to take a byte.
    pub send_timeout: u64,
    /// Seconds an idle keep-alive connection stays open.
    pub idle_timeout: u64,
    /// Seconds a client may take to send a whole request head.
    pub head_timeout: u64,
    /// No access log.
    pub quiet: bool,
    /// The access log's format.
    pub log_format: LogFormat,
    /// Files to serve for a directory, first found wins; empty: `index.html`.
    pub index: Vec<String>,
    /// Fields added to every response, in order.
    pub headers: Vec<(String, String)>,
    /// `Cache-Control` for files.
    pub cache_control: Option<String>,
    /// Serve and list names starting with `.`.
    pub hidden: bool,
    /// List a directory without an index file.
    pub listing: bool,
    /// Allow cross-origin reads.
    pub cors: bool,
    /// A page for a missing page a browser navigates to.
    pub fallback: Option<String>,
    /// A single-page app: `fallback` is `index.html`.
    pub spa: bool,
    /// Path rules, in order.
    pub rules: Vec<RuleConfig>,
    /// Bytes of variants compressed on the fly to keep; 0: no compression
    /// on the fly.
    pub compress_cache: u64,
    /// Media types (or `type/*`) compressed on the fly.
    pub compress_types: Vec<String>,
}

/// The cache of variants compressed on the fly, by default: 64 MiB.
pub const DEFAULT_COMPRESS_CACHE: u64 = 64 << 20;

/// The media types compressed on the fly by default: text and the
/// text-like formats of the web (scripts, data, SVG, WebAssembly, fonts
/// that are not compressed already).
pub const DEFAULT_COMPRESS_TYPES: &[&str] = &[
    "text/*",
    "application/javascript",
    "application/json",
    "application/ld+json",
    "application/manifest+json",
    "application/xml",
    "application/xhtml+xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/wasm",
    "image/svg+xml",
    "image/bmp",
    "font/ttf",
    "font/otf",
    "application/vnd.ms-fontobject",
];

impl Default for Options {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            root: PathBuf::from("static"),
            port: 8080,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            workers: 0,
            send_timeout: 30,
            idle_timeout: limits.idle_timeout.as_secs(),
            head_timeout: limits.head_timeout.as_secs(),
            quiet: false,
            log_format: LogFormat::Common,
            index: Vec::new(),
            headers: Vec::new(),
            cache_control: None,
            hidden: false,
            listing: true,
            cors: false,
            fallback: None,
            spa: false,
            rules: Vec::new(),
            compress_cache: DEFAULT_COMPRESS_CACHE,
            compress_types: DEFAULT_COMPRESS_TYPES.iter().map(|&t| t.to_owned()).collect(),
        }
    }
}

/// What a server loop needs of the options besides the site.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Listening {
    /// The address to bind.
    pub addr: SocketAddr,
    /// Connections open at once.
    pub max_connections: usize,
    /// Worker threads; 0: the host's default.
    pub workers: usize,
    /// How long a response may wait for its client to take a byte.
    pub send_timeout: Duration,
    /// The access log's format, or none.
    pub access_log: Option<LogFormat>,
}

impl Options {
    /// With this root.
    #[must_use]
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The site these options describe: the one place every host builds
    /// it (portico-wasi hands it to its guest too).
    pub fn site(&self) -> Result<Site, SiteError> {
        let limits = Limits::default()
            .with_idle_timeout(Duration::from_secs(self.idle_timeout))
            .with_head_timeout(Duration::from_secs(self.head_timeout));
        let mut site = Site::default()
            .with_limits(limits)
            .with_hidden(self.hidden)
            .with_listings(self.listing)
            .with_cors(self.cors);
        let fallback = if self.spa { Some("index.html") } else { self.fallback.as_deref() };
        site = site.with_fallback(fallback)?;
        if !self.index.is_empty() {
            site = site.with_index_names(self.index.iter().cloned())?;
        }
        site = site.with_cache_control(self.cache_control.clone())?;
        for (name, value) in &self.headers {
            site = site.with_header(name.clone(), value.clone())?;
        }
        for rule in &self.rules {
            site = site.with_rule(rule.rule()?);
        }
        Ok(site)
    }

    /// The settings a server applies only when it starts (where it
    /// listens, the root, the connection cap, the workers, the deadlines,
    /// the access log and compression on the fly), by their file keys, that differ between
    /// `self` (as the server started) and `other` (a reload): what a
    /// reload to `other` leaves as it was until a restart. Everything
    /// else goes into [`Options::site`] and applies at once.
    #[must_use]
    pub fn restart_only_changes(&self, other: &Self) -> Vec<&'static str> {
        let differs = [
            ("root", self.root != other.root),
            ("port", self.port != other.port),
            ("bind", self.bind != other.bind),
            ("max-connections", self.max_connections != other.max_connections),
            ("workers", self.workers != other.workers),
            ("send-timeout", self.send_timeout != other.send_timeout),
            ("idle-timeout", self.idle_timeout != other.idle_timeout),
            ("head-timeout", self.head_timeout != other.head_timeout),
            ("quiet", self.quiet != other.quiet),
            ("log-format", self.log_format != other.log_format),
            ("compress-cache", self.compress_cache != other.compress_cache),
            ("compress-types", self.compress_types != other.compress_types),
        ];
        differs.into_iter().filter_map(|(key, changed)| changed.then_some(key)).collect()
    }

    /// The listening settings these options describe.
    #[must_use]
    pub fn listening(&self) -> Listening {
        Listening {
            addr: SocketAddr::new(self.bind, self.port),
            max_connections: self.max_connections as usize,
            workers: self.workers as usize,
            send_timeout: Duration::from_secs(self.send_timeout),
            access_log: (!self.quiet).then_some(self.log_format),
        }
    }

    /// Apply `PORTICO_*` variables (all of the environment may be passed:
    /// other names are ignored) to every option `given` does not name
    /// (by its file key, `max-connections`), each value checked as the
    /// same option on a command line is. `PORTICO_HEADER` holds fields
    /// one a line, `PORTICO_INDEX` names separated by commas; flags read
    /// `1`, `yes`, `on`, `true` and `0`, `no`, `off`, `false`. A host with
    /// a command-line parser that reads the environment itself (clap's
    /// `env`) does not call this.
    pub fn apply_env<K, V>(
        &mut self,
        vars: impl IntoIterator<Item = (K, V)>,
        given: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (name, value) in vars {
            let (name, value) = (name.as_ref(), value.as_ref());
            let Some(key) = name.strip_prefix("PORTICO_") else { continue };
            let key = key.to_ascii_lowercase().replace('_', "-");
            // The variables name options as the command line does; the
            // file key says which option it is.
            let key = key.as_str();
            let option = match key {
                "header" => "headers",
                "no-listing" => "listing",
                "headers" | "listing" => continue,
                other => other,
            };
            if given(option) {
                continue;
            }
            let bad = |why: String| ConfigError::new(format!("{name}: {why}"));
            let flag = || parse::boolish(value).map_err(bad);
            match key {
                "root" => self.root = PathBuf::from(value),
                "port" => self.port = parse::port(value).map_err(bad)?,
                "bind" => self.bind = parse::ip(value).map_err(bad)?,
                "max-connections" => {
                    self.max_connections = parse::connections(value).map_err(bad)?
                }
                "workers" => self.workers = parse::workers(value).map_err(bad)?,
                "send-timeout" => self.send_timeout = parse::seconds(value).map_err(bad)?,
                "idle-timeout" => self.idle_timeout = parse::seconds(value).map_err(bad)?,
                "head-timeout" => self.head_timeout = parse::seconds(value).map_err(bad)?,
                "quiet" => self.quiet = flag()?,
                "log-format" => self.log_format = parse::log_format(value).map_err(bad)?,
                "index" => {
                    self.index = value
                        .split(',')
                        .map(parse::index)
                        .collect::<Result<_, _>>()
                        .map_err(bad)?;
                }
                "header" => {
                    self.headers = value
                        .lines()
                        .filter(|line| !line.trim().is_empty())
                        .map(parse::header)
                        .collect::<Result<_, _>>()
                        .map_err(bad)?;
                }
                "cache-control" => {
                    self.cache_control = Some(parse::cache_control(value).map_err(bad)?)
                }
                "hidden" => self.hidden = flag()?,
                "no-listing" => self.listing = !flag()?,
                "cors" => self.cors = flag()?,
                "fallback" => self.fallback = Some(parse::fallback(value).map_err(bad)?),
                "spa" => self.spa = flag()?,
                "compress-cache" => self.compress_cache = parse::size(value).map_err(bad)?,
                "compress-types" => {
                    self.compress_types = value
                        .split(',')
                        .filter(|t| !t.trim().is_empty())
                        .map(parse::media_range)
                        .collect::<Result<_, _>>()
                        .map_err(bad)?;
                }
                // PORTICO_CONFIG names the file, read by the host; other
                // names are no option.
                _ => {}
            }
        }
        if self.spa && self.fallback.is_some() {
            return Err(ConfigError::new("PORTICO_SPA and PORTICO_FALLBACK cannot both be set"));
        }
        Ok(())
    }
}
