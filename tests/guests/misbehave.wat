;; A deliberately broken portico guest (ABI version 1) for the sandbox
;; tests. Its step looks at the first input byte:
;;   L  loops forever             (the host's epoch deadline must stop it: 503)
;;   B  grows memory without end  (the StoreLimits cap must stop it: 500)
;;   T  traps                     (500, and the instance is replaced)
;;   E  tries to escape the root and to write into it, and answers 200 with
;;      one byte per attempt: the low byte of the WASI errno (0 = success)
;;   F  names index.html as the body with a wrong FILE_SIZE (as if the file
;;      changed after the lookup): the host must close, sending nothing
;;   P  names ../secret as the body file: the host must refuse the path
;;   Z  answers "ok", keeping the connection, having consumed nothing: it
;;      would answer the same bytes forever, so the host must refuse it
;;   S  asks the host to sleep (poll_oneoff): the host must refuse, and the
;;      answer's one body byte is the errno
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
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))

  ;; Paths the escape attempts use.
  (data (i32.const 100) "../etc/passwd")     ;; 13 bytes
  (data (i32.const 120) "etc-link/passwd")   ;; 15
  (data (i32.const 140) "escape")            ;; 6
  (data (i32.const 150) "created.txt")       ;; 11
  (data (i32.const 170) "index.html")        ;; 10
  (data (i32.const 190) "newdir")            ;; 6
  (data (i32.const 200) "/etc/passwd")       ;; 11
  ;; Response heads.
  (data (i32.const 300) "HTTP/1.1 200 OK\0d\0aContent-Length: 2\0d\0a\0d\0aok")  ;; 38 + 2
  (data (i32.const 400) "HTTP/1.1 200 OK\0d\0aContent-Length: 11\0d\0aConnection: close\0d\0a\0d\0a") ;; 58
  ;; Heads for file bodies, each followed by the file path.
  (data (i32.const 500) "HTTP/1.1 200 OK\0d\0aContent-Length: 14\0d\0a\0d\0aindex.html") ;; 39 + 10
  (data (i32.const 600) "HTTP/1.1 200 OK\0d\0aContent-Length: 13\0d\0a\0d\0a../secret")  ;; 39 + 9
  (data (i32.const 700) "HTTP/1.1 200 OK\0d\0aContent-Length: 1\0d\0aConnection: close\0d\0a\0d\0a") ;; 57 + 1
  ;; A poll_oneoff subscription: a relative clock timeout of 5 s.
  (data (i32.const 800) "\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\00\01\00\00\00\00\00\00\00\00\f2\05\2a\01\00\00\00")

  (func (export "_initialize"))
  (func (export "portico_abi_version") (result i32) (i32.const 1))

  ;; A bump allocator: blocks are never reused (instances are short-lived).
  (func (export "portico_alloc") (param $len i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap
      (i32.and (i32.add (i32.add (global.get $heap) (local.get $len)) (i32.const 7))
               (i32.const -8)))
    (local.get $at))
  (func (export "portico_free") (param i32 i32))

  ;; The result block lives at 60000.
  (func $result (param $action i32) (param $consumed i32) (param $status i32)
                (param $flags i32) (param $head i32) (param $head_len i32)
                (param $body_len i32) (result i32)
    (call $block (local.get $action) (local.get $consumed) (local.get $status)
                 (local.get $flags) (local.get $head) (local.get $head_len)
                 (local.get $body_len) (i32.const 1) (i64.const 0) (i64.const 0)))

  (func $block (param $action i32) (param $consumed i32) (param $status i32)
                (param $flags i32) (param $head i32) (param $head_len i32)
                (param $body_len i32) (param $kind i32) (param $file_len i64)
                (param $file_size i64) (result i32)
    (memory.fill (i32.const 60000) (i32.const 0) (i32.const 80))
    (i32.store (i32.const 60000) (i32.add (i32.const 80) (i32.add (local.get $head_len) (local.get $body_len))))
    (i32.store (i32.const 60004) (local.get $action))
    (i32.store (i32.const 60008) (local.get $consumed))
    (i32.store (i32.const 60012) (local.get $status))
    (i32.store (i32.const 60016) (local.get $flags))
    (i32.store (i32.const 60020) (local.get $kind))
    (i64.store (i32.const 60040) (local.get $file_len))
    (i64.store (i32.const 60048) (local.get $file_size))
    (i32.store (i32.const 60024) (local.get $head_len))
    (i32.store (i32.const 60028) (local.get $body_len))
    ;; head and body are contiguous at $head
    (memory.copy (i32.const 60080) (local.get $head)
                 (i32.add (local.get $head_len) (local.get $body_len)))
    (i32.const 60000))

  ;; Open `path` (at $ptr, $len) beneath fd $fd with these rights and
  ;; open flags; returns the errno.
  (func $open (param $fd i32) (param $ptr i32) (param $len i32) (param $oflags i32)
              (param $rights i64) (result i32)
    (call $path_open (local.get $fd) (i32.const 1) (local.get $ptr) (local.get $len)
                     (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0)
                     (i32.const 92)))

  (func $escape (param $input_len i32) (result i32)
    ;; body: 11 errno bytes at 400 + 58
    (i32.store8 (i32.const 458) (call $open (i32.const 3) (i32.const 100) (i32.const 13) (i32.const 0) (i64.const 2)))
    (i32.store8 (i32.const 459) (call $open (i32.const 3) (i32.const 120) (i32.const 15) (i32.const 0) (i64.const 2)))
    (i32.store8 (i32.const 460) (call $open (i32.const 3) (i32.const 140) (i32.const 6) (i32.const 0) (i64.const 2)))
    ;; create a file (O_CREAT = 1) with fd_write rights (1 << 6)
    (i32.store8 (i32.const 461) (call $open (i32.const 3) (i32.const 150) (i32.const 11) (i32.const 1) (i64.const 64)))
    ;; open an existing file for writing
    (i32.store8 (i32.const 462) (call $open (i32.const 3) (i32.const 170) (i32.const 10) (i32.const 0) (i64.const 64)))
    ;; truncate it (O_TRUNC = 8)
    (i32.store8 (i32.const 463) (call $open (i32.const 3) (i32.const 170) (i32.const 10) (i32.const 8) (i64.const 2)))
    (i32.store8 (i32.const 464) (call $mkdir (i32.const 3) (i32.const 190) (i32.const 6)))
    (i32.store8 (i32.const 465) (call $unlink (i32.const 3) (i32.const 170) (i32.const 10)))
    ;; set its mtime (fst_mtim = 4) to 0
    (i32.store8 (i32.const 466) (call $set_times (i32.const 3) (i32.const 0) (i32.const 170) (i32.const 10)
                                                 (i64.const 0) (i64.const 0) (i32.const 4)))
    ;; an absolute path
    (i32.store8 (i32.const 467) (call $open (i32.const 3) (i32.const 200) (i32.const 11) (i32.const 0) (i64.const 2)))
    ;; the control: reading a file in the root works
    (i32.store8 (i32.const 468) (call $open (i32.const 3) (i32.const 170) (i32.const 10) (i32.const 0) (i64.const 2)))
    (call $result (i32.const 2) (local.get $input_len) (i32.const 200) (i32.const 0)
                  (i32.const 400) (i32.const 58) (i32.const 11)))

  (func (export "portico_step") (param $state i32) (param $input i32) (param $len i32)
                                (param $secs i64) (param $nanos i32) (result i32)
    (local $first i32)
    (if (i32.eqz (local.get $len))
      (then (return (call $result (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                                  (i32.const 300) (i32.const 0) (i32.const 0)))))
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
      (then (return (call $block (i32.const 2) (local.get $len) (i32.const 200) (i32.const 1)
                                 (i32.const 500) (i32.const 39) (i32.const 10) (i32.const 2)
                                 (i64.const 14) (i64.const 1)))))
    (if (i32.eq (local.get $first) (i32.const 90)) ;; 'Z'
      (then (return (call $result (i32.const 2) (i32.const 0) (i32.const 200) (i32.const 1)
                                  (i32.const 300) (i32.const 38) (i32.const 2)))))
    (if (i32.eq (local.get $first) (i32.const 83)) ;; 'S'
      (then
        (i32.store8 (i32.const 757) (call $poll_oneoff (i32.const 800) (i32.const 900) (i32.const 1) (i32.const 960)))
        (return (call $result (i32.const 2) (local.get $len) (i32.const 200) (i32.const 0)
                              (i32.const 700) (i32.const 57) (i32.const 1)))))
    (if (i32.eq (local.get $first) (i32.const 80)) ;; 'P'
      (then (return (call $block (i32.const 2) (local.get $len) (i32.const 200) (i32.const 1)
                                 (i32.const 600) (i32.const 39) (i32.const 9) (i32.const 2)
                                 (i64.const 13) (i64.const 13)))))
    (call $result (i32.const 2) (local.get $len) (i32.const 200) (i32.const 1)
                  (i32.const 300) (i32.const 38) (i32.const 2)))
)
