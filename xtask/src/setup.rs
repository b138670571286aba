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
    ensure_apt(QEMU, "qemu-system-x86", "QEMU")
}

/// Makes sure gdb is present (for `cargo xtask gdb`).
pub fn ensure_gdb() -> Result<(), String> {
    ensure_apt("gdb", "gdb", "gdb")
}

/// Makes sure `binary` runs, installing Debian's `package` with apt-get when root.
fn ensure_apt(binary: &str, package: &str, what: &str) -> Result<(), String> {
    let runs = || Command::new(binary).arg("--version").output().is_ok_and(|o| o.status.success());
    if runs() {
        return Ok(());
    }
    let install = format!("apt-get update && apt-get install -y {package}");
    if !is_root() {
        return Err(format!("{binary} is not installed; install it with: sudo sh -c '{install}'"));
    }
    eprintln!("xtask: installing {what} ({install})");
    run_visible(Command::new("apt-get").arg("update").arg("-q"))?;
    run_visible(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if runs() {
        Ok(())
    } else {
        Err(format!("{binary} still does not run after installing {package}"))
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
