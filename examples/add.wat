;; add(a, b) -> a + b, the "hello world" of Propeller tasks.
;; Run: propeller run examples/add.wat --inputs 2,3   → 5
(module
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $b
    i32.add))
