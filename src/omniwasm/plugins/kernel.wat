(module
  ;; The Extism kernel: the part of the `extism:host/env` ABI that needs no host.
  ;;
  ;; A plugin imports these functions from `extism:host/env`; omniwasm links this module into the
  ;; plugin's store beside it, so a plugin's allocations, loads, stores and input/output calls stay
  ;; inside WebAssembly and never enter Python. The semantics follow Extism's own kernel
  ;; (extism/extism, kernel/src/lib.rs, built with its default `bounds-checking` feature), and the
  ;; memory layout is the same byte for byte, so handles are the numbers Extism would give.
  ;;
  ;; Memory (this module's own, exported as "memory"; it starts with one page and grows):
  ;;
  ;;   offset 0        never used, so handle 0 can mean "null / failure"
  ;;   offset 1..64    the root (a stable layout a host may read directly):
  ;;                     +0  (1)  u8  initialized (always 1: set by the data segment)
  ;;                     +8  (9)  u64 position: bytes of blocks used, relative to offset 65
  ;;                     +16 (17) u64 length: bytes the allocator manages (memory size - 64)
  ;;                     +24 (25) u64 error handle (0: no error)
  ;;                     +32 (33) u64 input offset      +40 (41) u64 input length
  ;;                     +48 (49) u64 output offset     +56 (57) u64 output length
  ;;   offset 65...    blocks, laid end to end: a 12-byte header then the data
  ;;                     +0 u8 status (0 unused, 1 active, 2 free)
  ;;                     +4 u32 size (bytes of data the block spans)
  ;;                     +8 u32 used (bytes the current allocation asked for: `length`)
  ;;                   A handle is the offset of a block's data, i.e. header + 12.
  ;;
  ;; The allocator bumps `position` for new blocks. A freed block is reused by the first later
  ;; allocation it fits; when it is at least 128 bytes too big, its tail becomes the new block and
  ;; the rest stays free. Free blocks are never merged. `reset` (called by the host before every
  ;; plugin call) zeroes the blocks and forgets input, output and error.
  ;;
  ;; Out-of-range accesses never trap: loads outside the block area return 0, stores there are
  ;; ignored, and input/output/error registers are only set to ranges inside it. The root is outside
  ;; the block area, so a plugin cannot corrupt the allocator's bookkeeping with `store_*`.
  ;;
  ;; (The file starts with `(module` so that its text loads as WAT with Runtime.load.)

  (memory (export "memory") 1)

  ;; initialized = 1, length = 65536 - 64: the state right after Extism's lazy initialisation.
  (data (i32.const 1) "\01")
  (data (i32.const 17) "\c0\ff\00\00\00\00\00\00")

  ;; Root field addresses.
  (global $POSITION i32 (i32.const 9))
  (global $LENGTH i32 (i32.const 17))
  (global $ERROR i32 (i32.const 25))
  (global $INPUT_OFFSET i32 (i32.const 33))
  (global $INPUT_LENGTH i32 (i32.const 41))
  (global $OUTPUT_OFFSET i32 (i32.const 49))
  (global $OUTPUT_LENGTH i32 (i32.const 57))
  ;; First block header; the first handle is BLOCKS + HEADER = 77.
  (global $BLOCKS i64 (i64.const 65))
  (global $HEADER i64 (i64.const 12))

  ;; ---------------------------------------------------------------- helpers

  ;; End of linear memory in bytes.
  (func $end (result i64)
    (i64.shl (i64.extend_i32_u (memory.size)) (i64.const 16)))

  ;; Whether [p, p + n) lies inside the block area (unsigned, overflow-safe).
  (func $in_blocks (param $p i64) (param $n i64) (result i32)
    (local $end i64)
    (local.set $end (call $end))
    (i32.and
      (i32.and
        (i64.ge_u (local.get $p) (global.get $BLOCKS))
        (i64.le_u (local.get $n) (local.get $end)))
      (i64.le_u (local.get $p) (i64.sub (local.get $end) (local.get $n)))))

  (func $position (result i64) (i64.load (global.get $POSITION)))

  ;; Field accessors of the block whose header is at $b.
  (func $status (param $b i64) (result i32) (i32.load8_u (i32.wrap_i64 (local.get $b))))
  (func $size (param $b i64) (result i64)
    (i64.extend_i32_u (i32.load offset=4 (i32.wrap_i64 (local.get $b)))))

  ;; Write a block header.
  (func $set_block (param $b i64) (param $status i32) (param $size i64) (param $used i64)
    (local $a i32)
    (local.set $a (i32.wrap_i64 (local.get $b)))
    (i32.store8 (local.get $a) (local.get $status))
    (i32.store offset=4 (local.get $a) (i32.wrap_i64 (local.get $size)))
    (i32.store offset=8 (local.get $a) (i32.wrap_i64 (local.get $used))))

  ;; The header of the active block whose data starts at $p, or 0. Blocks are in address order,
  ;; so the walk stops at the first block past $p.
  (func $find_block (param $p i64) (result i64)
    (local $b i64)
    (local $stop i64)
    (local.set $b (global.get $BLOCKS))
    (local.set $stop (i64.add (global.get $BLOCKS) (call $position)))
    (block $done
      (loop $walk
        (br_if $done (i64.ge_u (local.get $b) (local.get $stop)))
        (br_if $done (i64.gt_u (i64.add (local.get $b) (global.get $HEADER)) (local.get $p)))
        (if (i32.and
              (i64.eq (i64.add (local.get $b) (global.get $HEADER)) (local.get $p))
              (i32.eq (call $status (local.get $b)) (i32.const 1)))
          (then (return (local.get $b))))
        (local.set $b
          (i64.add (i64.add (local.get $b) (global.get $HEADER)) (call $size (local.get $b))))
        (br $walk)))
    (i64.const 0))

  ;; The header of a free block of at least $n bytes (split when 128+ bytes too big), or 0.
  (func $reuse_block (param $n i64) (result i64)
    (local $b i64)
    (local $stop i64)
    (local $size i64)
    (local $tail i64)
    (local.set $b (global.get $BLOCKS))
    (local.set $stop (i64.add (global.get $BLOCKS) (call $position)))
    (block $done
      (loop $walk
        (br_if $done (i64.ge_u (local.get $b) (local.get $stop)))
        (local.set $size (call $size (local.get $b)))
        (if (i32.and
              (i32.eq (call $status (local.get $b)) (i32.const 2))
              (i64.ge_u (local.get $size) (local.get $n)))
          (then
            (if (i64.ge_u (i64.sub (local.get $size) (local.get $n)) (i64.const 128))
              (then
                ;; Keep the front free and carve the new block out of the tail.
                (local.set $size
                  (i64.sub (local.get $size) (i64.add (local.get $n) (global.get $HEADER))))
                (call $set_block (local.get $b) (i32.const 2) (local.get $size) (i64.const 0))
                (local.set $tail
                  (i64.add (i64.add (local.get $b) (global.get $HEADER)) (local.get $size)))
                (call $set_block (local.get $tail) (i32.const 2) (local.get $n) (i64.const 0))
                (return (local.get $tail))))
            (return (local.get $b))))
        (local.set $b
          (i64.add (i64.add (local.get $b) (global.get $HEADER)) (local.get $size)))
        (br $walk)))
    (i64.const 0))

  ;; ---------------------------------------------------------------- allocator

  ;; Allocate $n bytes; the handle of the block's data, or 0 (n = 0, or out of memory).
  (func $alloc (export "alloc") (param $n i64) (result i64)
    (local $b i64)
    (local $need i64)
    (local $pages i64)
    ;; Sizes are u32 in the block header, and no wasm32 memory holds more anyway.
    (if (i32.or (i64.eqz (local.get $n)) (i64.gt_u (local.get $n) (i64.const 0xffffffff)))
      (then (return (i64.const 0))))
    (local.set $b (call $reuse_block (local.get $n)))
    (if (i64.ne (local.get $b) (i64.const 0))
      (then
        (i32.store8 (i32.wrap_i64 (local.get $b)) (i32.const 1))
        (i32.store offset=8 (i32.wrap_i64 (local.get $b)) (i32.wrap_i64 (local.get $n)))
        (return (i64.add (local.get $b) (global.get $HEADER)))))
    ;; A new block at the bump position; grow the memory when it would not fit.
    (local.set $b (i64.add (global.get $BLOCKS) (call $position)))
    (local.set $need
      (i64.sub
        (i64.add (i64.add (local.get $b) (global.get $HEADER)) (local.get $n))
        (call $end)))
    (if (i64.gt_s (local.get $need) (i64.const 0))
      (then
        (local.set $pages (i64.shr_u (i64.add (local.get $need) (i64.const 0xffff)) (i64.const 16)))
        (if (i32.or
              (i64.gt_u (local.get $pages) (i64.const 65536))
              (i32.eq (memory.grow (i32.wrap_i64 (local.get $pages))) (i32.const -1)))
          (then (return (i64.const 0))))
        (i64.store (global.get $LENGTH)
          (i64.add (i64.load (global.get $LENGTH)) (i64.shl (local.get $pages) (i64.const 16))))))
    (i64.store (global.get $POSITION)
      (i64.add (call $position) (i64.add (local.get $n) (global.get $HEADER))))
    (call $set_block (local.get $b) (i32.const 1) (local.get $n) (local.get $n))
    (i64.add (local.get $b) (global.get $HEADER)))

  ;; Mark a block free (unknown handles are ignored). Freeing the input forgets its length.
  (func (export "free") (param $p i64)
    (local $b i64)
    (if (i64.eqz (local.get $p)) (then (return)))
    (local.set $b (call $find_block (local.get $p)))
    (if (i64.eqz (local.get $b)) (then (return)))
    (i32.store8 (i32.wrap_i64 (local.get $b)) (i32.const 2))
    (if (i64.eq (local.get $p) (i64.load (global.get $INPUT_OFFSET)))
      (then (i64.store (global.get $INPUT_LENGTH) (i64.const 0)))))

  ;; Length of an active block, or 0 if $p is not the handle of one (walks the blocks).
  (func (export "length") (param $p i64) (result i64)
    (local $b i64)
    (if (i64.eqz (local.get $p)) (then (return (i64.const 0))))
    (local.set $b (call $find_block (local.get $p)))
    (if (result i64) (i64.eqz (local.get $b))
      (then (i64.const 0))
      (else (i64.load32_u offset=8 (i32.wrap_i64 (local.get $b))))))

  ;; Length read from the header just before $p, without walking; 0 unless it looks active.
  (func (export "length_unsafe") (param $p i64) (result i64)
    (local $b i64)
    (if (i32.eqz
          (call $in_blocks (i64.sub (local.get $p) (global.get $HEADER)) (global.get $HEADER)))
      (then (return (i64.const 0))))
    (local.set $b (i64.sub (local.get $p) (global.get $HEADER)))
    (if (result i64) (i32.eq (call $status (local.get $b)) (i32.const 1))
      (then (i64.load32_u offset=8 (i32.wrap_i64 (local.get $b))))
      (else (i64.const 0))))

  ;; Bytes the allocator manages (Extism's `length` field: memory size minus the root).
  (func (export "memory_bytes") (result i64)
    (i64.load (global.get $LENGTH)))

  ;; Forget every block, the input, the output and the error; zero the old blocks so nothing
  ;; from one call is readable in the next.
  (func $reset (export "reset")
    (memory.fill
      (i32.wrap_i64 (global.get $BLOCKS)) (i32.const 0) (i32.wrap_i64 (call $position)))
    (i64.store (global.get $POSITION) (i64.const 0))
    (i64.store (global.get $ERROR) (i64.const 0))
    (i64.store (global.get $INPUT_OFFSET) (i64.const 0))
    (i64.store (global.get $INPUT_LENGTH) (i64.const 0))
    (i64.store (global.get $OUTPUT_OFFSET) (i64.const 0))
    (i64.store (global.get $OUTPUT_LENGTH) (i64.const 0)))

  ;; ---------------------------------------------------------------- loads and stores

  (func (export "load_u8") (param $p i64) (result i32)
    (if (result i32) (call $in_blocks (local.get $p) (i64.const 1))
      (then (i32.load8_u (i32.wrap_i64 (local.get $p))))
      (else (i32.const 0))))

  (func (export "load_u64") (param $p i64) (result i64)
    (if (result i64) (call $in_blocks (local.get $p) (i64.const 8))
      (then (i64.load (i32.wrap_i64 (local.get $p))))
      (else (i64.const 0))))

  (func (export "store_u8") (param $p i64) (param $x i32)
    (if (call $in_blocks (local.get $p) (i64.const 1))
      (then (i32.store8 (i32.wrap_i64 (local.get $p)) (local.get $x)))))

  (func (export "store_u64") (param $p i64) (param $x i64)
    (if (call $in_blocks (local.get $p) (i64.const 8))
      (then (i64.store (i32.wrap_i64 (local.get $p)) (local.get $x)))))

  ;; ---------------------------------------------------------------- input

  ;; Host side: the input is $len bytes at $p ((0, 0) clears it; ranges outside are ignored).
  (func $input_set (export "input_set") (param $p i64) (param $len i64)
    (if (i32.or
          (i32.and (i64.eqz (local.get $p)) (i64.eqz (local.get $len)))
          (call $in_blocks (local.get $p) (local.get $len)))
      (then
        (i64.store (global.get $INPUT_OFFSET) (local.get $p))
        (i64.store (global.get $INPUT_LENGTH) (local.get $len)))))

  (func (export "input_length") (result i64) (i64.load (global.get $INPUT_LENGTH)))
  (func (export "input_offset") (result i64) (i64.load (global.get $INPUT_OFFSET)))

  ;; Byte $i of the input, or 0 past its end.
  (func (export "input_load_u8") (param $i i64) (result i32)
    (if (result i32) (i64.lt_u (local.get $i) (i64.load (global.get $INPUT_LENGTH)))
      (then
        (i32.load8_u
          (i32.wrap_i64 (i64.add (i64.load (global.get $INPUT_OFFSET)) (local.get $i)))))
      (else (i32.const 0))))

  ;; Input bytes [$i, $i + 8) as a little-endian u64, or 0 unless all eight are inside.
  (func (export "input_load_u64") (param $i i64) (result i64)
    (local $len i64)
    (local.set $len (i64.load (global.get $INPUT_LENGTH)))
    (if (result i64)
        (i32.and
          (i64.ge_u (local.get $len) (i64.const 8))
          (i64.le_u (local.get $i) (i64.sub (local.get $len) (i64.const 8))))
      (then
        (i64.load (i32.wrap_i64 (i64.add (i64.load (global.get $INPUT_OFFSET)) (local.get $i)))))
      (else (i64.const 0))))

  ;; ---------------------------------------------------------------- output and error

  ;; Plugin side: the output is $len bytes at $p ((0, 0) clears it; ranges outside are ignored).
  ;; Any range will do, so a plugin may output (part of) its input block without copying.
  (func (export "output_set") (param $p i64) (param $len i64)
    (if (i32.or
          (i32.and (i64.eqz (local.get $p)) (i64.eqz (local.get $len)))
          (call $in_blocks (local.get $p) (local.get $len)))
      (then
        (i64.store (global.get $OUTPUT_OFFSET) (local.get $p))
        (i64.store (global.get $OUTPUT_LENGTH) (local.get $len)))))

  (func (export "output_length") (result i64) (i64.load (global.get $OUTPUT_LENGTH)))
  (func (export "output_offset") (result i64) (i64.load (global.get $OUTPUT_OFFSET)))

  ;; The error message is the block at $h (0 clears it; offsets outside the blocks are ignored).
  (func (export "error_set") (param $h i64)
    (if (i32.or (i64.eqz (local.get $h)) (call $in_blocks (local.get $h) (i64.const 1)))
      (then (i64.store (global.get $ERROR) (local.get $h)))))

  (func (export "error_get") (result i64) (i64.load (global.get $ERROR)))

  ;; ---------------------------------------------------------------- host side (not Extism ABI)

  ;; One host call before each plugin call: reset, then allocate the input block and make it
  ;; the input. Returns its handle (0 for empty input, or when the allocation failed).
  (func (export "omniwasm_begin") (param $len i64) (result i64)
    (local $h i64)
    (call $reset)
    (if (i64.eqz (local.get $len)) (then (return (i64.const 0))))
    (local.set $h (call $alloc (local.get $len)))
    (if (i64.eqz (local.get $h)) (then (return (i64.const 0))))
    (call $input_set (local.get $h) (local.get $len))
    (local.get $h))
)
