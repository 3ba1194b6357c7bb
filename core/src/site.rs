//! The site configuration: one value that says how a web root is served,
//! built once by a host (from its command line) and handed to every stage
//! of [`crate::respond`], to the WASI guest once per instance, and to any
//! other embedding.

use std::borrow::Cow;

use crate::response::{FieldValue, Headers, InvalidHeader};
use crate::{Limits, PathError, SafePath};

/// How a web root is served. Every field has a default that matches
/// portico's behaviour without options; build one with [`Site::default`]
/// and the `with_*` methods (or set the public fields), so that adding a
/// field later breaks no embedder.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct Site {
    /// The file served for a directory, first one found wins. Default:
    /// `index.html`.
    pub index_names: Vec<String>,
    /// A file below the root served with status 404 when nothing is found
    /// (its path relative to the root); `None` for a generated page.
    /// Default: `404.html`, when there is one.
    pub not_found_page: Option<SafePath>,
    /// Serve an HTML listing for a directory without an index (only if
    /// the [`crate::FileLookup`] can read directories); off, such a
    /// directory is a miss. Default: on.
    pub listings: bool,
    /// Serve and list names that start with `.` (other than `.well-known`,
    /// which is always served). Default: off.
    pub hidden: bool,
    /// The `Cache-Control` value for files (RFC 9111 §5.2); `None` sends
    /// none. Default: none.
    pub cache_control: Option<String>,
    /// Fields added to every response the site answers, after the core's
    /// own. Default: none.
    pub extra_headers: Headers,
    /// Cross-origin reads: `Access-Control-Allow-Origin: *` on every
    /// response, and an answer to CORS preflight requests. Default: off.
    pub cors: bool,
    /// A file below the root served with status 200 for a GET or HEAD
    /// that finds nothing and accepts `text/html`: the entry page of a
    /// single-page application, whose client-side router then reads the
    /// path. Requests for assets (which do not ask for HTML) still get
    /// 404. Default: none.
    pub fallback: Option<SafePath>,
    /// Settings for parts of the site, by path pattern, applied in order
    /// (a later rule overrides an earlier one). Default: none.
    pub rules: Vec<PathRule>,
    /// Size and time limits on what a client may send.
    pub limits: Limits,
}

/// Settings for the files whose request path matches a pattern, such as
/// long cache lifetimes for `/assets/**`.
///
/// Patterns are absolute URL paths, decoded, matched segment by segment:
/// `*` matches any characters within one segment, `?` one character, and
/// a segment that is exactly `**` any number of segments (none too), so
/// `/assets/**` matches `/assets/app.js` and `/assets/img/a.png`, and
/// `/*.html` matches `/index.html` but not `/docs/a.html`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct PathRule {
    /// The pattern, as given.
    pub pattern: String,
    /// `Cache-Control` for the successful file responses under it,
    /// instead of the site's.
    pub cache_control: Option<String>,
    /// Fields added to the file responses under it, after the site's own
    /// extra fields (replacing one of the same name).
    pub headers: Headers,
}

impl PathRule {
    /// A rule for the paths `pattern` matches, with no settings yet.
    pub fn new(pattern: impl Into<String>) -> Result<Self, SiteError> {
        let pattern = pattern.into();
        let valid = pattern.starts_with('/')
            && pattern.len() <= 1024
            && !pattern.chars().any(|c| c.is_control() || c == '\\')
            && pattern.split('/').filter(|s| *s == "**").count() <= 8;
        if !valid {
            return Err(SiteError::Pattern(pattern));
        }
        Ok(Self { pattern, cache_control: None, headers: Headers::new() })
    }

    /// With this `Cache-Control` value.
    pub fn with_cache_control(mut self, value: Option<String>) -> Result<Self, SiteError> {
        self.cache_control = checked_cache_control(value)?;
        Ok(self)
    }

    /// With this field (checked as [`Site::with_header`] checks).
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<FieldValue>,
    ) -> Result<Self, SiteError> {
        set_checked(&mut self.headers, name.into(), value.into())?;
        Ok(self)
    }

    /// Whether the path `/{path}` (a [`SafePath`]'s text with its leading
    /// slash put back) is one this rule is for.
    #[must_use]
    pub fn matches(&self, path: &SafePath) -> bool {
        let pattern: Vec<&str> = self.pattern.split('/').filter(|s| !s.is_empty()).collect();
        let segments: Vec<&str> = path.segments().collect();
        segments_match(&pattern, &segments)
    }
}

/// Whether `segments` match `pattern`, `**` standing for any run of
/// segments: a table over (pattern prefix, path prefix), so the time is
/// their product whatever the pattern.
fn segments_match(pattern: &[&str], segments: &[&str]) -> bool {
    // matched[j]: the pattern so far matches the first j segments.
    let mut matched = vec![false; segments.len() + 1];
    matched[0] = true;
    for part in pattern {
        let mut next = vec![false; segments.len() + 1];
        for j in 0..=segments.len() {
            if *part == "**" {
                // Any number of segments: reachable from any earlier match.
                next[j] = matched[..=j].iter().any(|&m| m);
            } else if j > 0 && matched[j - 1] {
                next[j] = glob(part.as_bytes(), segments[j - 1].as_bytes());
            }
        }
        matched = next;
    }
    matched[segments.len()]
}

