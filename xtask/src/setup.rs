//! Installing what the build and the emulator need, saying so each time.

use std::process::Command;

pub const TARGET: &str = "x86_64-unknown-none";
pub const QEMU: &str = "qemu-system-x86_64";

/// Makes sure the bare-metal Rust target and QEMU are present.
pub fn ensure_all() -> Result<(), String> {
    ensure_target()?;
    ensure_qemu()
}

/// Makes sure the rustfmt and clippy components are present (for the lint step).
pub fn ensure_lint_tools() -> Result<(), String> {
    for (tool, component) in [("fmt", "rustfmt"), ("clippy", "clippy")] {
        let works = crate::build::cargo().args([tool, "--version"]).output().is_ok_and(|o| o.status.success());
        if !works {
            eprintln!("xtask: installing the {component} component (rustup component add {component})");
            run_visible(Command::new("rustup").args(["component", "add", component]))?;
        }
    }
    Ok(())
}

fn ensure_target() -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup ({e}); install Rust with rustup from https://rustup.rs"))?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == TARGET) {
        return Ok(());
    }
    eprintln!("xtask: installing the {TARGET} Rust target (rustup target add {TARGET})");
    run_visible(Command::new("rustup").args(["target", "add", TARGET]))
}

fn ensure_qemu() -> Result<(), String> {
    if Command::new(QEMU).arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    let install = "apt-get update && apt-get install -y qemu-system-x86";
    if !is_root() {
        return Err(format!("{QEMU} is not installed; install it with: sudo sh -c '{install}'"));
    }
    eprintln!("xtask: installing QEMU ({install})");
    run_visible(Command::new("apt-get").arg("update").arg("-q"))?;
    run_visible(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", "qemu-system-x86"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if Command::new(QEMU).arg("--version").output().is_ok_and(|o| o.status.success()) {
        Ok(())
    } else {
        Err(format!("{QEMU} still does not run after installing qemu-system-x86"))
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a command with its output shown; fails with the command line on non-zero exit.
pub fn run_visible(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed ({status})"))
    }
}
