//! Host-side test suites of the typed ABI: `tests/derive.rs` (codecs round-trip, random
//! bytes never panic the decoder) and `tests/compile_fail.rs` (every misuse the typed API
//! rejects, with the compiler's message checked in under `ui/`). The in-QEMU suites are
//! booted and judged by `cargo xtask test`.
