;; A component plugin with state and a host import (the README's component plugin example).
;;
;;   world counter {
;;     import test:counter/host;            // interface host { step: func() -> u32; }
;;     export bump: func() -> u32;          // adds step() to a counter kept in a global
;;     export trap: func();                 // traps (the plugin then rebuilds its instance)
;;   }
(component
  (import "test:counter/host" (instance $h (export "step" (func (result u32)))))
  (core func $step (canon lower (func $h "step")))
  (core module $m
    (import "" "step" (func $step (result i32)))
    (global $n (mut i32) (i32.const 0))
    (func (export "bump") (result i32)
      (global.set $n (i32.add (global.get $n) (call $step)))
      (global.get $n))
    (func (export "trap") unreachable))
  (core instance $mi (instantiate $m (with "" (instance (export "step" (func $step))))))
  (func (export "bump") (result u32) (canon lift (core func $mi "bump")))
  (func (export "trap") (canon lift (core func $mi "trap")))
)
