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
    /// Size and time limits on what a client may send.
    pub limits: Limits,
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
        if let Some(value) = &value {
            Headers::new()
                .try_push("Cache-Control", value.clone())
                .map_err(|error| SiteError::Header(value.clone(), error))?;
        }
        self.cache_control = value;
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
        let name = name.into();
        let shown = name.to_string();
        if RESERVED.iter().any(|reserved| reserved.eq_ignore_ascii_case(&name)) {
            return Err(SiteError::ReservedHeader(shown));
        }
        self.extra_headers.try_set(name, value).map_err(|error| SiteError::Header(shown, error))?;
        Ok(self)
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
