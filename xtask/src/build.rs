//! Building the bare-metal artifacts with the same cargo that runs the xtask.

use crate::setup::{run_visible, TARGET};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the xtask crate lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace").to_path_buf()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` if set, relative to the root).
pub fn target_dir() -> PathBuf {
    root().join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
}

pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(root());
    c
}

/// Builds the kernel (release, with debug info for symbolization) and returns its ELF.
pub fn kernel() -> Result<PathBuf, String> {
    eprintln!("xtask: building the kernel (cargo build --release -p moroso-kernel --target {TARGET})");
    run_visible(cargo().args(["build", "--release", "-p", "moroso-kernel", "--target", TARGET]))?;
    let elf = target_dir().join(TARGET).join("release").join("moroso-kernel");
    if elf.is_file() {
        Ok(elf)
    } else {
        Err(format!("the kernel build finished but {} is missing", elf.display()))
    }
}
