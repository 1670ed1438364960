;; Host-call microbenchmark guest for the virtual WASI host (bench/wasi_call.py):
;;   now-loop(n)          calls wasi:clocks/monotonic-clock.now n times, returns the last value
;;   write-loop(n, size)  gets stdout once and calls output-stream.write n times with `size`
;;                        bytes (from linear memory at 0), ignoring the results
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
    (export "[method]output-stream.write"
      (func (param "self" (borrow $os)) (param "contents" (list u8))
            (result (result (error $stream-error)))))))
  (alias export $streams "output-stream" (type $output-stream))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout
    (alias outer 1 $output-stream (type $os'))
    (export "output-stream" (type $os (eq $os')))
    (export "get-stdout" (func (result (own $os))))))
  (import "wasi:clocks/monotonic-clock@0.2.0" (instance $clock
    (type $instant' u64)
    (export "instant" (type $instant (eq $instant')))
    (export "now" (func (result $instant)))))

  (core module $mem-mod
    (memory (export "memory") 17)
    (global $heap (mut i32) (i32.const 65536))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $heap))
      (global.set $heap (i32.add (global.get $heap) (local.get 3)))
      (local.get $p)))
  (core instance $mem (instantiate $mem-mod))
  (alias core export $mem "memory" (core memory $memory))
  (alias core export $mem "realloc" (core func $realloc))

  (core func $now (canon lower (func $clock "now")))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $write (canon lower (func $streams "[method]output-stream.write")
    (memory $memory) (realloc $realloc)))
  (core func $drop-os (canon resource.drop $output-stream))

  (core module $m
    (import "host" "now" (func $now (result i64)))
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "drop-os" (func $drop-os (param i32)))
    (func (export "now-loop") (param $n i32) (result i64)
      (local $last i64)
      (block $done
        (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (local.set $last (call $now))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
      (local.get $last))
    (func (export "write-loop") (param $n i32) (param $size i32)
      (local $out i32)
      (local.set $out (call $get-stdout))
      (block $done
        (loop $next
          (br_if $done (i32.eqz (local.get $n)))
          (call $write (local.get $out) (i32.const 0) (local.get $size) (i32.const 1024))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $next)))
      (call $drop-os (local.get $out))))
  (core instance $i (instantiate $m
    (with "host" (instance
      (export "now" (func $now))
      (export "get-stdout" (func $get-stdout))
      (export "write" (func $write))
      (export "drop-os" (func $drop-os))))))
  (func (export "now-loop") (param "n" u32) (result u64) (canon lift (core func $i "now-loop")))
  (func (export "write-loop") (param "n" u32) (param "size" u32)
    (canon lift (core func $i "write-loop")))
)
