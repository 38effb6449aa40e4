;; avg(a, b, c, d) -> the mean of four sensor readings, ignoring NaN readings (a failed sensor);
;; NaN when every reading is NaN. Edge tasks use it with inputs like ["21.5","22","NaN","23.1"].
(module
  (func $acc (param $x f64) (param $sum f64) (result f64)
    ;; x != x only for NaN
    (if (result f64) (f64.ne (local.get $x) (local.get $x))
      (then (local.get $sum))
      (else (f64.add (local.get $sum) (local.get $x)))))
  (func $count (param $x f64) (result f64)
    (if (result f64) (f64.ne (local.get $x) (local.get $x))
      (then (f64.const 0))
      (else (f64.const 1))))
  (func (export "avg") (param $a f64) (param $b f64) (param $c f64) (param $d f64) (result f64)
    (local $sum f64) (local $n f64)
    (local.set $sum (call $acc (local.get $a) (local.get $sum)))
    (local.set $sum (call $acc (local.get $b) (local.get $sum)))
    (local.set $sum (call $acc (local.get $c) (local.get $sum)))
    (local.set $sum (call $acc (local.get $d) (local.get $sum)))
    (local.set $n (f64.add
      (f64.add (call $count (local.get $a)) (call $count (local.get $b)))
      (f64.add (call $count (local.get $c)) (call $count (local.get $d)))))
    (f64.div (local.get $sum) (local.get $n))))
