//! Building the bare-metal artifacts with the same cargo that runs the xtask, and packing
//! boot images from them.

use crate::image::{self, Program};
use crate::manifest;
use crate::setup::{run_visible, TARGET};
use std::path::{Path, PathBuf};
use std::process::Command;

pub use crate::manifest::Settings;

/// The programs of the default image (`cargo xtask run`), program 0 first, from the
/// manifest (`system.toml`).
pub fn default_image() -> Result<Vec<String>, String> {
    Ok(crate::manifest::load_default()?.image)
}

/// System services a `run --app A --app B` image holds besides the given programs: init,
/// which starts them, and the name server they find each other with.
pub const APP_SERVICES: &[&str] = &["init", "names"];

/// A boot image and what went into it.
pub struct Boot {
    /// The build (the kernel, and the programs from `apps/` the image needs).
    pub built: Built,
    /// The packed image.
    pub image: PathBuf,
    /// The ELF of every program in the image, once each (for their symbols).
    pub programs: Vec<PathBuf>,
}

/// The image `cargo xtask run` (and `trace`, `gdb`) boots for `apps`: the default system
/// without any, the one program alone, or several with init and the name server
/// ([`APP_SERVICES`]). Builds only the kernel and the programs from `apps/` it needs.
pub fn boot_image(apps: &[PathBuf]) -> Result<Boot, String> {
    match apps {
        [] => {
            let default = default_image()?;
            let built = only(&default.iter().map(String::as_str).collect::<Vec<_>>())?;
            let image = built.image("default", &default)?;
            let mut files: Vec<&str> =
                default.iter().map(|e| e.split_once('=').map_or(e.as_str(), |(_, f)| f)).collect();
            files.dedup();
            let programs = files.iter().map(|f| built.app(f)).collect();
            Ok(Boot { built, image, programs })
        }
        [app] => Ok(Boot { built: only(&[])?, image: single_program_image(app)?, programs: vec![app.clone()] }),
        apps => {
            let built = only(APP_SERVICES)?;
            let image = apps_image(&built, apps)?;
            let programs = APP_SERVICES.iter().map(|s| built.app(s)).chain(apps.iter().cloned()).collect();
            Ok(Boot { built, image, programs })
        }
    }
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

/// Code generation of the kernel and of every crate linked into it (not of the user
/// programs: those stay position-independent, the ELF loader relocates them). The kernel
/// runs at the address it is linked for (`-no-pie`, the top 2 GiB), so a static's address
/// is a link-time constant: with the static model it is a RIP-relative displacement or an
/// immediate, where the target's default (position-independent) model loads it from the
/// GOT first, one more load on every static access. The target's code model is already
/// `kernel` (addresses sign-extended from 32 bits), the one an image at -2 GiB needs.
pub const KERNEL_RUSTFLAGS: &[&str] = &["-Crelocation-model=static"];

/// `cargo` for building the kernel: [`KERNEL_RUSTFLAGS`] after the flags the environment
/// gives (`CARGO_ENCODED_RUSTFLAGS` or `RUSTFLAGS`). Cargo keeps crates built with other
/// flags apart, so the dependencies the kernel shares with the user programs (abi,
/// zerocopy, bitflags, num_enum) are built once each way and neither build undoes the other.
pub fn kernel_cargo() -> Command {
    let mut flags: Vec<String> = match std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        Ok(s) => s.split('\x1f').filter(|f| !f.is_empty()).map(String::from).collect(),
        Err(_) => std::env::var("RUSTFLAGS").unwrap_or_default().split_whitespace().map(String::from).collect(),
    };
    flags.extend(KERNEL_RUSTFLAGS.iter().map(|f| f.to_string()));
    let mut c = cargo();
    c.env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"));
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

    /// Packs the named programs from `apps/` into a boot image called `image`, each with
    /// its settings from the manifest. An entry `alias=program` packs `program` under the
    /// name `alias`, with the alias's settings.
    pub fn image<S: AsRef<str>>(&self, image: &str, programs: &[S]) -> Result<PathBuf, String> {
        let m = manifest::load_default()?;
        let programs: Vec<Program> = programs
            .iter()
            .map(|entry| {
                let entry = entry.as_ref();
                let (name, file) = entry.split_once('=').unwrap_or((entry, entry));
                let Settings { grants, limits, boot } = m.settings(name);
                Program { name: name.to_string(), path: self.app(file), grants, limits, boot }
            })
            .collect();
        let out = target_dir().join("moroso").join(format!("{image}.img"));
        image::pack(&programs, &out)?;
        Ok(out)
    }
}

