//! Request paths: percent-decoded once, dot segments resolved, and turned
//! into [`SafePath`], the only key [`crate::FileLookup`] accepts.

use core::fmt;

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Why a request path cannot name a file. All of them answer 400.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum PathError {
    /// A `%` not followed by two hex digits.
    BadPercent,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// A decoded NUL or other control character.
    Control,
    /// A backslash, literal or encoded: a path separator on some systems,
    /// never a file-name character portico will look up.
    Backslash,
    /// An empty, `.` or `..` segment where a normal path was required.
    NotNormal,
}

impl PathError {
    /// The status code to answer with.
    #[must_use]
    pub const fn status(self) -> u16 {
        400
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadPercent => "malformed percent-encoding in path",
            Self::NotUtf8 => "path is not UTF-8",
            Self::Control => "control character in path",
            Self::Backslash => "backslash in path",
            Self::NotNormal => "path is not normalised",
        })
    }
}

impl std::error::Error for PathError {}

/// A path below the web root that cannot leave it: decoded, no `.` or `..`
/// segment, no empty segment, no NUL, control character or backslash.
///
/// Only [`SafePath::from_request_path`] builds one from client input, so a
/// file lookup on an unsanitised path does not compile.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SafePath {
    /// Segments joined by `/`, no leading or trailing `/`; empty for the
    /// root itself.
    path: String,
    /// The request path ended in `/` (or was the root): it names a
    /// directory, and a file there is not found.
    directory: bool,
}

impl SafePath {
    /// The web root itself.
    #[must_use]
    pub fn root() -> Self {
        Self { path: String::new(), directory: true }
    }

    /// Sanitise the path of a request-target (still percent-encoded, query
    /// removed). Dot segments are resolved as RFC 3986 §5.2.4 does, after
    /// decoding, so `%2e%2e` is `..`; `..` at the root stays at the root,
    /// as it does in browsers. An encoded `%2F` separates segments like `/`
    /// does, so it cannot smuggle a `..` past the resolver either.
    pub fn from_request_path(raw: &str) -> Result<Self, PathError> {
        match Self::plain(raw) {
            Some(path) => Ok(path),
            None => Self::resolved(raw),
        }
    }

    /// The path of almost every request: `/`, then names of printable
    /// ASCII with nothing to decode (no `%`), no `\`, no empty, `.` or
    /// `..` segment but a final empty one. Taken as it stands, without the
    /// allocations and passes of [`SafePath::resolved`], which gives the
    /// same answer (a property test checks).
    fn plain(raw: &str) -> Option<Self> {
        let rest = raw.strip_prefix('/')?;
        let mut start = 0;
        for (at, byte) in rest.bytes().enumerate() {
            match byte {
                b'/' => {
                    if matches!(&rest[start..at], "" | "." | "..") {
                        return None;
                    }
                    start = at + 1;
                }
                b'%' | b'\\' => return None,
                byte if byte.is_ascii_graphic() => {}
                _ => return None,
            }
        }
        let (path, directory) = match rest.strip_suffix('/') {
            Some(path) => (path, true),
            None if matches!(&rest[start..], "." | "..") => return None,
            None => (rest, rest.is_empty()),
        };
        Some(Self { path: path.to_owned(), directory })
    }

