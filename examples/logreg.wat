;; logreg: a small logistic-regression scorer (an `ai_inference` sample).
;; Input: decimal numbers separated by spaces, commas or newlines; every 4 numbers are one row
;; (x1 x2 x3 x4). Output, one line per row: "<probability with 4 decimals> <class 0|1>\n".
;; Model: p = sigmoid(-0.3 + 0.8*x1 - 1.2*x2 + 0.5*x3 + 2.0*x4); class = p >= 0.5.
;; Memory: 64.. row features (4 f64), 128..160 line buffer, 65536.. input.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $pos (mut i32) (i32.const 0))

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

  (func $byte (param $i i32) (result i32) (i32.load8_u (i32.add (i32.const 65536) (local.get $i))))
  (func $is_digit (param $c i32) (result i32)
    (i32.and (i32.ge_u (local.get $c) (i32.const 48)) (i32.le_u (local.get $c) (i32.const 57))))

  ;; Parse a number at $pos (sign, digits, optional fraction); advance $pos past it.
  (func $number (param $len i32) (result f64)
    (local $v f64) (local $neg i32) (local $scale f64) (local $c i32)
    (if (i32.eq (call $byte (global.get $pos)) (i32.const 45))
      (then (local.set $neg (i32.const 1)) (global.set $pos (i32.add (global.get $pos) (i32.const 1)))))
    (block $int_done
      (loop $int
        (br_if $int_done (i32.ge_u (global.get $pos) (local.get $len)))
        (local.set $c (call $byte (global.get $pos)))
        (br_if $int_done (i32.eqz (call $is_digit (local.get $c))))
        (local.set $v (f64.add (f64.mul (local.get $v) (f64.const 10))
                               (f64.convert_i32_u (i32.sub (local.get $c) (i32.const 48)))))
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (br $int)))
    (if (i32.and (i32.lt_u (global.get $pos) (local.get $len))
                 (i32.eq (call $byte (global.get $pos)) (i32.const 46)))
      (then
        (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
        (local.set $scale (f64.const 0.1))
        (block $frac_done
          (loop $frac
            (br_if $frac_done (i32.ge_u (global.get $pos) (local.get $len)))
            (local.set $c (call $byte (global.get $pos)))
            (br_if $frac_done (i32.eqz (call $is_digit (local.get $c))))
            (local.set $v (f64.add (local.get $v)
              (f64.mul (local.get $scale) (f64.convert_i32_u (i32.sub (local.get $c) (i32.const 48))))))
            (local.set $scale (f64.mul (local.get $scale) (f64.const 0.1)))
            (global.set $pos (i32.add (global.get $pos) (i32.const 1)))
            (br $frac)))))
    (if (result f64) (local.get $neg) (then (f64.neg (local.get $v))) (else (local.get $v))))

  ;; e^x: range reduction x = n*ln2 + r, Taylor series for e^r, scale by 2^n.
  (func $exp (param $x f64) (result f64)
    (local $n f64) (local $r f64) (local $t f64) (local $s f64) (local $i i32)
    (local.set $x (f64.min (f64.max (local.get $x) (f64.const -700)) (f64.const 700)))
    (local.set $n (f64.nearest (f64.div (local.get $x) (f64.const 0.6931471805599453))))
    (local.set $r (f64.sub (local.get $x) (f64.mul (local.get $n) (f64.const 0.6931471805599453))))
    (local.set $t (f64.const 1))
    (local.set $s (f64.const 1))
    (local.set $i (i32.const 1))
    (loop $series
      (local.set $t (f64.div (f64.mul (local.get $t) (local.get $r)) (f64.convert_i32_u (local.get $i))))
      (local.set $s (f64.add (local.get $s) (local.get $t)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $series (i32.le_u (local.get $i) (i32.const 16))))
    (f64.mul (local.get $s)
      (f64.reinterpret_i64 (i64.shl (i64.add (i64.trunc_f64_s (local.get $n)) (i64.const 1023)) (i64.const 52)))))

  ;; Score the row at 64..96 and print "0.xxxx c\n" (or "1.0000 1\n").
  (func $score
    (local $z f64) (local $p f64) (local $n i32) (local $i i32)
    (local.set $z (f64.add (f64.const -0.3)
      (f64.add
        (f64.add (f64.mul (f64.const 0.8) (f64.load (i32.const 64)))
                 (f64.mul (f64.const -1.2) (f64.load (i32.const 72))))
        (f64.add (f64.mul (f64.const 0.5) (f64.load (i32.const 80)))
                 (f64.mul (f64.const 2.0) (f64.load (i32.const 88)))))))
    (local.set $p (f64.div (f64.const 1) (f64.add (f64.const 1) (call $exp (f64.neg (local.get $z))))))
    (local.set $n (i32.trunc_f64_u (f64.nearest (f64.mul (local.get $p) (f64.const 10000)))))
    ;; "d.dddd c\n" at 128..137
    (i32.store8 (i32.const 128) (i32.add (i32.const 48) (i32.div_u (local.get $n) (i32.const 10000))))
    (i32.store8 (i32.const 129) (i32.const 46))
    (local.set $i (i32.const 133))
    (loop $d
      (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (local.set $i (i32.sub (local.get $i) (i32.const 1)))
      (br_if $d (i32.ge_u (local.get $i) (i32.const 130))))
    (i32.store8 (i32.const 134) (i32.const 32))
    (i32.store8 (i32.const 135) (i32.add (i32.const 48) (f64.ge (local.get $p) (f64.const 0.5))))
    (i32.store8 (i32.const 136) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 128))
    (i32.store (i32.const 4) (i32.const 9))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))

  (func (export "_start")
    (local $len i32) (local $c i32) (local $count i32)
    (local.set $len (call $read_all))
    (block $done
      (loop $scan
        (br_if $done (i32.ge_u (global.get $pos) (local.get $len)))
        (local.set $c (call $byte (global.get $pos)))
        (if (i32.or (call $is_digit (local.get $c))
              (i32.or (i32.eq (local.get $c) (i32.const 45)) (i32.eq (local.get $c) (i32.const 46))))
          (then
            (f64.store (i32.add (i32.const 64) (i32.shl (i32.and (local.get $count) (i32.const 3)) (i32.const 3)))
              (call $number (local.get $len)))
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (if (i32.eqz (i32.and (local.get $count) (i32.const 3))) (then (call $score))))
          (else (global.set $pos (i32.add (global.get $pos) (i32.const 1)))))
        (br $scan))))
)
