;; A deliberately broken portico guest (ABI version 5) for the sandbox
;; tests. It encodes its answers by hand, as docs/ABI.md describes them.
;; Its step looks at the first input byte:
;;   L  loops forever             (the host's epoch deadline must stop it: 503)
;;   B  grows memory without end  (the StoreLimits cap must stop it: 500)
;;   T  traps                     (500, and the instance is replaced)
;;   E  tries to escape the root and to write into it, and answers 200 with
;;      one byte per attempt: the low byte of the WASI errno (0 = success);
;;      then the same by stat (path_filestat_get)
;;   C  closes the root's descriptor, then stats index.html through it:
;;      answers the two errnos (the stat must fail: EBADF, 8)
;;   N  renumbers the root's descriptor 3 to 0, then stats index.html
;;      through 0 and through 3: answers the three errnos (0, 0, 8)
;;   F  names index.html as the body with a wrong size (as if the file
;;      changed after the lookup): the host must close, sending nothing
;;   P  names ../secret as the body file: the host must refuse the path
;;   R  names index.html with a range beyond the size it reports: broken
;;   H  answers with a header value holding a bare LF, which a client
;;      might take for the end of the line: the host must refuse it
;;   Z  answers "ok", keeping the connection, having consumed nothing: it
;;      would answer the same bytes forever, so the host must refuse it
;;   S  asks the host to sleep (poll_oneoff): the host must refuse, and the
;;      answer's one body byte is the errno
;;   D  names .hidden, M names gone.txt (missing): the host must refuse
;;      the file and call again with the miss it found; the answer to that
;;      second call is 200 with one body byte, the miss (1 = not found)
;;   anything else: answers "ok" (200, keep-alive), consuming all input,
;;   so tests can show other connections are served throughout.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times"
    (func $set_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber"
    (func $fd_renumber (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 2048))
  ;; Where the result being written has got to.
  (global $out (mut i32) (i32.const 0))
  ;; Where the head being written keeps its length word.
  (global $head (mut i32) (i32.const 0))

  ;; Paths the escape attempts use.
  (data (i32.const 100) "../etc/passwd")     ;; 13 bytes
  (data (i32.const 120) "etc-link/passwd")   ;; 15
  (data (i32.const 140) "escape")            ;; 6
  (data (i32.const 150) "created.txt")       ;; 11
  (data (i32.const 170) "index.html")        ;; 10
  (data (i32.const 190) "newdir")            ;; 6
  (data (i32.const 200) "/etc/passwd")       ;; 11
  (data (i32.const 220) "../secret")         ;; 9
  (data (i32.const 240) ".hidden")           ;; 7
  (data (i32.const 250) "gone.txt")          ;; 8
  ;; Header names and values, bodies.
  (data (i32.const 300) "Content-Length")    ;; 14
  (data (i32.const 320) "2")
  (data (i32.const 322) "11")
  (data (i32.const 324) "1")
  (data (i32.const 326) "3")
  (data (i32.const 328) "16")
  (data (i32.const 330) "ok")
  (data (i32.const 340) "Connection")        ;; 10
  (data (i32.const 360) "close")             ;; 5
  (data (i32.const 370) "X-Evil")            ;; 6
  (data (i32.const 380) "a\0aSet-Cookie: x") ;; 16
  ;; The pieces of a head.
  (data (i32.const 400) "HTTP/1.1 200 OK\0d\0a") ;; 17
  (data (i32.const 420) ": ")                ;; 2
  (data (i32.const 424) "\0d\0a")             ;; 2
  ;; 500..511: the escape attempts' errnos; 520: one answer byte.
  ;; A poll_oneoff subscription: a relative clock timeout of 5 s.
  (data (i32.const 800) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\01\00\00\00\00\00\00\00\00\f2\05\2a\01\00\00\00")

  (func (export "_initialize"))
  (func (export "portico_abi_version") (result i32) (i32.const 5))
  (func (export "portico_configure") (param i32 i32) (result i32) (i32.const 0))

  ;; A bump allocator: blocks are never reused (instances are short-lived).
  (func (export "portico_alloc") (param $len i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap
      (i32.and (i32.add (i32.add (global.get $heap) (local.get $len)) (i32.const 7))
               (i32.const -8)))
    (local.get $at))
  (func (export "portico_free") (param i32 i32))

  ;; Little-endian writers at $out.
  (func $u8 (param $v i32)
    (i32.store8 (global.get $out) (local.get $v))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))
  (func $u16 (param $v i32)
    (i32.store16 (global.get $out) (local.get $v))
    (global.set $out (i32.add (global.get $out) (i32.const 2))))
  (func $u32 (param $v i32)
    (i32.store (global.get $out) (local.get $v))
    (global.set $out (i32.add (global.get $out) (i32.const 4))))
  (func $u64 (param $v i64)
    (i64.store (global.get $out) (local.get $v))
    (global.set $out (i32.add (global.get $out) (i32.const 8))))
  (func $copy (param $ptr i32) (param $len i32)
    (memory.copy (global.get $out) (local.get $ptr) (local.get $len))
    (global.set $out (i32.add (global.get $out) (local.get $len))))

  ;; The result block lives at 60000: its length word, 32 state bytes (all
  ;; zero: waiting for a head), flags 0 (no deadline), wake 0, the action
  ;; and what it consumed.
  (func $begin (param $action i32) (param $consumed i32)
    (memory.fill (i32.const 60000) (i32.const 0) (i32.const 64))
    (global.set $out (i32.const 60045))
    (call $u8 (local.get $action))
    (call $u32 (local.get $consumed)))
  (func $end (result i32)
    (i32.store (i32.const 60000) (i32.sub (global.get $out) (i32.const 60000)))
    (i32.const 60000))
  ;; A 200 response's status, keep-alive, and the start of its head (the
  ;; length word is filled in by $head_end).
  (func $respond (param $status i32) (param $keep i32)
    (call $u16 (local.get $status))
    (call $u8 (local.get $keep))
    (global.set $head (global.get $out))
    (call $u32 (i32.const 0))
    (call $copy (i32.const 400) (i32.const 17)))
  (func $field (param $name i32) (param $name_len i32) (param $value i32) (param $value_len i32)
    (call $copy (local.get $name) (local.get $name_len))
    (call $copy (i32.const 420) (i32.const 2))
    (call $copy (local.get $value) (local.get $value_len))
    (call $copy (i32.const 424) (i32.const 2)))
  (func $head_end
    (call $copy (i32.const 424) (i32.const 2))
    (i32.store (global.get $head)
      (i32.sub (i32.sub (global.get $out) (global.get $head)) (i32.const 4))))
  (func $bytes_body (param $ptr i32) (param $len i32)
    (call $u8 (i32.const 1))
    (call $u32 (local.get $len))
    (call $copy (local.get $ptr) (local.get $len)))
  ;; A file body: the path, the size the guest "saw", no time or identity,
  ;; then the range.
  (func $file_body (param $path i32) (param $path_len i32) (param $size i64)
                   (param $offset i64) (param $len i64)
    (call $u8 (i32.const 2))
    (call $u16 (local.get $path_len))
    (call $copy (local.get $path) (local.get $path_len))
    (call $u64 (local.get $size))
    (call $u8 (i32.const 0))
    (call $u64 (i64.const 0))
    (call $u32 (i32.const 0))
    (call $u64 (i64.const 0))
    (call $u64 (i64.const 0))
    (call $u64 (local.get $offset))
    (call $u64 (local.get $len)))

  ;; 200 "ok", keeping the connection.
  (func $ok (param $consumed i32) (result i32)
    (call $begin (i32.const 2) (local.get $consumed))
    (call $respond (i32.const 200) (i32.const 1))
    (call $field (i32.const 300) (i32.const 14) (i32.const 320) (i32.const 1))
    (call $head_end)
    (call $bytes_body (i32.const 330) (i32.const 2))
    (call $end))

  ;; 200 with these body bytes (Content-Length given as text), closing.
  (func $closing (param $consumed i32) (param $body i32) (param $body_len i32)
                 (param $length i32) (param $length_len i32) (result i32)
    (call $begin (i32.const 2) (local.get $consumed))
    (call $respond (i32.const 200) (i32.const 0))
    (call $field (i32.const 300) (i32.const 14) (local.get $length) (local.get $length_len))
    (call $field (i32.const 340) (i32.const 10) (i32.const 360) (i32.const 5))
    (call $head_end)
    (call $bytes_body (local.get $body) (local.get $body_len))
    (call $end))

  ;; 200 naming a file body, keeping the connection.
  (func $file (param $consumed i32) (param $path i32) (param $path_len i32) (param $size i64)
              (param $len i64) (result i32)
    (call $begin (i32.const 2) (local.get $consumed))
    (call $respond (i32.const 200) (i32.const 1))
    (call $head_end)
    (call $file_body (local.get $path) (local.get $path_len) (local.get $size) (i64.const 0)
                     (local.get $len))
    (call $end))

  ;; Open `path` (at $ptr, $len) beneath fd $fd with these rights and
  ;; open flags; returns the errno.
  (func $open (param $fd i32) (param $ptr i32) (param $len i32) (param $oflags i32)
              (param $rights i64) (result i32)
    (call $path_open (local.get $fd) (i32.const 1) (local.get $ptr) (local.get $len)
                     (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0)
                     (i32.const 92)))

  (func $escape (param $input_len i32) (result i32)
    (i32.store8 (i32.const 500) (call $open (i32.const 3) (i32.const 100) (i32.const 13) (i32.const 0) (i64.const 2)))
    (i32.store8 (i32.const 501) (call $open (i32.const 3) (i32.const 120) (i32.const 15) (i32.const 0) (i64.const 2)))
    (i32.store8 (i32.const 502) (call $open (i32.const 3) (i32.const 140) (i32.const 6) (i32.const 0) (i64.const 2)))
    ;; create a file (O_CREAT = 1) with fd_write rights (1 << 6)
    (i32.store8 (i32.const 503) (call $open (i32.const 3) (i32.const 150) (i32.const 11) (i32.const 1) (i64.const 64)))
    ;; open an existing file for writing
    (i32.store8 (i32.const 504) (call $open (i32.const 3) (i32.const 170) (i32.const 10) (i32.const 0) (i64.const 64)))
    ;; truncate it (O_TRUNC = 8)
    (i32.store8 (i32.const 505) (call $open (i32.const 3) (i32.const 170) (i32.const 10) (i32.const 8) (i64.const 2)))
    (i32.store8 (i32.const 506) (call $mkdir (i32.const 3) (i32.const 190) (i32.const 6)))
    (i32.store8 (i32.const 507) (call $unlink (i32.const 3) (i32.const 170) (i32.const 10)))
    ;; set its mtime (fst_mtim = 4) to 0
    (i32.store8 (i32.const 508) (call $set_times (i32.const 3) (i32.const 0) (i32.const 170) (i32.const 10)
                                                 (i64.const 0) (i64.const 0) (i32.const 4)))
    ;; an absolute path
    (i32.store8 (i32.const 509) (call $open (i32.const 3) (i32.const 200) (i32.const 11) (i32.const 0) (i64.const 2)))
    ;; the control: reading a file in the root works
    (i32.store8 (i32.const 510) (call $open (i32.const 3) (i32.const 170) (i32.const 10) (i32.const 0) (i64.const 2)))
    ;; the same escapes by stat, following symbolic links (flags = 1)
    (i32.store8 (i32.const 511) (call $stat (i32.const 3) (i32.const 100) (i32.const 13)))
    (i32.store8 (i32.const 512) (call $stat (i32.const 3) (i32.const 120) (i32.const 15)))
    (i32.store8 (i32.const 513) (call $stat (i32.const 3) (i32.const 140) (i32.const 6)))
    (i32.store8 (i32.const 514) (call $stat (i32.const 3) (i32.const 200) (i32.const 11)))
    ;; the control: a stat of a file in the root works
    (i32.store8 (i32.const 515) (call $stat (i32.const 3) (i32.const 170) (i32.const 10)))
    (call $closing (local.get $input_len) (i32.const 500) (i32.const 16) (i32.const 328) (i32.const 2)))

  ;; path_filestat_get on $fd, following symbolic links, into 1024.
  (func $stat (param $fd i32) (param $ptr i32) (param $len i32) (result i32)
    (call $path_filestat_get (local.get $fd) (i32.const 1) (local.get $ptr) (local.get $len)
                             (i32.const 1024)))

  ;; The call: 32 state bytes, wall time (12), monotonic time (8), flags
  ;; at 52 (bit 1: a refusal follows), the miss at 53.
  (func (export "portico_step") (param $call i32) (param $call_len i32) (param $input i32)
                                (param $len i32) (result i32)
    (local $first i32)
    (if (i32.eqz (local.get $len))
      (then (call $begin (i32.const 0) (i32.const 0)) (return (call $end))))
    (local.set $first (i32.load8_u (local.get $input)))
    (if (i32.eq (local.get $first) (i32.const 76)) ;; 'L'
      (then (loop $forever (br $forever))))
    (if (i32.eq (local.get $first) (i32.const 66)) ;; 'B'
      (then (loop $grow
              (drop (memory.grow (i32.const 16)))
              (br $grow))))
    (if (i32.eq (local.get $first) (i32.const 84)) ;; 'T'
      (then unreachable))
    (if (i32.eq (local.get $first) (i32.const 69)) ;; 'E'
      (then (return (call $escape (local.get $len)))))
    (if (i32.eq (local.get $first) (i32.const 70)) ;; 'F': index.html is 14 bytes, say 1
      (then (return (call $file (local.get $len) (i32.const 170) (i32.const 10)
                                (i64.const 1) (i64.const 1)))))
    (if (i32.eq (local.get $first) (i32.const 80)) ;; 'P'
      (then (return (call $file (local.get $len) (i32.const 220) (i32.const 9)
                                (i64.const 13) (i64.const 13)))))
    (if (i32.eq (local.get $first) (i32.const 82)) ;; 'R': 14 bytes, send 15
      (then (return (call $file (local.get $len) (i32.const 170) (i32.const 10)
                                (i64.const 14) (i64.const 15)))))
    (if (i32.eq (local.get $first) (i32.const 72)) ;; 'H'
      (then
        (call $begin (i32.const 2) (local.get $len))
        (call $respond (i32.const 200) (i32.const 1))
        (call $field (i32.const 300) (i32.const 14) (i32.const 320) (i32.const 1))
        (call $field (i32.const 370) (i32.const 6) (i32.const 380) (i32.const 16))
        (call $head_end)
        (call $bytes_body (i32.const 330) (i32.const 2))
        (return (call $end))))
    (if (i32.eq (local.get $first) (i32.const 67)) ;; 'C'
      (then
        (i32.store8 (i32.const 520) (call $fd_close (i32.const 3)))
        (i32.store8 (i32.const 521) (call $stat (i32.const 3) (i32.const 170) (i32.const 10)))
        (return (call $closing (local.get $len) (i32.const 520) (i32.const 2) (i32.const 320) (i32.const 1)))))
    (if (i32.eq (local.get $first) (i32.const 78)) ;; 'N'
      (then
        (i32.store8 (i32.const 520) (call $fd_renumber (i32.const 3) (i32.const 0)))
        (i32.store8 (i32.const 521) (call $stat (i32.const 0) (i32.const 170) (i32.const 10)))
        (i32.store8 (i32.const 522) (call $stat (i32.const 3) (i32.const 170) (i32.const 10)))
        (return (call $closing (local.get $len) (i32.const 520) (i32.const 3) (i32.const 326) (i32.const 1)))))
    (if (i32.eq (local.get $first) (i32.const 90)) ;; 'Z'
      (then (return (call $ok (i32.const 0)))))
    (if (i32.eq (local.get $first) (i32.const 83)) ;; 'S'
      (then
        (i32.store8 (i32.const 520) (call $poll_oneoff (i32.const 800) (i32.const 900) (i32.const 1) (i32.const 960)))
        (return (call $closing (local.get $len) (i32.const 520) (i32.const 1) (i32.const 324) (i32.const 1)))))
    (if (i32.or (i32.eq (local.get $first) (i32.const 68))  ;; 'D'
                (i32.eq (local.get $first) (i32.const 77))) ;; 'M'
      (then
        (if (i32.and (i32.load8_u offset=52 (local.get $call)) (i32.const 2))
          (then
            (i32.store8 (i32.const 520) (i32.load8_u offset=53 (local.get $call)))
            (return (call $closing (local.get $len) (i32.const 520) (i32.const 1) (i32.const 324) (i32.const 1)))))
        (if (i32.eq (local.get $first) (i32.const 68))
          (then (return (call $file (local.get $len) (i32.const 240) (i32.const 7)
                                    (i64.const 6) (i64.const 6)))))
        (return (call $file (local.get $len) (i32.const 250) (i32.const 8)
                            (i64.const 3) (i64.const 3)))))
    (call $ok (local.get $len)))
)
