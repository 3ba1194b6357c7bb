//! systemd socket activation, the protocol of `sd_listen_fds(3)` without
//! libsystemd: it is three environment variables and a file descriptor.
//!
//! A socket unit binds and listens; systemd starts the service with the
//! listening socket as fd 3 (`SD_LISTEN_FDS_START`), `LISTEN_FDS=1`, and
//! `LISTEN_PID` set to the service's own pid, so that a process which
//! merely inherited the variables does not take fd 3 for a socket.

// FFI on fd 3 (fcntl, fstat, getsockopt), taking ownership of it, and
// unsetting the protocol's variables (unsafe since Rust 2024).
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::io;
use std::mem::MaybeUninit;
use std::net::TcpListener;
use std::os::fd::{FromRawFd as _, OwnedFd, RawFd};

use anyhow::{anyhow, bail};

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// The protocol's variables: read once, then unset, as
/// `sd_listen_fds(unset_environment = 1)` does.
const VARIABLES: [&str; 3] = ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"];

/// The listening TCP socket systemd passed to this process, made
/// close-on-exec; `None` if none was passed to *this* process (no
/// `LISTEN_PID`, another process's, or `LISTEN_FDS=0`). Anything else on
/// fd 3 (a file, a UNIX or UDP socket, a connection from `Accept=yes`),
/// several sockets, or a `LISTEN_FDS` that is not a number is an error.
///
/// # Warning
///
/// It unsets the `LISTEN_*` variables, so call it before starting threads
/// that read the environment through libc (std's own reads are locked).
pub(crate) fn take_listener() -> anyhow::Result<Option<TcpListener>> {
    let pid = std::env::var_os("LISTEN_PID");
    let fds = std::env::var_os("LISTEN_FDS");
    unset_variables();
    if !pid.as_ref().is_some_and(is_our_pid) {
        return Ok(None);
    }
    let Some(fds) = fds else { return Ok(None) };
    let count: u32 = fds
        .to_str()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("LISTEN_FDS={fds:?} is not a number of sockets"))?;
    match count {
        0 => return Ok(None),
        1 => {}
        n => bail!(
            "systemd passed {n} sockets (LISTEN_FDS={n}) and this server listens on one: \
             give its socket unit a single ListenStream="
        ),
    }
    check_listening_tcp(FIRST_FD).map_err(|why| {
        anyhow!("cannot use the socket systemd passed (LISTEN_FDS=1): fd {FIRST_FD} {why}")
    })?;
    // SAFETY: fd 3 is open (checked) and a listening TCP socket, which
    // this process did not create before this point (it binds nothing
    // before asking systemd), so it is the one systemd handed over for
    // this process to own; nothing else here owns or closes it.
    let fd = unsafe { OwnedFd::from_raw_fd(FIRST_FD) };
    set_cloexec(FIRST_FD)
        .map_err(|e| anyhow!("cannot make fd {FIRST_FD} (from systemd) close-on-exec: {e}"))?;
    Ok(Some(TcpListener::from(fd)))
}

fn is_our_pid(pid: &OsString) -> bool {
    pid.to_str().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id())
}

fn unset_variables() {
    for name in VARIABLES {
        if std::env::var_os(name).is_some() {
            // SAFETY: called by `serve` before it starts any thread; the
            // only thread that may be running (portico-wasi's epoch
            // ticker) sleeps and counts, and never reads the environment.
            unsafe { std::env::remove_var(name) };
        }
    }
}

/// What is wrong with `fd` as a listening TCP socket, if anything, as the
/// end of a sentence starting "fd 3 ".
fn check_listening_tcp(fd: RawFd) -> Result<(), String> {
    // SAFETY: F_GETFD reads the descriptor's flags and touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err("is not open".to_owned());
    }
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` to a buffer of that size.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } != 0 {
        return Err(format!("cannot be examined: {}", io::Error::last_os_error()));
    }
    // SAFETY: fstat succeeded, so it filled the buffer.
    let mode = unsafe { stat.assume_init() }.st_mode & libc::S_IFMT;
    if mode != libc::S_IFSOCK {
        let kind = match mode {
            libc::S_IFREG => "a file",
            libc::S_IFDIR => "a directory",
            libc::S_IFIFO => "a pipe",
            libc::S_IFCHR => "a character device (a terminal, /dev/null?)",
            _ => "something else",
        };
        return Err(format!("is not a socket but {kind}"));
    }
    let option = |name| socket_option(fd, name).map_err(|e| format!("cannot be examined: {e}"));
    let domain = option(libc::SO_DOMAIN)?;
    if domain != libc::AF_INET && domain != libc::AF_INET6 {
        let family = if domain == libc::AF_UNIX { "a UNIX" } else { "a non-IP" };
        return Err(format!(
            "is {family} socket, not a TCP one (use ListenStream=PORT or ADDR:PORT)"
        ));
    }
    if option(libc::SO_TYPE)? != libc::SOCK_STREAM
        || option(libc::SO_PROTOCOL)? != libc::IPPROTO_TCP
    {
        return Err("is not a TCP socket (ListenDatagram=? use ListenStream=)".to_owned());
    }
    if option(libc::SO_ACCEPTCONN)? == 0 {
        return Err(
            "is a connection, not a listening socket (the socket unit needs Accept=no)".to_owned()
        );
    }
    Ok(())
}

/// An integer `SOL_SOCKET` option of `fd`.
fn socket_option(fd: RawFd, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes to `value`, which has
    // that size, and the new length to `len`.
    let rc =
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, name, (&raw mut value).cast(), &mut len) };
    if rc == 0 { Ok(value) } else { Err(io::Error::last_os_error()) }
}

/// systemd passes the socket without `FD_CLOEXEC` (it must survive the
/// exec); a child of this process must not inherit it.
fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD and F_SETFD read and write the descriptor's flags
    // and touch no memory.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn set(name: &str, value: &str) {
        // SAFETY: the tests of this crate read and write the environment
        // through std only, which locks it; none goes through libc.
        unsafe { std::env::set_var(name, value) };
    }

    fn unset_all() -> bool {
        VARIABLES.iter().all(|name| std::env::var_os(name).is_none())
    }

    /// One test, as the cases share the process's environment.
    #[test]
    fn the_variables_are_read_once_and_unset() {
        let ours = std::process::id().to_string();
        let another = (std::process::id() + 1).to_string();
        // Another process's sockets: not ours to take, and fd 3 untouched.
        for (pid, fds) in [(another.as_str(), "1"), (&ours, "0"), ("garbage", "1")] {
            set("LISTEN_PID", pid);
            set("LISTEN_FDS", fds);
            set("LISTEN_FDNAMES", "web");
            assert!(take_listener().unwrap().is_none(), "LISTEN_PID={pid} LISTEN_FDS={fds}");
            assert!(unset_all(), "LISTEN_PID={pid} LISTEN_FDS={fds}");
        }
        // Ours, but more than one socket, or not a number: refused before
        // fd 3 is looked at.
        for fds in ["2", "-1", "one"] {
            set("LISTEN_PID", &ours);
            set("LISTEN_FDS", fds);
            assert!(take_listener().is_err(), "LISTEN_FDS={fds}");
            assert!(unset_all(), "LISTEN_FDS={fds}");
        }
        assert!(take_listener().unwrap().is_none());
    }
}
