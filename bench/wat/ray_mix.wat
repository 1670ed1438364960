;; ray_mix.wat: a CPU-bound batch function for bench/ray_scale.py: `mix` replaces each s64 by
;; 1024 rounds of a xorshift-multiply hash of it, in place (the batch ABI of _columnar.py).
(module
  (@custom "omniwasm:signatures" "mix: batch func(x: s64) -> s64\n")
  (memory (export "memory") 1)
  (global $scratch i32 (i32.const 65536))
  (func (export "omniwasm_scratch") (param $size i32) (result i32)
    (local $need i32)
    (local.set $need (i32.shr_u (i32.add (local.get $size) (i32.const 131071)) (i32.const 16)))
    (if (i32.gt_u (local.get $need) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $need) (memory.size))) (i32.const -1))
          (then unreachable))))
    (global.get $scratch))
  (func (export "mix") (param $desc i32) (result i32)
    (local $p i32) (local $end i32) (local $x i64) (local $i i32)
    (local.set $p (i32.load offset=28 (local.get $desc)))
    (local.set $end
      (i32.add (local.get $p) (i32.shl (i32.load (local.get $desc)) (i32.const 3))))
    (block $done (loop $row
      (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
      (local.set $x (i64.load (local.get $p)))
      (local.set $i (i32.const 1024))
      (loop $round
        (local.set $x (i64.mul (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 33)))
                               (i64.const 0x62a9d9ed799705f5)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (br_if $round (local.get $i)))
      (i64.store (local.get $p) (local.get $x))
      (local.set $p (i32.add (local.get $p) (i32.const 8)))
      (br $row)))
    (i32.store offset=48 (local.get $desc) (i32.const 0))
    (i32.store offset=52 (local.get $desc) (i32.load offset=28 (local.get $desc)))
    (i32.const 0)))
