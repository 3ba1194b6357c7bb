//! A response on its way out: the head (with a small body gathered into
//! it), then the body's segments, written from where the socket last
//! stopped taking them; file ranges go with sendfile(2).

use std::io;
use std::time::SystemTime;

use mio::net::TcpStream;
use portico_core::{Body, Segment, Written};
use socket2::SockRef;

use crate::files::{SMALL_FILE, SharedFile};

/// Bytes one connection may write before the worker turns to its other
/// connections: a fast client taking a large file (a local proxy, say)
/// would otherwise hold the loop for the whole file.
const WRITE_BUDGET: u64 = 2 << 20;

/// A response being written: where it stands, so a write that would
/// block resumes at the same byte when the socket has room.
pub(super) struct Outgoing {
    /// The head, and when the body is only bytes, the body after it: one
    /// write for a whole small response.
    pub(super) head: Vec<u8>,
    pub(super) status: u16,
    pub(super) keep_alive: bool,
    body: Body<SharedFile>,
    /// Pieces to write: the head, then each body segment (none when the
    /// body was gathered into `head`).
    pieces: usize,
    /// The piece being written, and how far into it.
    at: usize,
    pos: u64,
    /// Bytes written in all (head included), and the body bytes promised.
    sent: u64,
    head_len: u64,
    pub(super) consumed: usize,
    pub(super) when: SystemTime,
}

pub(super) enum Wrote {
    Done,
    /// The connection used its share of this loop iteration; the socket
    /// may take more.
    Yield,
    /// The socket is full; `progressed`: some bytes went before it filled.
    Blocked {
        progressed: bool,
    },
}

impl Outgoing {
    /// The response ready to write. A body of bytes only (an error page,
    /// a listing) or a small file joins the head: one write sends the whole
    /// response. Fails if a small file cannot be read whole.
    pub(super) fn new(
        response: Written<SharedFile>,
        consumed: usize,
        when: SystemTime,
    ) -> io::Result<Self> {
        let Written { status, keep_alive, mut head, body } = response;
        let head_len = head.len() as u64;
        let pieces = Self::gather(&mut head, &body)?;
        Ok(Self {
            head,
            status,
            keep_alive,
            body,
            pieces,
            at: 0,
            pos: 0,
            sent: 0,
            head_len,
            consumed,
            when,
        })
    }

    /// Append what joins the head; the number of pieces to write. A small
    /// file ([`SMALL_FILE`]) goes with its head in one `send` (from the
    /// bytes the worker's cache keeps, or one `pread`), not a `send` with
    /// MSG_MORE and a `sendfile`: fewer system calls, one packet.
    fn gather(head: &mut Vec<u8>, body: &Body<SharedFile>) -> io::Result<usize> {
        let mut segments = body.segments();
        Ok(match (body.handle(), segments.next(), segments.next()) {
            (None, ..) => {
                for segment in body.segments() {
                    if let Segment::Bytes(bytes) = segment {
                        head.extend_from_slice(bytes);
                    }
                }
                1
            }
            (Some(file), Some(Segment::File { offset, len }), None) if len <= SMALL_FILE => {
                match file.contents() {
                    Some(contents) => {
                        // A file that shrank since its length was read
                        // fails here: the head promised `len` bytes.
                        let contents = contents?;
                        let range = usize::try_from(offset)
                            .ok()
                            .zip(usize::try_from(offset + len).ok())
                            .and_then(|(start, end)| contents.get(start..end))
                            .ok_or(io::ErrorKind::UnexpectedEof)?;
                        head.extend_from_slice(range);
                    }
                    None => {
                        use std::os::unix::fs::FileExt as _;
                        let start = head.len();
                        head.resize(start + usize::try_from(len).unwrap_or(0), 0);
                        file.file().read_exact_at(&mut head[start..], offset)?;
                    }
                }
                1
            }
            _ => 1 + body.segments().count(),
        })
    }