    /// Decode, check and resolve the dot segments of any request path.
    fn resolved(raw: &str) -> Result<Self, PathError> {
        let decoded = percent_decode(raw.as_bytes())?;
        let decoded = String::from_utf8(decoded).map_err(|_| PathError::NotUtf8)?;
        if decoded.contains('\\') {
            return Err(PathError::Backslash);
        }
        if decoded.chars().any(char::is_control) {
            return Err(PathError::Control);
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in decoded.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                name => segments.push(name),
            }
        }
        let last = decoded.rsplit('/').next().unwrap_or_default();
        let directory = segments.is_empty() || matches!(last, "" | "." | "..");
        Ok(Self { path: segments.join("/"), directory })
    }

    /// Accept a path that is already decoded and normal, as
    /// [`SafePath::as_str`] prints it (`""` for the root), from a party that
    /// is not trusted to have sanitised it (a WASI guest naming a file for
    /// its host). Unlike [`SafePath::from_request_path`] nothing is decoded
    /// or resolved: anything not already normal is refused.
    pub fn from_normal(path: &str) -> Result<Self, PathError> {
        if path.contains('\\') {
            return Err(PathError::Backslash);
        }
        if path.chars().any(char::is_control) {
            return Err(PathError::Control);
        }
        let abnormal =
            !path.is_empty() && path.split('/').any(|segment| matches!(segment, "" | "." | ".."));
        if abnormal {
            return Err(PathError::NotNormal);
        }
        Ok(Self { path: path.to_owned(), directory: path.is_empty() })
    }

    /// The path relative to the root, segments joined by `/`; `""` for the
    /// root. Never starts with `/`, never holds `.`, `..` or `\`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// The path for opening it relative to the root's directory handle:
    /// [`SafePath::as_str`], but `.` for the root itself.
    #[must_use]
    pub fn relative(&self) -> &str {
        if self.is_root() { "." } else { &self.path }
    }

    /// True for the root itself.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.path.is_empty()
    }

    /// True if the request path ended in `/`: it asked for a directory.
    #[must_use]
    pub fn names_directory(&self) -> bool {
        self.directory
    }

    /// The segments, root first.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment; `""` for the root.
    #[must_use]
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }

    /// Whether `name` could be one entry of a path ([`SafePath::join`]'s
    /// test, without building the path).
    pub(crate) fn check_name(name: &str) -> Result<(), PathError> {
        // One pass for the usual plain name; the precise error only when
        // something is off. (U+0080..U+009F, the other controls, start
        // with 0xC2 in UTF-8.)
        let suspect = |b: &u8| matches!(*b, b'/' | b'\\' | 0..0x20 | 0x7f | 0xc2);
        if name.as_bytes().iter().any(suspect) || matches!(name, "" | "." | "..") {
            if name.contains('\\') {
                return Err(PathError::Backslash);
            }
            if name.chars().any(char::is_control) {
                return Err(PathError::Control);
            }
            if matches!(name, "" | "." | "..") || name.contains('/') {
                return Err(PathError::NotNormal);
            }
        }
        Ok(())
    }

    /// True if any segment starts with `.` (other than `.well-known`, RFC
    /// 8615): dotfiles such as `.git` or `.env` are never served.
    #[must_use]
    pub fn is_hidden(&self) -> bool {
        self.segments().any(|s| s.starts_with('.') && s != ".well-known")
    }

    /// This directory's entry `name`: one plain file name (not empty, not
    /// `.` or `..`, no `/`, `\\` or control character), as an index name
    /// or a configured page is.
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        Self::check_name(name)?;
        // Not `format!`: this runs for every index lookup.
        let mut path = String::with_capacity(self.path.len() + 1 + name.len());
        if !self.path.is_empty() {
            path.push_str(&self.path);
            path.push('/');
        }
        path.push_str(name);
        Ok(Self { path, directory: false })
    }

    /// This file's sibling with `suffix` appended to its name (`a.js` to
    /// `a.js.br`). `suffix` is one of portico's own constants.
    pub(crate) fn with_suffix(&self, suffix: &str) -> Self {
        let mut path = String::with_capacity(self.path.len() + suffix.len());
        path.push_str(&self.path);
        path.push_str(suffix);
        Self { path, directory: false }
    }

    /// The absolute URL path of this path, percent-encoded, with a `/` at
    /// the end when `directory` is set. Built from the sanitised segments,
    /// never from the raw target, so a redirect to it stays on this site.
    #[must_use]
    pub fn to_url_path(&self, directory: bool) -> String {
        let mut url = String::with_capacity(self.path.len() + 2);
        for segment in self.segments() {
            url.push('/');
            url.extend(utf8_percent_encode(segment, SEGMENT));
        }
        if directory || url.is_empty() {
            url.push('/');
        }
        url
    }
}

/// What to escape in a path segment: controls, space, and the characters
/// that would end or restructure a path (RFC 3986 §3.3).
const SEGMENT: &AsciiSet =
    &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'%').add(b'/').add(b'<').add(b'>').add(b'?');

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hi = bytes.next().and_then(|&h| hex(h));
        let lo = bytes.next().and_then(|&l| hex(l));
        match (hi, lo) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return Err(PathError::BadPercent),
        }
    }
    Ok(out)
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use proptest::prelude::*;

    use super::SafePath;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The shortcut answers exactly as the general road, wherever it
        /// answers at all.
        #[test]
        fn plain_paths_resolve_as_any_path(raw in "/?([a-z.%/\\\\ ~]{0,3}/?){0,5}") {
            if let Some(plain) = SafePath::plain(&raw) {
                prop_assert_eq!(Ok(plain), SafePath::resolved(&raw));
            }
        }
    }

    #[test]
    fn plain_paths_take_the_shortcut() {
        for (raw, path, directory) in [
            ("/", "", true),
            ("/a", "a", false),
            ("/a/b.css", "a/b.css", false),
            ("/a/", "a", true),
        ] {
            let plain = SafePath::plain(raw).expect(raw);
            assert_eq!((plain.as_str(), plain.names_directory()), (path, directory));
        }
        for raw in
            ["", "a", "//", "/a//b", "/./a", "/a/..", "/a/../", "/%41", "/a b", "/a\\b", "/é"]
        {
            assert!(SafePath::plain(raw).is_none(), "{raw}");
        }
    }
}
