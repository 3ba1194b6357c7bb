//! Options from a TOML file, and the effective options as one.
//!
//! An unknown key or a bad value is one error that names the file, the
//! line and the key.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{ConfigError, Options, RuleConfig, parse};

/// What a configuration file may say: every option (under its long
/// name), plus `[[rules]]` for parts of the site.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    root: Option<Spanned<PathBuf>>,
    port: Option<Spanned<u16>>,
    bind: Option<Spanned<String>>,
    max_connections: Option<Spanned<u32>>,
    workers: Option<Spanned<u32>>,
    send_timeout: Option<Spanned<u64>>,
    idle_timeout: Option<Spanned<u64>>,
    head_timeout: Option<Spanned<u64>>,
    quiet: Option<Spanned<bool>>,
    log_format: Option<Spanned<String>>,
    index: Option<Spanned<Vec<String>>>,
    headers: Option<Spanned<BTreeMap<String, String>>>,
    cache_control: Option<Spanned<String>>,
    hidden: Option<Spanned<bool>>,
    listing: Option<Spanned<bool>>,
    cors: Option<Spanned<bool>>,
    fallback: Option<Spanned<String>>,
    spa: Option<Spanned<bool>>,
    compress_cache: Option<Spanned<SizeValue>>,
    compress_types: Option<Spanned<Vec<String>>>,
    rules: Option<Vec<Spanned<RuleConfig>>>,
}

/// A size as a file may give it: a number of bytes, or text (`"64M"`).
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

