//! Host-side test suites. The trybuild compile-fail suite of the typed ABI lands here with
//! issue 4; the in-QEMU suites are booted and judged by `cargo xtask test`.