/// `*` and `?` within one segment (the classic greedy match with one
/// backtrack point: linear in practice, quadratic at worst).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            // `?` is one character: skip a whole UTF-8 sequence.
            if pattern[p] == b'?' {
                t += 1;
                while t < text.len() && text[t] & 0xc0 == 0x80 {
                    t += 1;
                }
            } else {
                t += 1;
            }
            p += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

impl Default for Site {
    fn default() -> Self {
        Self {
            index_names: vec!["index.html".to_owned()],
            not_found_page: SafePath::root().join("404.html").ok(),
            listings: true,
            hidden: false,
            cache_control: None,
            extra_headers: Headers::new(),
            cors: false,
            fallback: None,
            rules: Vec::new(),
            limits: Limits::default(),
        }
    }
}

/// Why a [`Site`] setting was refused.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum SiteError {
    /// An index name is not a plain file name (no `/`, `.` or `..`).
    IndexName(String),
    /// The 404 page path is not a normal path below the root.
    NotFoundPage(PathError),
    /// An extra header field or `Cache-Control` value is not valid.
    Header(String, InvalidHeader),
    /// An extra header field that frames the message or the connection
    /// (`Content-Length`, `Transfer-Encoding`, `Connection`, `Date`,
    /// `Content-Range`): the core alone may set those.
    ReservedHeader(String),
    /// A path pattern that does not start with `/`, holds a control
    /// character or a backslash, is over 1,024 bytes, or has more than
    /// eight `**` segments.
    Pattern(String),
    /// The fallback page path is not a normal path below the root.
    Fallback(PathError),
}

impl core::fmt::Display for SiteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::IndexName(name) => write!(f, "'{name}' is not a plain file name"),
            Self::NotFoundPage(error) => write!(f, "the 404 page path is not valid: {error}"),
            Self::Header(field, error) => write!(f, "'{field}': {error}"),
            Self::ReservedHeader(name) => {
                write!(f, "'{name}' frames the response and is set by portico itself")
            }
            Self::Pattern(pattern) => write!(
                f,
                "'{pattern}' is not a path pattern (it must start with '/'; '*', '?' and '**' match)"
            ),
            Self::Fallback(error) => write!(f, "the fallback page path is not valid: {error}"),
        }
    }
}

impl std::error::Error for SiteError {}

/// Fields only the core sets: they say how long the message is, how the
/// connection goes on, when it was sent, and which representation it is
/// (a fixed `ETag` or `Content-Encoding` would make caches and clients
/// mix up files and their precompressed siblings).
const RESERVED: [&str; 9] = [
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Date",
    "Content-Range",
    "Content-Encoding",
    "ETag",
    "Last-Modified",
    "Accept-Ranges",
];

/// A field from configuration: not one only the core sets, and valid.
fn set_checked(
    headers: &mut Headers,
    name: Cow<'static, str>,
    value: FieldValue,
) -> Result<(), SiteError> {
    if RESERVED.iter().any(|reserved| reserved.eq_ignore_ascii_case(&name)) {
        return Err(SiteError::ReservedHeader(name.into_owned()));
    }
    let shown = name.to_string();
    headers.try_set(name, value).map_err(|error| SiteError::Header(shown, error))
}

/// A `Cache-Control` value that cannot split the head.
fn checked_cache_control(value: Option<String>) -> Result<Option<String>, SiteError> {
    if let Some(value) = &value {
        Headers::new()
            .try_push("Cache-Control", value.clone())
            .map_err(|error| SiteError::Header(value.clone(), error))?;
    }
    Ok(value)
}

