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
  ;;                     +1  (2)  u8  fault (omniwasm only, in Extism's padding): 1 while the
  ;;                              kernel itself is failing the call (see "Failing a call")
  ;;                     +8  (9)  u64 position: bytes of blocks used, relative to offset 65
  ;;                     +16 (17) u64 length: bytes of the block area (var base - 64)
  ;;                     +24 (25) u64 error handle (0: no error)
  ;;                     +32 (33) u64 input offset      +40 (41) u64 input length
  ;;                     +48 (49) u64 output offset     +56 (57) u64 output length
  ;;   offset 65...    blocks, laid end to end: a 12-byte header then the data
  ;;                     +0 u8 status (0 unused, 1 active, 2 free)
  ;;                     +4 u32 size (bytes of data the block spans)
  ;;                     +8 u32 used (bytes the current allocation asked for: `length`)
  ;;                   A handle is the offset of a block's data, i.e. header + 12.
  ;;   var base...     the var store, from $VAR_BASE to the end of memory (empty at first, when
  ;;                   the var base is the end of memory); see "Vars" below.
  ;;
  ;; The allocator bumps `position` for new blocks. A freed block is reused by the first later
  ;; allocation it fits; when it is at least 128 bytes too big, its tail becomes the new block and
  ;; the rest stays free. Free blocks are never merged. `reset` (called by the host before every
  ;; plugin call) zeroes the blocks and forgets input, output and error (never the vars).
  ;;
  ;; Out-of-range accesses never trap: loads outside the block area return 0, stores there are
  ;; ignored, and input/output/error registers are only set to ranges inside it. The root and the
  ;; var store are outside the block area, so a plugin cannot corrupt the allocator's bookkeeping
  ;; or the vars with `store_*`.
  ;;
  ;; Vars (`var_get` / `var_set`) live here too, so they never enter the host. The store sits at
  ;; the top of the same memory, above the block area: [$VAR_BASE, $VAR_END) holds the entries,
  ;; [$VAR_END, end of memory) is room to append. (One memory, not a second one, because
  ;; wasmtime's pooling allocator allows one defined memory per module by default.) When the
  ;; allocator grows the memory it moves the entries up by the pages it added, so the block area
  ;; stays contiguous from 65 and handles stay the numbers Extism gives; when the store needs
  ;; room it grows the memory in place. Entries are packed end to end:
  ;;
  ;;     +0 u32 key length   +4 u32 value length   +8 key bytes, then value bytes
  ;;
  ;; Lookup is a linear scan comparing the key's length, then its bytes. Deleting (or replacing
  ;; with a value of another length) slides the later entries down over the old one, so there are
  ;; no dead entries and the store never holds more than its live bytes; a value of the same
  ;; length is overwritten in place. Keys and values are never empty (a live block is never
  ;; empty, and value handle 0 means "delete").
  ;;
  ;; Bound: the host sets `max_var_bytes` once per instance with `omniwasm_var_limit` (default
  ;; 1 MiB; 0 disables vars). The charge follows Extism's host exactly: every var costs 48 bytes
  ;; (its Rust String and Vec headers) plus its key and value, and a `var_set` fails when the
  ;; charge of all current vars (the one being replaced included) plus the new one's exceeds the
  ;; bound. Deleting always works (unless vars are disabled, as in Extism).
  ;;
  ;; Failing a call: a kernel cannot raise a host error, so when `var_set` / `var_get` must fail
  ;; the plugin call (store full, vars disabled, a key or value that is not a live block, no
  ;; memory for a value) the kernel copies the message into a new block, makes it the error,
  ;; sets the fault byte (offset 2) and traps (`unreachable`). A host that sees a trap with the
  ;; fault byte set reports the error message instead of the trap; `reset` clears the byte.
  ;;
  ;; (The file starts with `(module` so that its text loads as WAT with Runtime.load.)

  (memory (export "memory") 1)

  ;; initialized = 1, length = 65536 - 64: the state right after Extism's lazy initialisation.
  (data (i32.const 1) "\01")
  (data (i32.const 17) "\c0\ff\00\00\00\00\00\00")

  ;; Messages of the calls the kernel fails itself (offsets and lengths are used by $fail).
  (data $messages
    "Variable store is full"                                ;; 0, 22
    "Vars are disabled by this host (max_var_bytes = 0)"    ;; 22, 50
    "invalid handle offset for var key"                     ;; 72, 33
    "invalid handle offset for var value"                   ;; 105, 35
    "var_get: the kernel could not allocate the value")     ;; 140, 48

  ;; Root field addresses.
  (global $FAULT i32 (i32.const 2))
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

  ;; The var store: entries in [$VAR_BASE, $VAR_END) at the top of memory (both start at the end
  ;; of the first page), the bound, and the bytes charged against it (Extism's rule).
  (global $VAR_BASE (mut i64) (i64.const 65536))
  (global $VAR_END (mut i64) (i64.const 65536))
  (global $VAR_LIMIT (mut i64) (i64.const 1048576))
  (global $VAR_USED (mut i64) (i64.const 0))
  (global $VAR_OVERHEAD i64 (i64.const 48))

  ;; ---------------------------------------------------------------- helpers

  ;; End of the block area: the var store starts there.
  (func $end (result i64) (global.get $VAR_BASE))

  ;; End of linear memory in bytes.
  (func $memory_end (result i64)
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
    (local $grown i64)
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
        ;; The var store sits at the top of memory: move it up past the new pages.
        (local.set $grown (i64.shl (local.get $pages) (i64.const 16)))
        (memory.copy
          (i32.wrap_i64 (i64.add (global.get $VAR_BASE) (local.get $grown)))
          (i32.wrap_i64 (global.get $VAR_BASE))
          (i32.wrap_i64 (i64.sub (global.get $VAR_END) (global.get $VAR_BASE))))
        (global.set $VAR_BASE (i64.add (global.get $VAR_BASE) (local.get $grown)))
        (global.set $VAR_END (i64.add (global.get $VAR_END) (local.get $grown)))
        (i64.store (global.get $LENGTH)
          (i64.add (i64.load (global.get $LENGTH)) (local.get $grown)))))
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

  ;; Bytes the allocator manages (Extism's `length` field: the block area, which is the memory
  ;; size minus the root while there are no vars).
  (func (export "memory_bytes") (result i64)
    (i64.load (global.get $LENGTH)))

  ;; Forget every block, the input, the output, the error and a kernel fault; zero the old blocks
  ;; so nothing from one call is readable in the next. The vars stay.
  (func $reset (export "reset")
    (i32.store8 (global.get $FAULT) (i32.const 0))
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

  ;; ---------------------------------------------------------------- vars

  ;; Fail the plugin call with the message at [$at, $at + $len) of $messages: it becomes the
  ;; error (when it can be allocated), the fault byte tells the host, and the kernel traps.
  (func $fail (param $at i32) (param $len i32)
    (local $h i64)
    (local.set $h (call $alloc (i64.extend_i32_u (local.get $len))))
    (if (i64.ne (local.get $h) (i64.const 0))
      (then
        (memory.init $messages (i32.wrap_i64 (local.get $h)) (local.get $at) (local.get $len))
        (i64.store (global.get $ERROR) (local.get $h))))
    (i32.store8 (global.get $FAULT) (i32.const 1))
    (unreachable))

  ;; Length of the active block whose data starts at $h, checking its header in place (no walk,
  ;; as `length_unsafe`), or 0 if $h is not one.
  (func $block_len (param $h i64) (result i64)
    (local $n i64)
    (if (i32.eqz
          (call $in_blocks (i64.sub (local.get $h) (global.get $HEADER)) (global.get $HEADER)))
      (then (return (i64.const 0))))
    (if (i32.ne (call $status (i64.sub (local.get $h) (global.get $HEADER))) (i32.const 1))
      (then (return (i64.const 0))))
    (local.set $n
      (i64.load32_u offset=8 (i32.wrap_i64 (i64.sub (local.get $h) (global.get $HEADER)))))
    (if (result i64) (call $in_blocks (local.get $h) (local.get $n))
      (then (local.get $n))
      (else (i64.const 0))))

  ;; Free a block $block_len accepted, as `free` does (host functions consume their handles).
  ;; Only the status changes, so its bytes stay readable until the next allocation.
  (func $release (param $h i64)
    (i32.store8 (i32.wrap_i64 (i64.sub (local.get $h) (global.get $HEADER))) (i32.const 2))
    (if (i64.eq (local.get $h) (i64.load (global.get $INPUT_OFFSET)))
      (then (i64.store (global.get $INPUT_LENGTH) (i64.const 0)))))

  ;; Whether the $n bytes at $a and at $b are equal (eight at a time, then one at a time).
  (func $equal (param $a i32) (param $b i32) (param $n i32) (result i32)
    (local $i i32)
    (block $done
      (loop $words
        (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $n)))
        (if (i64.ne
              (i64.load (i32.add (local.get $a) (local.get $i)))
              (i64.load (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $words)))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.ne
              (i32.load8_u (i32.add (local.get $a) (local.get $i)))
              (i32.load8_u (i32.add (local.get $b) (local.get $i))))
          (then (return (i32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (i32.const 1))

  ;; Bytes an entry spans: its header, key and value.
  (func $entry_size (param $e i64) (result i64)
    (i64.add
      (i64.const 8)
      (i64.add
        (i64.load32_u (i32.wrap_i64 (local.get $e)))
        (i64.load32_u offset=4 (i32.wrap_i64 (local.get $e))))))

  ;; The entry whose key is the $n bytes at $k, or 0.
  (func $var_find (param $k i64) (param $n i64) (result i64)
    (local $e i64)
    (local.set $e (global.get $VAR_BASE))
    (block $done
      (loop $walk
        (br_if $done (i64.ge_u (local.get $e) (global.get $VAR_END)))
        (if (i32.and
              (i64.eq (i64.load32_u (i32.wrap_i64 (local.get $e))) (local.get $n))
              (call $equal
                (i32.wrap_i64 (i64.add (local.get $e) (i64.const 8)))
                (i32.wrap_i64 (local.get $k))
                (i32.wrap_i64 (local.get $n))))
          (then (return (local.get $e))))
        (local.set $e (i64.add (local.get $e) (call $entry_size (local.get $e))))
        (br $walk)))
    (i64.const 0))

  ;; Delete entry $e: slide the entries after it down over it and uncharge it.
  (func $var_remove (param $e i64)
    (local $size i64)
    (local.set $size (call $entry_size (local.get $e)))
    (memory.copy
      (i32.wrap_i64 (local.get $e))
      (i32.wrap_i64 (i64.add (local.get $e) (local.get $size)))
      (i32.wrap_i64
        (i64.sub (global.get $VAR_END) (i64.add (local.get $e) (local.get $size)))))
    (global.set $VAR_END (i64.sub (global.get $VAR_END) (local.get $size)))
    (global.set $VAR_USED
      (i64.sub (global.get $VAR_USED)
        (i64.add (global.get $VAR_OVERHEAD) (i64.sub (local.get $size) (i64.const 8))))))

  ;; Make room for $need more bytes of entries, growing the memory; 0 when it cannot grow.
  (func $var_reserve (param $need i64) (result i32)
    (local $short i64)
    (local $pages i64)
    (local.set $short
      (i64.sub (i64.add (global.get $VAR_END) (local.get $need)) (call $memory_end)))
    (if (i64.le_s (local.get $short) (i64.const 0)) (then (return (i32.const 1))))
    (local.set $pages (i64.shr_u (i64.add (local.get $short) (i64.const 0xffff)) (i64.const 16)))
    (if (i64.gt_u (local.get $pages) (i64.const 65536)) (then (return (i32.const 0))))
    (i32.ne (memory.grow (i32.wrap_i64 (local.get $pages))) (i32.const -1)))

  ;; The value of the var named by block $k (consumed) in a new block, or 0 when it is unset.
  (func (export "var_get") (param $k i64) (result i64)
    (local $n i64)
    (local $e i64)
    (local $len i64)
    (local $h i64)
    (local.set $n (call $block_len (local.get $k)))
    (if (i64.eqz (local.get $n)) (then (call $fail (i32.const 72) (i32.const 33))))
    (call $release (local.get $k))
    (local.set $e (call $var_find (local.get $k) (local.get $n)))
    (if (i64.eqz (local.get $e)) (then (return (i64.const 0))))
    (local.set $len (i64.load32_u offset=4 (i32.wrap_i64 (local.get $e))))
    ;; As an offset into the store: allocating may grow the memory and move the store up.
    (local.set $e (i64.sub (local.get $e) (global.get $VAR_BASE)))
    (local.set $h (call $alloc (local.get $len)))
    (if (i64.eqz (local.get $h)) (then (call $fail (i32.const 140) (i32.const 48))))
    (memory.copy
      (i32.wrap_i64 (local.get $h))
      (i32.wrap_i64
        (i64.add
          (i64.add (global.get $VAR_BASE) (local.get $e))
          (i64.add (i64.const 8) (local.get $n))))
      (i32.wrap_i64 (local.get $len)))
    (local.get $h))

  ;; Set the var named by block $k to the bytes of block $v, or delete it when $v is 0; both
  ;; blocks are consumed. Fails the call when vars are disabled or the store would exceed its
  ;; bound (see "Vars" above).
  (func (export "var_set") (param $k i64) (param $v i64)
    (local $n i64)
    (local $len i64)
    (local $e i64)
    (local $charge i64)
    (local $at i64)
    (if (i64.eqz (global.get $VAR_LIMIT)) (then (call $fail (i32.const 22) (i32.const 50))))
    (local.set $n (call $block_len (local.get $k)))
    (if (i64.eqz (local.get $n)) (then (call $fail (i32.const 72) (i32.const 33))))
    (if (i64.ne (local.get $v) (i64.const 0))
      (then
        (local.set $len (call $block_len (local.get $v)))
        (if (i64.eqz (local.get $len)) (then (call $fail (i32.const 105) (i32.const 35))))
        (call $release (local.get $v))))
    (call $release (local.get $k))
    (local.set $e (call $var_find (local.get $k) (local.get $n)))
    (if (i64.eqz (local.get $v))
      (then
        (if (i64.ne (local.get $e) (i64.const 0)) (then (call $var_remove (local.get $e))))
        (return)))
    (local.set $charge
      (i64.add (global.get $VAR_OVERHEAD) (i64.add (local.get $n) (local.get $len))))
    (if (i64.gt_u (i64.add (global.get $VAR_USED) (local.get $charge)) (global.get $VAR_LIMIT))
      (then (call $fail (i32.const 0) (i32.const 22))))
    (if (i32.and
          (i64.ne (local.get $e) (i64.const 0))
          (i64.eq (i64.load32_u offset=4 (i32.wrap_i64 (local.get $e))) (local.get $len)))
      (then
        (memory.copy
          (i32.wrap_i64 (i64.add (local.get $e) (i64.add (i64.const 8) (local.get $n))))
          (i32.wrap_i64 (local.get $v))
          (i32.wrap_i64 (local.get $len)))
        (return)))
    ;; Room first, so a store that cannot grow keeps the old value.
    (if (i32.eqz
          (call $var_reserve (i64.add (i64.const 8) (i64.add (local.get $n) (local.get $len)))))
      (then (call $fail (i32.const 0) (i32.const 22))))
    (if (i64.ne (local.get $e) (i64.const 0)) (then (call $var_remove (local.get $e))))
    (local.set $at (global.get $VAR_END))
    (i32.store (i32.wrap_i64 (local.get $at)) (i32.wrap_i64 (local.get $n)))
    (i32.store offset=4 (i32.wrap_i64 (local.get $at)) (i32.wrap_i64 (local.get $len)))
    (memory.copy
      (i32.wrap_i64 (i64.add (local.get $at) (i64.const 8)))
      (i32.wrap_i64 (local.get $k))
      (i32.wrap_i64 (local.get $n)))
    (memory.copy
      (i32.wrap_i64 (i64.add (local.get $at) (i64.add (i64.const 8) (local.get $n))))
      (i32.wrap_i64 (local.get $v))
      (i32.wrap_i64 (local.get $len)))
    (global.set $VAR_END
      (i64.add (local.get $at) (i64.add (i64.const 8) (i64.add (local.get $n) (local.get $len)))))
    (global.set $VAR_USED (i64.add (global.get $VAR_USED) (local.get $charge))))

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

  ;; Set `max_var_bytes` (unsigned; 0 disables vars). The host calls it once per instance.
  (func (export "omniwasm_var_limit") (param $n i64)
    (global.set $VAR_LIMIT (local.get $n)))

  ;; (start, end) of the var entries, for a host that reads the store directly.
  (func (export "omniwasm_vars") (result i64 i64)
    (global.get $VAR_BASE)
    (global.get $VAR_END))
)
