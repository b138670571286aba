//! The system manifest, `system.toml` at the repository root: every program's device
//! grants, shares of the kernel's tables and boot policy (started at boot, awaited,
//! restarted), and the default image's programs. The xtask reads it for every image it
//! packs; a program it does not list gets no grants, the default limits and no boot
//! policy.
//!
//! Invariants of a [`Manifest`] once [`parse`] accepted it: every listed program has a
//! name the image format can hold, limits the kernel honours and a known restart policy;
//! the default image starts with `init` (program 0, which the kernel starts) and names
//! each program once.

use abi::image::{Boot, Grants, Limits, Restart, NAME_MAX};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The manifest's file name, at the repository root.
pub const FILE: &str = "system.toml";

/// What the boot image gives every task of one program, and what init does with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    pub grants: Grants,
    pub limits: Limits,
    pub boot: Boot,
}

impl Settings {
    /// An ordinary program: no devices, the default limits, not started by init.
    pub const DEFAULT: Settings = Settings { grants: Grants::NONE, limits: Limits::DEFAULT, boot: Boot::NONE };
}

/// A parsed, checked manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The default image (`cargo xtask run`), program 0 first.
    pub image: Vec<String>,
    programs: BTreeMap<String, Settings>,
}

impl Manifest {
    /// The settings of program `name` (an image alias's name for `alias=program`).
    pub fn settings(&self, name: &str) -> Settings {
        self.programs.get(name).copied().unwrap_or(Settings::DEFAULT)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    image: ImageSection,
    #[serde(default)]
    programs: BTreeMap<String, ProgramSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageSection {
    programs: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ProgramSection {
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    start: bool,
    #[serde(default, rename = "await")]
    awaited: bool,
    #[serde(default)]
    restart: Option<String>,
    #[serde(default)]
    restart_max: Option<u16>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct LimitsSection {
    threads: Option<u16>,
    tasks: Option<u16>,
    async_per_mailbox: Option<u16>,
    kernel_frames: Option<u32>,
}

/// Restarts a program with a restart policy gets unless the manifest says `restart-max`.
pub const RESTART_MAX_DEFAULT: u16 = 3;

/// Reads and checks the manifest at `path`.
pub fn load(path: &Path) -> Result<Manifest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The repository's own manifest.
pub fn load_default() -> Result<Manifest, String> {
    load(&default_path())
}

pub fn default_path() -> PathBuf {
    crate::build::root().join(FILE)
}

/// Parses and checks a manifest's text; the error names the program and field at fault.
pub fn parse(text: &str) -> Result<Manifest, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())?;
    let mut programs = BTreeMap::new();
    for (name, p) in &file.programs {
        check_name(name)?;
        programs.insert(name.clone(), settings(name, p).map_err(|e| format!("[programs.{name}]: {e}"))?);
    }
    let image = file.image.programs;
    if image.first().map(String::as_str) != Some("init") {
        return Err("[image] programs: the first program must be \"init\" (the kernel starts program 0)".into());
    }
    if image.len() > abi::image::MAX_PROGRAMS {
        return Err(format!(
            "[image] programs: {} programs, an image holds at most {}",
            image.len(),
            abi::image::MAX_PROGRAMS
        ));
    }
    for (i, name) in image.iter().enumerate() {
        check_name(name).map_err(|e| format!("[image] programs: {e}"))?;
        if image[..i].contains(name) {
            return Err(format!("[image] programs: {name:?} is listed twice"));
        }
    }
    Ok(Manifest { image, programs })
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > NAME_MAX || name.contains('=') {
        return Err(format!("program name {name:?} must be 1 to {NAME_MAX} bytes, without '='"));
    }
    Ok(())
}

fn settings(name: &str, p: &ProgramSection) -> Result<Settings, String> {
    let mut grants = Grants::NONE;
    for g in &p.grants {
        let add = match g.as_str() {
            "com1" => Grants::COM1,
            "kill" => Grants::KILL,
            other => return Err(format!("grants: unknown grant {other:?} (known: \"com1\", \"kill\")")),
        };
        if grants.io_count != 0 && add.io_count != 0 {
            return Err(format!("grants: {g:?}: one program holds one range of I/O ports"));
        }
        grants = Grants {
            irqs: grants.irqs | add.irqs,
            io_base: if add.io_count != 0 { add.io_base } else { grants.io_base },
            io_count: grants.io_count.max(add.io_count),
            powers: grants.powers | add.powers,
        };
    }
    let d = Limits::DEFAULT;
    let l = &p.limits;
    let limits = Limits {
        threads: l.threads.unwrap_or(d.threads),
        tasks: l.tasks.unwrap_or(d.tasks),
        async_per_mailbox: l.async_per_mailbox.unwrap_or(d.async_per_mailbox),
        kernel_frames: l.kernel_frames.unwrap_or(d.kernel_frames),
        ..d
    };
    if limits.threads == 0 {
        return Err("limits.threads: must be at least 1 (the first thread counts)".into());
    }
    if limits.async_per_mailbox as usize > abi::ipc::ASYNC_QUEUE_MAX {
        return Err(format!(
            "limits.async-per-mailbox: {} is more than a mailbox holds ({})",
            limits.async_per_mailbox,
            abi::ipc::ASYNC_QUEUE_MAX
        ));
    }
    debug_assert!(limits.is_valid(), "{name}: checked field by field above");
    let restart = match p.restart.as_deref() {
        None | Some("never") => Restart::Never,
        Some("on-failure") => Restart::OnFailure,
        Some("always") => Restart::Always,
        Some(other) => {
            return Err(format!("restart: unknown policy {other:?} (\"never\", \"on-failure\" or \"always\")"))
        }
    };
    if restart == Restart::Never && p.restart_max.is_some() {
        return Err("restart-max: given without a restart policy".into());
    }
    if restart != Restart::Never && !p.start {
        return Err("restart: only a program init starts (`start = true`) is restarted by it".into());
    }
    if p.awaited && !p.start {
        return Err("await: only a program init starts (`start = true`) can be awaited".into());
    }
    let restart_max = if restart == Restart::Never { 0 } else { p.restart_max.unwrap_or(RESTART_MAX_DEFAULT) };
    let boot =
        Boot { start: p.start as u8, awaited: p.awaited as u8, restart: restart as u8, restart_max, ..Boot::NONE };
    Ok(Settings { grants, limits, boot })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[image]
programs = ["init", "names", "console", "shell", "tiny"]

[programs.names]
start = true
restart = "on-failure"

[programs.console]
grants = ["com1"]
start = true

[programs.shell]
start = true
await = true
grants = ["kill"]
limits = { threads = 4, kernel-frames = 64 }

[programs.tiny]
limits.tasks = 0
"#;

    #[test]
    fn reads_grants_limits_and_boot_policy() {
        let m = parse(GOOD).unwrap();
        assert_eq!(m.image, ["init", "names", "console", "shell", "tiny"]);
        let names = m.settings("names");
        assert_eq!(names.boot.start, 1);
        assert_eq!(names.boot.restart, Restart::OnFailure as u8);
        assert_eq!(names.boot.restart_max, RESTART_MAX_DEFAULT);
        assert_eq!(m.settings("console").grants, Grants::COM1);
        let shell = m.settings("shell");
        assert_eq!((shell.boot.awaited, shell.grants), (1, Grants::KILL));
        assert_eq!(shell.limits, Limits { threads: 4, kernel_frames: 64, ..Limits::DEFAULT });
        assert_eq!(m.settings("tiny").limits.tasks, 0);
        assert_eq!(m.settings("unlisted"), Settings::DEFAULT);
        assert!(m.programs.values().all(|s| s.limits.is_valid() && s.boot.is_valid()));
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err()
    }

    #[test]
    fn bad_manifests_are_refused_with_the_place_named() {
        let img = "[image]\nprograms = [\"init\", \"a\"]\n";
        let e = err(&format!("{img}[programs.a]\ngrants = [\"disk\"]\n"));
        assert!(e.contains("[programs.a]") && e.contains("unknown grant \"disk\""), "{e}");
        let e = err(&format!("{img}[programs.a]\nlimits = {{ threads = 0 }}\n"));
        assert!(e.contains("limits.threads") && e.contains("at least 1"), "{e}");
        let e = err(&format!("{img}[programs.a]\nlimits = {{ async-per-mailbox = 99 }}\n"));
        assert!(e.contains("async-per-mailbox"), "{e}");
        let e = err(&format!("{img}[programs.a]\nlimits = {{ threads = -1 }}\n"));
        assert!(e.contains("threads"), "{e}");
        let e = err(&format!("{img}[programs.a]\nstart = true\nrestart = \"sometimes\"\n"));
        assert!(e.contains("unknown policy \"sometimes\""), "{e}");
        let e = err(&format!("{img}[programs.a]\nrestart = \"always\"\n"));
        assert!(e.contains("start = true"), "{e}");
        let e = err(&format!("{img}[programs.a]\nstrat = true\n"));
        assert!(e.contains("unknown field") && e.contains("strat"), "{e}");
        let e = err(&format!("{img}[programs.a]\nstart = \"yes\"\n"));
        assert!(e.contains("start") || e.contains("bool"), "{e}");
        let e = err("[image]\nprograms = [\"shell\", \"init\"]\n");
        assert!(e.contains("first program must be \"init\""), "{e}");
        let e = err("[image]\nprograms = [\"init\", \"a\", \"a\"]\n");
        assert!(e.contains("listed twice"), "{e}");
        let e = err(&format!("[image]\nprograms = [\"init\", \"{}\"]\n", "x".repeat(NAME_MAX + 1)));
        assert!(e.contains("must be 1 to"), "{e}");
        let e = err("[programs.b]\n");
        assert!(e.contains("image"), "missing [image]: {e}");
        let e = err("[image\n");
        assert!(e.contains("line 1"), "a syntax error says where: {e}");
    }

    #[test]
    fn the_repositorys_manifest_is_valid_and_lists_the_default_system() {
        let m = load_default().unwrap();
        for p in ["init", "names", "console", "fs", "shell"] {
            assert!(m.image.iter().any(|n| n == p), "{p} in the default image");
        }
        assert_eq!(m.settings("console").grants, Grants::COM1);
        assert_eq!(m.settings("irqtest").grants, Grants::COM1);
        assert_eq!(m.settings("irqnocap").grants, Grants::NONE);
        // The in-guest suites test the default limits, so they must keep them.
        for suite in ["usertest", "ipctest"] {
            assert_eq!(m.settings(suite), Settings::DEFAULT, "{suite}");
        }
    }
}