    /// Body bytes sent so far.
    pub(super) fn body_sent(&self) -> u64 {
        self.sent.saturating_sub(self.head_len)
    }
}

/// Write what the socket takes of `out`, from where it stopped. The
/// head goes with MSG_MORE when a file follows, so the kernel sends it in
/// one packet with the file's first bytes; file ranges go with
/// sendfile(2) from an explicit offset. A `send` the socket took only
/// part of means it is full: wait for it to drain rather than ask again.
/// A short `sendfile` may also mean the file ended early, and then no
/// writable event would ever come: the file's length is looked at
/// (`fstat`) before waiting. A file that ends before the length promised
/// is an error ([`cut_short`]): the connection must close at once rather
/// than leave the client waiting for the send timeout. (Asking again
/// instead would also tell the two apart, but with a reader draining the
/// socket as it is written it sends in small pieces: the kernel says a
/// socket is writable again only once a third of its buffer is free.)
pub(super) fn write_out(stream: &TcpStream, out: &mut Outgoing) -> io::Result<Wrote> {
    let mut progressed = false;
    let mut budget = WRITE_BUDGET;
    while out.at < out.pieces {
        if budget == 0 {
            return Ok(Wrote::Yield);
        }
        let more = out.at + 1 < out.pieces;
        let pos = usize::try_from(out.pos).unwrap_or(usize::MAX);
        // The file a short write may have met the end of, and where.
        let mut ends_at = None;
        let (piece_len, asked, result) = if out.at == 0 {
            let bytes = out.head.get(pos..).unwrap_or(&[]);
            (out.head.len() as u64, bytes.len() as u64, send(stream, bytes, more))
        } else {
            match out.body.segments().nth(out.at - 1) {
                Some(Segment::Bytes(all)) => {
                    let bytes = all.get(pos..).unwrap_or(&[]);
                    (all.len() as u64, bytes.len() as u64, send(stream, bytes, more))
                }
                Some(Segment::File { offset, len }) => {
                    let file = out.body.handle().ok_or(io::ErrorKind::InvalidInput)?;
                    let file = file.file();
                    // sendfile moves at most 0x7ffff000 bytes a call.
                    let chunk = len.saturating_sub(out.pos).min(1 << 30).min(budget);
                    let result = send_file(stream, file, offset + out.pos, chunk);
                    if matches!(result, Ok(0)) {
                        return Err(cut_short());
                    }
                    ends_at = Some((file, offset));
                    (len, chunk, result)
                }
                None => return Err(io::ErrorKind::InvalidInput.into()),
            }
        };
        match result {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let n = n as u64;
                out.pos += n;
                out.sent += n;
                budget = budget.saturating_sub(n);
                progressed = true;
                if out.pos >= piece_len {
                    out.at += 1;
                    out.pos = 0;
                } else if n < asked {
                    if let Some((file, offset)) = ends_at
                        && file.metadata()?.len() <= offset + out.pos
                    {
                        return Err(cut_short());
                    }
                    return Ok(Wrote::Blocked { progressed });
                }
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Wrote::Blocked { progressed });
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(Wrote::Done)
}

/// The error of a response whose file ended before the length its head
/// promised: the file shrank (was truncated) while it was being sent.
pub(super) fn cut_short() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the file shrank while it was sent")
}

/// Whether `error` is [`cut_short`]'s.
pub(super) fn is_cut_short(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::UnexpectedEof
}

pub(super) fn send(stream: &TcpStream, bytes: &[u8], more: bool) -> io::Result<usize> {
    let flags = if more { libc::MSG_MORE } else { 0 };
    SockRef::from(stream).send_with_flags(bytes, flags)
}

/// `len` bytes of `file` from `offset` with sendfile(2): the body goes from
/// the page cache to the socket without passing through this process.
fn send_file(stream: &TcpStream, file: &std::fs::File, offset: u64, len: u64) -> io::Result<usize> {
    let mut offset = offset;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    rustix::fs::sendfile(stream, file, Some(&mut offset), len).map_err(io::Error::from)
}
