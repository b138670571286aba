//! Links the bare-metal kernel with `linker.ld` (higher half, PVH note, W^X segments).
//! Host builds (unit tests of the portable logic) are left alone.
fn main() {
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        // The target's default is a static PIE. The kernel is loaded at exactly the address
        // it is linked for, so link it as a plain static executable: absolute addresses are
        // resolved at link time and no dynamic relocations are left to apply at boot.
        // The xtask also compiles it with the static relocation model (`KERNEL_RUSTFLAGS` in
        // xtask/src/build.rs), so the code reaches statics directly rather than through the GOT.
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
