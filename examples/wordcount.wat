;; wordcount: reads stdin, prints "<lines> <words> <bytes>\n" (like `wc`).
;; A WASI preview 1 command module. Assemble: `vesper submit --program examples/wordcount.wat`.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)

  ;; Read all of stdin to address 65536; return its length. Grows memory as needed.
  (func $read_all (result i32)
    (local $len i32) (local $n i32)
    (loop $more
      (if (i32.lt_u
            (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.add (i32.const 65536) (local.get $len)))
            (i32.const 65536))
        (then (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1)) (then (unreachable)))))
      (i32.store (i32.const 0) (i32.add (i32.const 65536) (local.get $len)))
      (i32.store (i32.const 4) (i32.const 65536))
      (if (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)) (then (unreachable)))
      (local.set $n (i32.load (i32.const 16)))
      (local.set $len (i32.add (local.get $len) (local.get $n)))
      (br_if $more (local.get $n)))
    (local.get $len))

  ;; Write decimal digits of $v so they end just before $end; return the first digit's address.
  (func $digits (param $v i32) (param $end i32) (result i32)
    (loop $d
      (local.set $end (i32.sub (local.get $end) (i32.const 1)))
      (i32.store8 (local.get $end) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $d (local.get $v)))
    (local.get $end))

  (func $is_space (param $c i32) (result i32)
    (i32.or (i32.eq (local.get $c) (i32.const 32))
      (i32.and (i32.ge_u (local.get $c) (i32.const 9)) (i32.le_u (local.get $c) (i32.const 13)))))

  (func (export "_start")
    (local $len i32) (local $i i32) (local $c i32)
    (local $lines i32) (local $words i32) (local $inword i32) (local $p i32)
    (local.set $len (call $read_all))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (i32.const 65536) (local.get $i))))
        (if (i32.eq (local.get $c) (i32.const 10))
          (then (local.set $lines (i32.add (local.get $lines) (i32.const 1)))))
        (if (call $is_space (local.get $c))
          (then (local.set $inword (i32.const 0)))
          (else
            (if (i32.eqz (local.get $inword))
              (then (local.set $words (i32.add (local.get $words) (i32.const 1)))
                    (local.set $inword (i32.const 1))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    ;; Build "<lines> <words> <bytes>\n" backwards, ending at 256.
    (i32.store8 (i32.const 255) (i32.const 10))
    (local.set $p (call $digits (local.get $len) (i32.const 255)))
    (local.set $p (i32.sub (local.get $p) (i32.const 1)))
    (i32.store8 (local.get $p) (i32.const 32))
    (local.set $p (call $digits (local.get $words) (local.get $p)))
    (local.set $p (i32.sub (local.get $p) (i32.const 1)))
    (i32.store8 (local.get $p) (i32.const 32))
    (local.set $p (call $digits (local.get $lines) (local.get $p)))
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (i32.sub (i32.const 256) (local.get $p)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))
)
