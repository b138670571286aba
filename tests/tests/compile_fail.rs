//! Misuse of the typed ABI is a compile error: each case in `ui/` must fail to compile, with
//! the compiler output checked in next to it (`TRYBUILD=overwrite` regenerates them; read
//! the diff before committing).

#[test]
fn typed_abi_misuse_does_not_compile() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
