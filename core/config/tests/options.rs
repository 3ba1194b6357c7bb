//! Options from each layer, checked the same way whichever layer gives
//! them. The command-line hosts' layering (flags over variables over the
//! file) is tested end to end in `tests/tests/config.rs`; this is the
//! crate a component uses alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use portico_config::{LogFormat, Options, effective};

fn env(vars: &[(&str, &str)]) -> Result<Options, String> {
    let mut options = Options::default();
    options.apply_env(vars.iter().copied(), |_| false).map_err(|e| e.to_string())?;
    Ok(options)
}

#[test]
fn variables_set_every_option_as_its_flag_does() {
    let options = env(&[
        ("PORTICO_PORT", "9090"),
        ("PORTICO_BIND", "[::1]"),
        ("PORTICO_WORKERS", "3"),
        ("PORTICO_IDLE_TIMEOUT", "20"),
        ("PORTICO_QUIET", "yes"),
        ("PORTICO_LOG_FORMAT", "json"),
        ("PORTICO_INDEX", "index.htm,home.html"),
        ("PORTICO_HEADER", "X-A: 1\nX-B:  two "),
        ("PORTICO_CACHE_CONTROL", "max-age=60"),
        ("PORTICO_NO_LISTING", "on"),
        ("PORTICO_CORS", "1"),
        ("PORTICO_SPA", "true"),
        ("HOME", "/root"),
    ])
    .unwrap();
    assert_eq!(options.port, 9090);
    assert_eq!(options.bind.to_string(), "::1");
    assert_eq!((options.workers, options.idle_timeout), (3, 20));
    assert!(options.quiet && options.cors && options.spa && !options.listing);
    assert_eq!(options.log_format, LogFormat::Json);
    assert_eq!(options.index, ["index.htm", "home.html"]);
    assert_eq!(options.headers, [("X-A".into(), "1".into()), ("X-B".into(), "two".into())]);
    let site = options.site().unwrap();
    assert_eq!(site.limits.idle_timeout, Duration::from_secs(20));
    assert!(!site.listings && site.cors);
    let listening = options.listening();
    assert_eq!(listening.access_log, None, "quiet");
    assert_eq!(listening.addr.port(), 9090);
}

