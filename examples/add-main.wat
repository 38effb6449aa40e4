;; The same body as add.wat, exported as `main`: ESP32 (WAMR) firmware always calls `main`
;; and receives its inputs as i32 numbers (PROTOCOL.md, start message, wamr dialect).
(module
  (func (export "main") (param $a i32) (param $b i32) (result i32)
    local.get $a
    local.get $b
    i32.add))
