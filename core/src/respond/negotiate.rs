//! Content negotiation (RFC 9110 §12.5.3): a file with a precompressed
//! sibling (`x.br`, `x.zst`, `x.gz` next to `x`) is sent in the coding
//! the client prefers, as the sibling's bytes with `Content-Encoding`.
//!
//! Siblings are looked up only when `Accept-Encoding` asks for a coding,
//! and only for media types worth compressing: a request without the
//! field, or for a PNG, costs no extra lookup.

use super::{Plan, Served};
use crate::fields::AcceptEncoding;
use crate::lookup::{FileLookup, Lookup};
use crate::{Request, SafePath};

/// A 200 file plan becomes its best acceptable sibling, if one exists,
/// is a regular file and is not larger than the file itself; it is marked
/// as negotiated either way (`Vary: Accept-Encoding`). When the client
/// refuses `identity` and no sibling it accepts exists: 406.
pub(crate) fn encoding<L: FileLookup>(
    plan: Plan<L::Handle>,
    request: &Request<'_>,
    files: &L,
) -> Plan<L::Handle> {
    let Plan::File(mut served) = plan else { return plan };
    if served.status != 200 {
        return Plan::File(served);
    }
    served.negotiated = true;
    let mut fields = request.header_values("accept-encoding").peekable();
    if fields.peek().is_none() {
        return Plan::File(served);
    }
    let accept = AcceptEncoding::parse(fields);
    if worth_compressing(&served.path) {
        for coding in accept.preferred() {
            let sibling = served.path.with_suffix(coding.extension());
            if let Lookup::File(file) = files.lookup(&sibling)
                && file.len <= served.file.len
            {
                return Plan::File(Served { file, coding: Some(coding), ..served });
            }
        }
    }
    if accept.identity_acceptable() {
        Plan::File(served)
    } else {
        Plan::page(406, "No encoding this client accepts is available for this file.")
    }
}

/// Whether a file's media type may have a precompressed sibling: not for
/// formats that are compressed already (images other than SVG, audio,
/// video, archives, WOFF fonts), where a sibling would not be smaller.
fn worth_compressing(path: &SafePath) -> bool {
    let name = path.file_name();
    let extension = match name.rfind('.') {
        None | Some(0) => return true,
        Some(dot) => &name[dot + 1..],
    };
    const COMPRESSED: [&str; 28] = [
        "png", "jpg", "jpeg", "gif", "webp", "avif", "heic", "jxl", "ico", "mp3", "ogg", "opus",
        "m4a", "aac", "flac", "mp4", "m4v", "webm", "mkv", "mov", "zip", "gz", "br", "zst", "xz",
        "bz2", "woff", "woff2",
    ];
    !COMPRESSED.iter().any(|known| extension.eq_ignore_ascii_case(known))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fields::Coding;
    use crate::{FileInfo, Limits, MemoryLookup, Parsed, parse_request};

    fn files() -> MemoryLookup {
        MemoryLookup::new()
            .with("app.js", &[b'x'; 100][..])
            .with("app.js.br", &[b'b'; 20][..])
            .with("app.js.gz", &[b'g'; 30][..])
            .with("big.css", &[b'x'; 10][..])
            .with("big.css.gz", &[b'g'; 11][..])
            .with("photo.png", &[b'p'; 100][..])
            .with("photo.png.gz", &[b'g'; 10][..])
            .with("plain.txt", &b"plain"[..])
    }

    /// The coding chosen for `name` with these request fields, or the
    /// status of a page.
    fn chosen(name: &str, fields: &str) -> Result<Option<Coding>, u16> {
        let raw = format!("GET /{name} HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        let Ok(Parsed::Complete(request)) = parse_request(raw.as_bytes(), &Limits::default())
        else {
            panic!("a request")
        };
        let files = files();
        let path = SafePath::from_request_path(&format!("/{name}")).unwrap();
        let Lookup::File(file) = files.lookup(&path) else { panic!("{name} exists") };
        match encoding(Plan::File(Served::new(200, path, file)), &request, &files) {
            Plan::File(served) => {
                assert!(served.negotiated);
                assert_eq!(served.path.as_str(), name, "the media type stays the file's");
                let expected =
                    served.coding.map_or(name.to_owned(), |c| format!("{name}{}", c.extension()));
                let sent = files.lookup(&SafePath::from_request_path(&expected).unwrap());
                let Lookup::File(sent) = sent else { panic!("{expected}") };
                assert_eq!(served.file.handle, sent.handle);
                Ok(served.coding)
            }
            Plan::Page { status, .. } => Err(status),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rfc9110_12_5_3_the_preferred_existing_sibling_is_sent() {
        let browser = "Accept-Encoding: gzip, deflate, br, zstd\r\n";
        assert_eq!(chosen("app.js", browser), Ok(Some(Coding::Brotli)));
        assert_eq!(chosen("app.js", "Accept-Encoding: gzip\r\n"), Ok(Some(Coding::Gzip)));
        assert_eq!(chosen("app.js", "Accept-Encoding: zstd\r\n"), Ok(None), "no .zst there");
        assert_eq!(
            chosen("app.js", "Accept-Encoding: br;q=0.1, gzip;q=0.9\r\n"),
            Ok(Some(Coding::Gzip))
        );
        assert_eq!(chosen("app.js", "Accept-Encoding: *\r\n"), Ok(Some(Coding::Brotli)));
        assert_eq!(chosen("app.js", "Accept-Encoding: *, br;q=0\r\n"), Ok(Some(Coding::Gzip)));
        assert_eq!(chosen("app.js", "Accept-Encoding: br;q=0.5, identity\r\n"), Ok(None));
        assert_eq!(chosen("app.js", ""), Ok(None));
        assert_eq!(chosen("app.js", "Accept-Encoding: \r\n"), Ok(None));
    }

    #[test]
    fn a_larger_sibling_or_an_already_compressed_type_is_not_sent() {
        assert_eq!(chosen("big.css", "Accept-Encoding: gzip\r\n"), Ok(None));
        assert_eq!(chosen("photo.png", "Accept-Encoding: gzip\r\n"), Ok(None));
    }

    #[test]
    fn rfc9110_12_5_3_identity_refused_without_a_sibling_is_406() {
        assert_eq!(chosen("plain.txt", "Accept-Encoding: br, identity;q=0\r\n"), Err(406));
        assert_eq!(chosen("plain.txt", "Accept-Encoding: gzip, *;q=0\r\n"), Err(406));
        assert_eq!(
            chosen("app.js", "Accept-Encoding: br, identity;q=0\r\n"),
            Ok(Some(Coding::Brotli))
        );
        assert_eq!(chosen("plain.txt", "Accept-Encoding: *;q=0, identity\r\n"), Ok(None));
    }

    #[test]
    fn only_200_file_plans_are_negotiated() {
        let raw = b"GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding: br\r\n\r\n";
        let Ok(Parsed::Complete(request)) = parse_request(raw, &Limits::default()) else {
            panic!("a request")
        };
        let files = files();
        let page = Served::new(404, SafePath::from_request_path("/app.js").unwrap(), {
            FileInfo::new(Arc::from(&b"404"[..]), 3)
        });
        let Plan::File(served) = encoding(Plan::File(page), &request, &files) else { panic!() };
        assert_eq!((served.coding, served.negotiated), (None, false));
        assert!(matches!(encoding(Plan::NotFound, &request, &files), Plan::NotFound));
    }
}