impl Site {
    /// Serve these index names for a directory, in order of preference.
    pub fn with_index_names<I, S>(mut self, names: I) -> Result<Self, SiteError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if let Some(bad) = names.iter().find(|name| SafePath::root().join(name).is_err()) {
            return Err(SiteError::IndexName(bad.clone()));
        }
        self.index_names = names;
        Ok(self)
    }

    /// Serve the file at `path` (normal, relative to the root, e.g.
    /// `errors/404.html`) for misses, or a generated page for `None`.
    pub fn with_not_found_page(mut self, path: Option<&str>) -> Result<Self, SiteError> {
        self.not_found_page = match path {
            Some(path) => Some(SafePath::from_normal(path).map_err(SiteError::NotFoundPage)?),
            None => None,
        };
        Ok(self)
    }

    /// Send this `Cache-Control` value with files (`None`: none).
    pub fn with_cache_control(mut self, value: Option<String>) -> Result<Self, SiteError> {
        self.cache_control = checked_cache_control(value)?;
        Ok(self)
    }

    /// Add a field to every response. A field the core also sends
    /// (`Server`, `Content-Type`, `X-Content-Type-Options`, ...) is
    /// replaced by this one; the fields that frame the message cannot be
    /// set ([`SiteError::ReservedHeader`]).
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<FieldValue>,
    ) -> Result<Self, SiteError> {
        set_checked(&mut self.extra_headers, name.into(), value.into())?;
        Ok(self)
    }

    /// Answer cross-origin requests (or not).
    #[must_use]
    pub fn with_cors(mut self, cors: bool) -> Self {
        self.cors = cors;
        self
    }

    /// Serve the file at `path` (normal, relative to the root, e.g.
    /// `index.html`) for misses that accept HTML, or nothing for `None`.
    pub fn with_fallback(mut self, path: Option<&str>) -> Result<Self, SiteError> {
        self.fallback = match path {
            Some(path) => Some(SafePath::from_normal(path).map_err(SiteError::Fallback)?),
            None => None,
        };
        Ok(self)
    }

    /// Add a rule after the ones there are.
    #[must_use]
    pub fn with_rule(mut self, rule: PathRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// List (or not) directories without an index.
    #[must_use]
    pub fn with_listings(mut self, listings: bool) -> Self {
        self.listings = listings;
        self
    }

    /// Serve (or not) names that start with `.`.
    #[must_use]
    pub fn with_hidden(mut self, hidden: bool) -> Self {
        self.hidden = hidden;
        self
    }

    /// Enforce these limits.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_portico_without_options() {
        let site = Site::default();
        assert_eq!(site.index_names, ["index.html"]);
        assert_eq!(site.not_found_page.as_ref().map(SafePath::as_str), Some("404.html"));
        assert!(site.listings && !site.hidden);
        assert_eq!(site.cache_control, None);
        assert!(site.extra_headers.is_empty());
        assert_eq!(site.limits, Limits::default());
        assert!(!site.cors && site.fallback.is_none() && site.rules.is_empty());
    }

    #[test]
    fn path_patterns_match_by_segment() {
        let matches = |pattern: &str, path: &str| {
            PathRule::new(pattern).unwrap().matches(&SafePath::from_request_path(path).unwrap())
        };
        for (pattern, path) in [
            ("/assets/**", "/assets/app.js"),
            ("/assets/**", "/assets/img/a.png"),
            ("/assets/**", "/assets/"),
            ("/**", "/anything/at/all"),
            ("/**/*.js", "/a.js"),
            ("/**/*.js", "/x/y/a.js"),
            ("/*.html", "/index.html"),
            ("/a?c", "/abc"),
            ("/a?c", "/a\u{e9}c"),
            ("/docs/*/index.html", "/docs/v1/index.html"),
            ("/a*b*c", "/aXXbYYc"),
        ] {
            assert!(matches(pattern, path), "{pattern} {path}");
        }
        for (pattern, path) in [
            ("/assets/**", "/assetsx/a"),
            ("/assets/**", "/other/assets/a"),
            ("/*.html", "/docs/a.html"),
            ("/a?c", "/ac"),
            ("/**/*.js", "/a.css"),
            ("/a*b*c", "/aXXbYY"),
            ("/*", "/"),
        ] {
            assert!(!matches(pattern, path), "{pattern} {path}");
        }
        for bad in ["assets/**", "/a\nb", "/a\\b", "/**/**/**/**/**/**/**/**/**"] {
            assert!(matches!(PathRule::new(bad), Err(SiteError::Pattern(_))), "{bad:?}");
        }
        assert!(PathRule::new("/x").unwrap().with_header("ETag", "\"x\"").is_err());
        // Many stars cost the product of the lengths, not an explosion.
        let long = format!("/{}", "*a".repeat(100));
        let path = format!("/{}", "a".repeat(4000));
        assert!(matches(&long, &path));
    }

    #[test]
    fn settings_are_checked() {
        assert!(Site::default().with_index_names(["index.htm", "default.html"]).is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "nul\0"] {
            assert!(
                matches!(Site::default().with_index_names([bad]), Err(SiteError::IndexName(_))),
                "{bad:?}"
            );
        }
        let site = Site::default().with_not_found_page(Some("errors/404.html")).unwrap();
        assert_eq!(site.not_found_page.unwrap().as_str(), "errors/404.html");
        assert!(Site::default().with_not_found_page(Some("../x")).is_err());
        assert!(Site::default().with_not_found_page(None).unwrap().not_found_page.is_none());
        assert!(Site::default().with_cache_control(Some("max-age=60".into())).is_ok());
        assert!(Site::default().with_cache_control(Some("a\r\nb".into())).is_err());
        assert!(Site::default().with_header("X-Frame-Options", "DENY").is_ok());
        assert!(Site::default().with_header("X Bad", "v").is_err());
        assert!(Site::default().with_header("X-Bad", "v\n").is_err());
        for reserved in
            ["Content-Length", "content-length", "Transfer-Encoding", "Connection", "Date"]
        {
            assert_eq!(
                Site::default().with_header(reserved, "1"),
                Err(SiteError::ReservedHeader(reserved.to_owned())),
                "{reserved}"
            );
        }
    }
}
