//! Options from a TOML file (`--config FILE`) and the effective
//! configuration printed back (`--print-config`).
//!
//! Precedence, highest first: the command line, then `PORTICO_*`
//! environment variables (clap reads those), then the file, then the
//! defaults. An unknown key or a bad value in the file is one error that
//! names the file, the line and the key, and nothing starts.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::access_log::LogFormat;
use crate::cli::{ServeArgs, one_line};

/// What a configuration file may say: every command-line option (under
/// its long name), plus `[[rules]]` for parts of the site.
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
    rules: Option<Vec<Spanned<RuleConfig>>>,
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
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// Read `path` and fill every option of `args` that neither the command
/// line nor the environment set. `matches` says where each value came
/// from.
pub(crate) fn apply(args: &mut ServeArgs, matches: &ArgMatches, path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the configuration '{}'", path.display()))?;
    let shown = path.display().to_string();
    let file: FileConfig = toml::from_str(&text).map_err(|error| {
        let line = error.span().map_or(0, |span| line_of(&text, &span));
        anyhow!("{shown}:{line}: {}", one_line(error.message()))
    })?;
    // A value the file gives is checked as the same option on the command
    // line is, and a bad one names the file, its line and the key.
    let bad = |span: Range<usize>, key: &str, why: String| {
        anyhow!("{shown}:{}: {key}: {why}", line_of(&text, &span))
    };
    let unset = |id: &str| {
        !matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };

    if let Some(value) = file.root
        && unset("root")
    {
        // Relative to the file, as people expect of paths in one.
        let root = value.get_ref();
        args.root = if root.is_absolute() {
            root.clone()
        } else {
            path.parent().unwrap_or(Path::new(".")).join(root)
        };
    }
    if let Some(value) = file.port
        && unset("port")
    {
        args.port = *value.get_ref();
    }
    if let Some(value) = file.bind
        && unset("bind")
    {
        args.bind =
            crate::cli::parse_ip(value.get_ref()).map_err(|why| bad(value.span(), "bind", why))?;
    }
    if let Some(value) = file.max_connections
        && unset("max_connections")
    {
        if *value.get_ref() == 0 {
            return Err(bad(value.span(), "max-connections", "must be at least 1".into()));
        }
        args.max_connections = *value.get_ref();
    }
    if let Some(value) = file.workers
        && unset("workers")
    {
        if i64::from(*value.get_ref()) > crate::cli::MAX_WORKERS {
            let why =
                format!("at most {} (0: one per core, half on loopback)", crate::cli::MAX_WORKERS);
            return Err(bad(value.span(), "workers", why));
        }
        args.workers = *value.get_ref();
    }
    for (value, id, key) in [
        (file.idle_timeout, "idle_timeout", "idle-timeout"),
        (file.head_timeout, "head_timeout", "head-timeout"),
        (file.send_timeout, "send_timeout", "send-timeout"),
    ] {
        if let Some(value) = value
            && unset(id)
        {
            if *value.get_ref() == 0 {
                return Err(bad(value.span(), key, "must be at least 1 (seconds)".into()));
            }
            match id {
                "idle_timeout" => args.idle_timeout = *value.get_ref(),
                "send_timeout" => args.send_timeout = *value.get_ref(),
                _ => args.head_timeout = *value.get_ref(),
            }
        }
    }
    if let Some(value) = file.log_format
        && unset("log_format")
    {
        args.log_format = <LogFormat as clap::ValueEnum>::from_str(value.get_ref(), false)
            .map_err(|_| {
                bad(
                    value.span(),
                    "log-format",
                    format!("'{}' is not common, combined or json", value.get_ref()),
                )
            })?;
    }
    if let Some(value) = file.index
        && unset("index")
    {
        for name in value.get_ref() {
            crate::cli::parse_index(name).map_err(|why| bad(value.span(), "index", why))?;
        }
        args.index = value.into_inner();
    }
    if let Some(value) = file.headers
        && unset("header")
    {
        let span = value.span();
        args.header = value
            .into_inner()
            .into_iter()
            .map(|(name, field)| {
                crate::cli::parse_header(&format!("{name}: {field}"))
                    .map_err(|why| bad(span.clone(), "headers", why))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(value) = file.cache_control
        && unset("cache_control")
    {
        let checked = crate::cli::parse_cache_control(value.get_ref())
            .map_err(|why| bad(value.span(), "cache-control", why))?;
        args.cache_control = Some(checked);
    }
    if let Some(value) = file.fallback
        && unset("fallback")
        && unset("spa")
    {
        let checked = crate::cli::parse_fallback(value.get_ref())
            .map_err(|why| bad(value.span(), "fallback", why))?;
        args.fallback = Some(checked);
    }
    for (value, id, set) in [
        (file.quiet, "quiet", &mut args.quiet as &mut bool),
        (file.hidden, "hidden", &mut args.hidden),
        (file.cors, "cors", &mut args.cors),
        (file.spa, "spa", &mut args.spa),
    ] {
        if let Some(value) = value
            && unset(id)
        {
            *set = *value.get_ref();
        }
    }
    if let Some(value) = file.listing
        && unset("no_listing")
    {
        args.no_listing = !*value.get_ref();
    }
    if args.spa && args.fallback.is_some() {
        return Err(anyhow!("{shown}: spa and fallback cannot both be set"));
    }
    for rule in file.rules.unwrap_or_default() {
        let span = rule.span();
        let rule = rule.into_inner();
        crate::cli::rule(&rule).map_err(|error| bad(span, "rules", format!("{error:#}")))?;
        args.rules.push(rule);
    }
    Ok(())
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
    rules: &'a [RuleConfig],
}

/// `--print-config`: every option with the value it has now.
pub(crate) fn effective(args: &ServeArgs) -> anyhow::Result<String> {
    let index =
        if args.index.is_empty() { vec!["index.html".to_owned()] } else { args.index.clone() };
    let effective = Effective {
        // Absolute: a relative root in a file is read relative to the file.
        root: std::path::absolute(&args.root).unwrap_or_else(|_| args.root.clone()),
        port: args.port,
        bind: args.bind,
        max_connections: args.max_connections,
        workers: args.workers,
        send_timeout: args.send_timeout,
        idle_timeout: args.idle_timeout,
        head_timeout: args.head_timeout,
        quiet: args.quiet,
        log_format: match args.log_format {
            LogFormat::Combined => "combined",
            LogFormat::Json => "json",
            _ => "common",
        },
        index,
        headers: args.header.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
        cache_control: args.cache_control.as_deref(),
        hidden: args.hidden,
        listing: !args.no_listing,
        cors: args.cors,
        fallback: args.fallback.as_deref(),
        spa: args.spa,
        rules: &args.rules,
    };
    toml::to_string(&effective).context("cannot write the configuration as TOML")
}

/// The 1-based line `span` starts on.
fn line_of(text: &str, span: &Range<usize>) -> usize {
    let start = span.start.min(text.len());
    text.as_bytes()[..start].iter().filter(|&&b| b == b'\n').count() + 1
}
