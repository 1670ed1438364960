;; A WASI p1 command: writes a greeting to stdout with fd_write and exits 0.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; iovec at 0: { buf = 16, len = 35 }
  (data (i32.const 0) "\10\00\00\00\23\00\00\00")
  (data (i32.const 16) "Hello from a sandboxed WASI guest!\n")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
