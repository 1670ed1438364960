;; sql_kernels.wat: SQL functions as a core module, under omniwasm's core ABIs.
;;
;;   import omniwasm.sql, duckdb
;;   con = duckdb.connect()
;;   omniwasm.sql.register(con, "sql_kernels.wat")
;;   con.sql("SELECT times2(x), upper_ascii(s) FROM t")
;;
;; The custom section declares each function's SQL-facing types. `batch` functions run once
;; per batch of rows over Arrow-layout columns (see omniwasm/_columnar.py): the host copies
;; the argument buffers into the area `omniwasm_scratch` hands out and passes the address of
;; a descriptor; the function fills in the result column and returns 0. The others are
;; scalar: one call per row, numbers by value, strings as (pointer, length) in the scratch
;; area and returned as `length << 32 | pointer`.
(module
  (@custom "omniwasm:signatures"
    "times2: batch func(x: s64) -> s64\n"
    "upper-ascii: batch func(s: string) -> string\n"
    "shout: func(s: string) -> string\n"
    "byte-count: func(b: list<u8>) -> s32\n")
  (memory (export "memory") 1)

  ;; The scratch area starts at 64 KiB and grows the memory as the host asks for more.
  (global $scratch i32 (i32.const 65536))
  (func (export "omniwasm_scratch") (param $size i32) (result i32)
    (local $need i32)
    ;; pages needed in all: (64 KiB + size + 64 KiB - 1) / 64 KiB
    (local.set $need (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable))))
    (global.get $scratch))

  ;; scalar: x * 2 + 1 (a core module's all-numeric exports need no declaration)
  (func (export "twice-plus-one") (param $x i64) (result i64)
    (i64.add (i64.mul (local.get $x) (i64.const 2)) (i64.const 1)))

  ;; batch: x * 2 + 1 over a column of s64, in place in the argument's value buffer, two
  ;; values at a time (SIMD), the odd one last.
  ;; Descriptor: rows @0; argument 0 at @16 (its values pointer @28); the result at @40.
  (func (export "times2") (param $desc i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.load offset=28 (local.get $desc)))
    (local.set $end
      (i32.add (local.get $p) (i32.shl (i32.load (local.get $desc)) (i32.const 3))))
    (block $done (loop $next
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $end)))
      (v128.store (local.get $p)
        (i64x2.add (i64x2.shl (v128.load (local.get $p)) (i32.const 1))
                   (v128.const i64x2 1 1)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $next)))
    (if (i32.lt_u (local.get $p) (local.get $end))
      (then
        (i64.store (local.get $p)
          (i64.add (i64.shl (i64.load (local.get $p)) (i64.const 1)) (i64.const 1)))))
    ;; result: validity 0 (no nulls), values = the argument's values
    (i32.store offset=48 (local.get $desc) (i32.const 0))
    (i32.store offset=52 (local.get $desc) (i32.load offset=28 (local.get $desc)))
    (i32.const 0))

  ;; ASCII upper case of `len` bytes at `ptr`, in place: 16 bytes at a time (SIMD: the bytes
  ;; in 'a'..'z' lose 0x20), then the tail byte by byte.
  (func $upper (param $ptr i32) (param $len i32)
    (local $end i32) (local $v v128) (local $c i32)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done (loop $next
      (br_if $done (i32.gt_u (i32.add (local.get $ptr) (i32.const 16)) (local.get $end)))
      (local.set $v (v128.load (local.get $ptr)))
      (v128.store (local.get $ptr)
        (i8x16.sub (local.get $v)
          (v128.and (i8x16.splat (i32.const 32))
            (v128.and (i8x16.gt_u (local.get $v) (i8x16.splat (i32.const 96)))
                      (i8x16.lt_u (local.get $v) (i8x16.splat (i32.const 123)))))))
      (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
      (br $next)))
    (block $tail-done (loop $tail
      (br_if $tail-done (i32.ge_u (local.get $ptr) (local.get $end)))
      (local.set $c (i32.load8_u (local.get $ptr)))
      (if (i32.lt_u (i32.sub (local.get $c) (i32.const 97)) (i32.const 26))
        (then (i32.store8 (local.get $ptr) (i32.sub (local.get $c) (i32.const 32)))))
      (local.set $ptr (i32.add (local.get $ptr) (i32.const 1)))
      (br $tail))))

  ;; batch: upper case of a string column: the offsets stay, the data is rewritten in place.
  ;; Argument 0: values (offsets) @28, data @32, data_len @36. Result @40.
  (func (export "upper-ascii") (param $desc i32) (result i32)
    (call $upper (i32.load offset=32 (local.get $desc)) (i32.load offset=36 (local.get $desc)))
    (i32.store offset=48 (local.get $desc) (i32.const 0))
    (i32.store offset=52 (local.get $desc) (i32.load offset=28 (local.get $desc)))
    (i32.store offset=56 (local.get $desc) (i32.load offset=32 (local.get $desc)))
    (i32.store offset=60 (local.get $desc) (i32.load offset=36 (local.get $desc)))
    (i32.const 0))

  ;; scalar: upper case of one string, in place; returns length << 32 | pointer
  (func (export "shout") (param $ptr i32) (param $len i32) (result i64)
    (call $upper (local.get $ptr) (local.get $len))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 32))
            (i64.extend_i32_u (local.get $ptr))))

  ;; scalar: the length of a BLOB
  (func (export "byte-count") (param $ptr i32) (param $len i32) (result i32)
    (local.get $len))
)