impl Options {
    /// Apply the TOML `text` of the file `path` (shown in errors; a
    /// relative `root` in it is relative to the file's directory) to every
    /// option `given` does not name (by its key: `max-connections`).
    /// Each value is checked as the same option on a command line is.
    pub fn apply_file(
        &mut self,
        text: &str,
        path: &Path,
        given: impl Fn(&str) -> bool,
    ) -> Result<(), ConfigError> {
        let shown = path.display().to_string();
        let file: FileConfig = toml::from_str(text).map_err(|error| {
            let line = error.span().map_or(0, |span| line_of(text, &span));
            ConfigError::new(format!("{shown}:{line}: {}", one_line(error.message())))
        })?;
        let bad = |span: Range<usize>, key: &str, why: String| {
            ConfigError::new(format!("{shown}:{}: {key}: {why}", line_of(text, &span)))
        };
        let unset = |key: &str| !given(key);

        if let Some(value) = file.root
            && unset("root")
        {
            // Relative to the file, as people expect of paths in one.
            let root = value.get_ref();
            self.root = if root.is_absolute() {
                root.clone()
            } else {
                path.parent().unwrap_or(Path::new(".")).join(root)
            };
        }
        if let Some(value) = file.port
            && unset("port")
        {
            self.port = *value.get_ref();
        }
        if let Some(value) = file.bind
            && unset("bind")
        {
            self.bind = parse::ip(value.get_ref()).map_err(|why| bad(value.span(), "bind", why))?;
        }
        if let Some(value) = file.max_connections
            && unset("max-connections")
        {
            self.max_connections = parse::connections_value(*value.get_ref())
                .map_err(|why| bad(value.span(), "max-connections", why))?;
        }
        if let Some(value) = file.workers
            && unset("workers")
        {
            self.workers = parse::workers_value(*value.get_ref())
                .map_err(|why| bad(value.span(), "workers", why))?;
        }
        for (value, key) in [
            (file.idle_timeout, "idle-timeout"),
            (file.head_timeout, "head-timeout"),
            (file.send_timeout, "send-timeout"),
        ] {
            if let Some(value) = value
                && unset(key)
            {
                let seconds = parse::seconds_value(*value.get_ref())
                    .map_err(|why| bad(value.span(), key, why))?;
                match key {
                    "idle-timeout" => self.idle_timeout = seconds,
                    "send-timeout" => self.send_timeout = seconds,
                    _ => self.head_timeout = seconds,
                }
            }
        }
        if let Some(value) = file.log_format
            && unset("log-format")
        {
            self.log_format = parse::log_format(value.get_ref())
                .map_err(|why| bad(value.span(), "log-format", why))?;
        }
        if let Some(value) = file.index
            && unset("index")
        {
            for name in value.get_ref() {
                parse::index(name).map_err(|why| bad(value.span(), "index", why))?;
            }
            self.index = value.into_inner();
        }
        if let Some(value) = file.headers
            && unset("headers")
        {
            let span = value.span();
            self.headers = value
                .into_inner()
                .into_iter()
                .map(|(name, field)| {
                    parse::header(&format!("{name}: {field}"))
                        .map_err(|why| bad(span.clone(), "headers", why))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(value) = file.cache_control
            && unset("cache-control")
        {
            let checked = parse::cache_control(value.get_ref())
                .map_err(|why| bad(value.span(), "cache-control", why))?;
            self.cache_control = Some(checked);
        }
        if let Some(value) = file.fallback
            && unset("fallback")
            && unset("spa")
        {
            let checked = parse::fallback(value.get_ref())
                .map_err(|why| bad(value.span(), "fallback", why))?;
            self.fallback = Some(checked);
        }
        for (value, key, set) in [
            (file.quiet, "quiet", &mut self.quiet as &mut bool),
            (file.hidden, "hidden", &mut self.hidden),
            (file.cors, "cors", &mut self.cors),
            (file.spa, "spa", &mut self.spa),
            (file.listing, "listing", &mut self.listing),
        ] {
            if let Some(value) = value
                && unset(key)
            {
                *set = *value.get_ref();
            }
        }
        if self.spa && self.fallback.is_some() {
            return Err(ConfigError::new(format!("{shown}: spa and fallback cannot both be set")));
        }
        if let Some(value) = file.compress_cache
            && unset("compress-cache")
        {
            let span = value.span();
            self.compress_cache = match value.into_inner() {
                SizeValue::Bytes(bytes) => bytes,
                SizeValue::Text(text) => {
                    parse::size(&text).map_err(|why| bad(span, "compress-cache", why))?
                }
            };
        }
        if let Some(value) = file.compress_types
            && unset("compress-types")
        {
            let span = value.span();
            self.compress_types = value
                .into_inner()
                .iter()
                .map(|t| parse::media_range(t))
                .collect::<Result<_, _>>()
                .map_err(|why| bad(span, "compress-types", why))?;
        }
        for rule in file.rules.unwrap_or_default() {
            let span = rule.span();
            let rule = rule.into_inner();
            rule.rule().map_err(|error| bad(span, "rules", error.to_string()))?;
            self.rules.push(rule);
        }
        Ok(())
    }
}

/// The effective configuration, as a file that would give it.
#[derive(Serialize, Debug)]
#[serde(rename_all = "kebab-case")]
struct Effective<'a> {
    root: PathBuf,
    port: u16,
    bind: IpAddr,
    max_connections: u32,
    workers: u32,
    send_timeout: u64,
    idle_timeout: u64,
    head_timeout: u64,
    quiet: bool,
    log_format: &'static str,
    index: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a str>,
    hidden: bool,
    listing: bool,
    cors: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    fallback: Option<&'a str>,
    spa: bool,
    compress_cache: u64,
    compress_types: &'a [String],
    rules: &'a [RuleConfig],
}

/// Every option with the value it has, as TOML a file could hold (what
/// `--print-config` prints). `root` is given as `absolute_root`: a host
/// makes it absolute, since a relative root in a file is read relative to
/// the file.
pub fn effective(options: &Options, absolute_root: PathBuf) -> Result<String, ConfigError> {
    let index = if options.index.is_empty() {
        vec!["index.html".to_owned()]
    } else {
        options.index.clone()
    };
    let effective = Effective {
        root: absolute_root,
        port: options.port,
        bind: options.bind,
        max_connections: options.max_connections,
        workers: options.workers,
        send_timeout: options.send_timeout,
        idle_timeout: options.idle_timeout,
        head_timeout: options.head_timeout,
        quiet: options.quiet,
        log_format: options.log_format.name(),
        index,
        headers: options.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
        cache_control: options.cache_control.as_deref(),
        hidden: options.hidden,
        listing: options.listing,
        cors: options.cors,
        fallback: options.fallback.as_deref(),
        spa: options.spa,
        compress_cache: options.compress_cache,
        compress_types: &options.compress_types,
        rules: &options.rules,
    };
    toml::to_string(&effective).map_err(|error| {
        ConfigError::new(format!("cannot write the configuration as TOML: {error}"))
    })
}

/// The 1-based line `span` starts on.
fn line_of(text: &str, span: &Range<usize>) -> usize {
    let start = span.start.min(text.len());
    text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A message that may span lines as one line.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