#[test]
fn a_bad_variable_is_one_line_naming_it() {
    for (vars, says) in [
        (&[("PORTICO_PORT", "http")][..], "PORTICO_PORT: 'http' is not a port number"),
        (&[("PORTICO_WORKERS", "500")], "PORTICO_WORKERS: at most 128"),
        (&[("PORTICO_IDLE_TIMEOUT", "0")], "PORTICO_IDLE_TIMEOUT: must be at least 1"),
        (&[("PORTICO_HIDDEN", "perhaps")], "PORTICO_HIDDEN: 'perhaps' is not yes or no"),
        (&[("PORTICO_HEADER", "Content-Length: 1")], "PORTICO_HEADER: 'Content-Length'"),
        (&[("PORTICO_INDEX", "../x")], "PORTICO_INDEX:"),
        (&[("PORTICO_LOG_FORMAT", "xml")], "PORTICO_LOG_FORMAT: 'xml' is not"),
        (&[("PORTICO_SPA", "1"), ("PORTICO_FALLBACK", "a.html")], "cannot both be set"),
    ] {
        let error = env(vars).unwrap_err();
        assert!(error.contains(says), "{vars:?}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

#[test]
fn a_layer_leaves_alone_what_a_higher_one_gave() {
    let mut options = Options::default();
    options.port = 1;
    let vars = [("PORTICO_PORT", "2"), ("PORTICO_CORS", "1")];
    options.apply_env(vars, |key| key == "port").unwrap();
    assert_eq!(options.port, 1);
    assert!(options.cors);
    let text = "port = 3\nhidden = true\nroot = \"site\"\nlisting = false\n";
    options.apply_file(text, Path::new("/etc/portico/p.toml"), |key| key == "hidden").unwrap();
    assert_eq!(options.port, 3);
    assert!(!options.hidden, "given above the file");
    assert!(!options.listing);
    assert_eq!(options.root, Path::new("/etc/portico/site"), "relative to the file");
}

#[test]
fn a_bad_file_is_one_error_naming_file_line_and_key() {
    for (text, says) in [
        ("port = 80\nprot = 8080\n", "p.toml:2: unknown field `prot`"),
        ("\nworkers = 129\n", "p.toml:2: workers: at most 128"),
        ("[[rules]]\npath = \"assets/**\"\n", "p.toml:1: rules: 'assets/**' is not a path pattern"),
        ("spa = true\nfallback = \"a.html\"\n", "spa and fallback"),
    ] {
        let error = Options::default()
            .apply_file(text, Path::new("p.toml"), |_| false)
            .unwrap_err()
            .to_string();
        assert!(error.contains(says), "{text:?}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

#[test]
fn the_effective_options_read_back_the_same() {
    let mut options = Options::default();
    let text = "cors = true\nindex = [\"home.htm\"]\nheaders = { X-A = \"1\" }\n\
                [[rules]]\npath = \"/a/**\"\ncache-control = \"max-age=9\"\n";
    options.apply_file(text, Path::new("r.toml"), |_| false).unwrap();
    let first = effective(&options, "/srv".into()).unwrap();
    let mut again = Options::default();
    again.apply_file(&first, Path::new("e.toml"), |_| false).unwrap();
    assert_eq!(again, options.clone().with_root("/srv"));
    assert_eq!(effective(&again, "/srv".into()).unwrap(), first);
}

#[test]
fn a_reload_names_the_settings_that_take_a_restart() {
    let started = env(&[("PORTICO_PORT", "9090"), ("PORTICO_CORS", "1")]).unwrap();
    assert!(started.restart_only_changes(&started.clone()).is_empty());
    let site_only = env(&[("PORTICO_PORT", "9090"), ("PORTICO_HIDDEN", "1")]).unwrap();
    assert!(started.restart_only_changes(&site_only).is_empty(), "cors and hidden apply at once");
    let reload = env(&[
        ("PORTICO_PORT", "9091"),
        ("PORTICO_IDLE_TIMEOUT", "5"),
        ("PORTICO_LOG_FORMAT", "json"),
        ("PORTICO_WORKERS", "2"),
    ])
    .unwrap();
    assert_eq!(
        started.restart_only_changes(&reload),
        ["port", "workers", "idle-timeout", "log-format"]
    );
    let moved = started.clone().with_root("/elsewhere");
    assert_eq!(started.restart_only_changes(&moved), ["root"]);
}

#[test]
fn compression_on_the_fly_is_configured_from_every_layer() {
    let defaults = Options::default();
    assert_eq!(defaults.compress_cache, portico_config::DEFAULT_COMPRESS_CACHE);
    assert!(defaults.compress_types.iter().any(|t| t == "text/*"));
    let options = env(&[
        ("PORTICO_COMPRESS_CACHE", "16M"),
        ("PORTICO_COMPRESS_TYPES", "text/css, application/json"),
    ])
    .unwrap();
    assert_eq!(options.compress_cache, 16 << 20);
    assert_eq!(options.compress_types, ["text/css", "application/json"]);
    assert_eq!(env(&[("PORTICO_COMPRESS_CACHE", "0")]).unwrap().compress_cache, 0);
    for (value, bytes) in [("512", 512), ("2k", 2048), ("3 MiB", 3 << 20), ("1G", 1 << 30)] {
        assert_eq!(portico_config::parse::size(value), Ok(bytes), "{value}");
    }
    for bad in ["", "lots", "-1", "1T", "99999999999999999999G"] {
        assert!(portico_config::parse::size(bad).is_err(), "{bad}");
    }
    for bad in ["*/*", "text", "text/", "te xt/html", "/json"] {
        assert!(portico_config::parse::media_range(bad).is_err(), "{bad}");
    }
    let error = env(&[("PORTICO_COMPRESS_TYPES", "nope")]).unwrap_err();
    assert!(
        error.contains("PORTICO_COMPRESS_TYPES") && error.contains("not a media type"),
        "{error}"
    );

    let mut from_file = Options::default();
    from_file
        .apply_file(
            "compress-cache = 1048576\ncompress-types = [\"image/svg+xml\"]\n",
            Path::new("site.toml"),
            |_| false,
        )
        .unwrap();
    assert_eq!(from_file.compress_cache, 1 << 20);
    assert_eq!(from_file.compress_types, ["image/svg+xml"]);
    let mut bad = Options::default();
    let error = bad
        .apply_file("\n\ncompress-cache = \"huge\"\n", Path::new("site.toml"), |_| false)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "site.toml:3: compress-cache: 'huge' is not a size (bytes, or with K, M or G)"
    );
    // Both take a restart.
    let mut changed = Options::default();
    changed.compress_cache = 0;
    assert_eq!(Options::default().restart_only_changes(&changed), ["compress-cache"]);
}
