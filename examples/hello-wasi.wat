;; A WASI command (`_start`) that prints "Hello, <first argument>!" to stdout, or
;; "Hello, world!" without arguments. Its stdout is the task's result.
;; Run: propeller run examples/hello-wasi.wat --args Propeller   → Hello, Propeller!
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (memory (export "memory") 1 1)
  ;; 0: iovec {ptr, len}   8: nwritten   16: argc   20: argv buffer size
  ;; 1024: argv pointers (up to 768)   4096: argv strings (the page bounds them at 60 KiB)
  (data (i32.const 64) "Hello, ")
  (data (i32.const 80) "world")
  (data (i32.const 96) "!\n")

  (func $write (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $end
      (loop $scan
        (br_if $end (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $scan)))
    (local.get $n))

  (func (export "_start")
    (local $arg i32)
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (call $write (i32.const 64) (i32.const 7))
    (if (i32.and
          (i32.and
            (i32.gt_u (i32.load (i32.const 16)) (i32.const 1))
            (i32.le_u (i32.load (i32.const 16)) (i32.const 768)))
          (i32.le_u (i32.load (i32.const 20)) (i32.const 61440)))
      (then
        (drop (call $args_get (i32.const 1024) (i32.const 4096)))
        (local.set $arg (i32.load (i32.const 1028)))
        (call $write (local.get $arg) (call $strlen (local.get $arg))))
      (else
        (call $write (i32.const 80) (i32.const 5))))
    (call $write (i32.const 96) (i32.const 2))))