/// Builds the kernel and every user program (release, with debug info for symbolization).
pub fn all() -> Result<Built, String> {
    build(None)
}

/// Builds the kernel and only the named programs of `apps/` (`alias=program` entries as in
/// [`Built::image`]): what one boot image needs, no more.
pub fn only(programs: &[&str]) -> Result<Built, String> {
    build(Some(programs))
}

fn build(programs: Option<&[&str]>) -> Result<Built, String> {
    let kernel = out_dir().join("moroso-kernel");
    // The kernel and the programs are two cargo runs: they are compiled with different
    // flags ([`KERNEL_RUSTFLAGS`]), which cargo applies per run, not per package.
    let mut apps = cargo();
    apps.args(["build", "--release", "--target", TARGET, "-p", "moroso-apps"]);
    let what = match programs {
        None => Some("every user program".to_string()),
        Some([]) => None,
        Some(programs) => {
            let mut files: Vec<&str> = programs.iter().map(|e| e.split_once('=').map_or(*e, |(_, f)| f)).collect();
            files.dedup();
            for f in &files {
                apps.args(["--bin", f]);
            }
            Some(files.join(", "))
        }
    };
    // The first build compiles every dependency for two targets: say why it takes long.
    let first = if kernel.is_file() { "" } else { "; a first build compiles every dependency and takes a few minutes" };
    let and = what.as_ref().map_or(String::new(), |w| format!(" and {w}"));
    eprintln!("xtask: building the kernel{and} (cargo build --release --target {TARGET}){first}");
    run_visible(kernel_cargo().args(["build", "--release", "--target", TARGET, "-p", "moroso-kernel"]))?;
    if what.is_some() {
        run_visible(&mut apps)?;
    }
    if kernel.is_file() {
        Ok(Built { kernel })
    } else {
        Err(format!("the build finished but {} is missing", kernel.display()))
    }
}

/// The image name of a program given by path: its file name, cut to the image's limit.
pub fn program_name(path: &Path) -> Result<String, String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.chars().take(abi::image::NAME_MAX).collect::<String>())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{}: cannot make a program name from this path", path.display()))
}

/// Packs one external program as the whole boot image.
pub fn single_program_image(path: &Path) -> Result<PathBuf, String> {
    let name = program_name(path)?;
    let out = target_dir().join("moroso").join("app.img");
    let Settings { grants, limits, boot } = Settings::DEFAULT;
    image::pack(&[Program { name, path: path.to_path_buf(), grants, limits, boot }], &out)?;
    Ok(out)
}

/// Packs several external programs into one image with the services they need
/// ([`APP_SERVICES`], from `apps/`, with their manifest settings): init starts the given
/// programs in order and powers off when all have ended. Two programs with one name, or
/// a program named like a service, are refused.
pub fn apps_image(built: &Built, paths: &[PathBuf]) -> Result<PathBuf, String> {
    let m = manifest::load_default()?;
    let mut programs: Vec<Program> = APP_SERVICES
        .iter()
        .map(|&name| {
            let Settings { grants, limits, boot } = m.settings(name);
            Program { name: name.to_string(), path: built.app(name), grants, limits, boot }
        })
        .collect();
    for path in paths {
        let name = program_name(path)?;
        if let Some(clash) = programs.iter().find(|p| p.name == name) {
            return Err(format!(
                "{}: a program named {name:?} is already in the image ({}); rename one of them",
                path.display(),
                clash.path.display()
            ));
        }
        let boot = abi::image::Boot { start: 1, awaited: 1, ..abi::image::Boot::NONE };
        programs.push(Program {
            name,
            path: path.clone(),
            grants: Settings::DEFAULT.grants,
            limits: Settings::DEFAULT.limits,
            boot,
        });
    }
    let out = target_dir().join("moroso").join("apps.img");
    image::pack(&programs, &out)?;
    Ok(out)
}
