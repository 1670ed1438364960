;; A WASI 0.2 command component in plain WAT (no adapter): prints a greeting and one random
;; u64 in hex. Run it natively or on the virtual host:
;;   omniwasm run examples/wasi_hello.wat
;;   omniwasm run --wasi virtual --deterministic --seed 7 examples/wasi_hello.wat
(component
  (import "wasi:io/error@0.2.0" (instance $io-error
    (export "error" (type (sub resource)))))
  (alias export $io-error "error" (type $error))
  (import "wasi:io/streams@0.2.0" (instance $streams
    (export "output-stream" (type $os (sub resource)))
    (alias outer 1 $error (type $error'))
    (export "error" (type $err (eq $error')))
    (type $se (variant (case "last-operation-failed" (own $err)) (case "closed")))
    (export "stream-error" (type $stream-error (eq $se)))
    (export "[method]output-stream.blocking-write-and-flush"
      (func (param "self" (borrow $os)) (param "contents" (list u8))
            (result (result (error $stream-error)))))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type $os'))
    (export "output-stream" (type $os (eq $os')))
    (export "get-stdout" (func (result (own $os))))))
  (import "wasi:random/random@0.2.0" (instance $random
    (export "get-random-u64" (func (result u64)))))

  (core module $mem-mod
    (memory (export "memory") 1)
    (data (i32.const 0) "Hello from a WASI 0.2 component! random: ")
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024)))
  (core instance $mem (instantiate $mem-mod))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))

  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $memory) (realloc $realloc)))
  (core func $drop-os (canon resource.drop $output-stream))
  (core func $random (canon lower (func $random "get-random-u64")))

  (core module $m
    (import "host" "memory" (memory 1))
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "drop-os" (func $drop-os (param i32)))
    (import "host" "random" (func $random (result i64)))
    (func (export "run") (result i32)
      (local $out i32) (local $r i64) (local $i i32) (local $d i32)
      (local.set $r (call $random))
      ;; 16 hex digits at 41..56, then a newline at 57
      (local.set $i (i32.const 15))
      (loop $digit
        (local.set $d (i32.wrap_i64 (i64.and (local.get $r) (i64.const 15))))
        (i32.store8 (i32.add (i32.const 41) (local.get $i))
          (i32.add (local.get $d)
            (select (i32.const 87) (i32.const 48) (i32.gt_u (local.get $d) (i32.const 9)))))
        (local.set $r (i64.shr_u (local.get $r) (i64.const 4)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $digit (i32.ge_s (local.get $i) (i32.const 0))))
      (i32.store8 (i32.const 57) (i32.const 10))
      (local.set $out (call $get-stdout))
      (call $write (local.get $out) (i32.const 0) (i32.const 58) (i32.const 512))
      (call $drop-os (local.get $out))
      (i32.const 0)))
  (core instance $i (instantiate $m
    (with "host" (instance
      (export "memory" (memory $memory))
      (export "get-stdout" (func $get-stdout))
      (export "write" (func $write))
      (export "drop-os" (func $drop-os))
      (export "random" (func $random))))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@0.2.0" (instance $run-instance))
)
