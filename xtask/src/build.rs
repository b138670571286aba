//! Building the bare-metal artifacts with the same cargo that runs the xtask, and packing
//! boot images from them.

use crate::image::{self, Program};
use crate::setup::{run_visible, TARGET};
use abi::image::{Grants, Limits};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The programs of the default image (`cargo xtask run`), the first one started at boot.
pub const DEFAULT_IMAGE: &[&str] = &["init", "hello", "console", "shell"];

/// What the boot image gives every task of one program: device capabilities and shares of
/// the kernel's tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub grants: Grants,
    pub limits: Limits,
}

impl Settings {
    /// An ordinary program: no devices, the default limits (`abi::image::Limits::DEFAULT`).
    pub const DEFAULT: Settings = Settings { grants: Grants::NONE, limits: Limits::DEFAULT };
}

/// Every program whose settings differ from [`Settings::DEFAULT`], by its name in the image
/// (an alias's name, for `alias=program`). The one place per-program policy is written;
/// a manifest file can replace this table. The in-guest suites (`usertest`, `ipctest`)
/// test the default limits, so they must keep them.
pub const PROGRAM_SETTINGS: &[(&str, Settings)] = &[
    // The serial port's user-level driver.
    ("console", Settings { grants: Grants::COM1, ..Settings::DEFAULT }),
    // Tests binding COM1's interrupt and ports (its alias `irqnocap` is granted nothing).
    ("irqtest", Settings { grants: Grants::COM1, ..Settings::DEFAULT }),
    // The benchmarks measure IPC with up to 128 other threads of their own.
    ("bench", Settings { limits: Limits { threads: 160, ..Limits::DEFAULT }, grants: Grants::NONE }),
    // usertest's copy that starts 200 threads (more than a task's 128 regions of its own).
    ("usertest-threads", Settings { limits: Limits { threads: 210, ..Limits::DEFAULT }, grants: Grants::NONE }),
];

/// The boot-image settings of program `name`.
pub fn settings_for(name: &str) -> Settings {
    PROGRAM_SETTINGS.iter().find(|(n, _)| *n == name).map_or(Settings::DEFAULT, |(_, s)| *s)
}

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

/// Where the bare-metal release binaries land.
fn out_dir() -> PathBuf {
    target_dir().join(TARGET).join("release")
}

/// The built kernel and user programs.
#[derive(Clone, Debug)]
pub struct Built {
    pub kernel: PathBuf,
}

impl Built {
    /// The ELF of user program `name` from `apps/`.
    pub fn app(&self, name: &str) -> PathBuf {
        out_dir().join(name)
    }

    /// Packs the named programs from `apps/` into a boot image called `image`. An entry
    /// `alias=program` packs `program` under the name `alias`, with the alias's settings.
    pub fn image(&self, image: &str, programs: &[&str]) -> Result<PathBuf, String> {
        let programs: Vec<Program> = programs
            .iter()
            .map(|entry| {
                let (name, file) = entry.split_once('=').unwrap_or((entry, entry));
                let Settings { grants, limits } = settings_for(name);
                Program { name: name.to_string(), path: self.app(file), grants, limits }
            })
            .collect();
        let out = target_dir().join("moroso").join(format!("{image}.img"));
        image::pack(&programs, &out)?;
        Ok(out)
    }
}

/// Builds the kernel and every user program (release, with debug info for symbolization).
pub fn all() -> Result<Built, String> {
    eprintln!("xtask: building the kernel and user programs (cargo build --release --target {TARGET})");
    run_visible(cargo().args(["build", "--release", "--target", TARGET, "-p", "moroso-kernel", "-p", "moroso-apps"]))?;
    let kernel = out_dir().join("moroso-kernel");
    if kernel.is_file() {
        Ok(Built { kernel })
    } else {
        Err(format!("the build finished but {} is missing", kernel.display()))
    }
}

/// Packs one external program as the whole boot image.
pub fn single_program_image(path: &Path) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.chars().take(abi::image::NAME_MAX).collect::<String>())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{}: cannot make a program name from this path", path.display()))?;
    let out = target_dir().join("moroso").join("app.img");
    let Settings { grants, limits } = Settings::DEFAULT;
    image::pack(&[Program { name, path: path.to_path_buf(), grants, limits }], &out)?;
    Ok(out)
}
