//! `cargo xtask new NAME [--path DIR]`: scaffolds an external Moroso program.
//!
//! The crate it writes is exactly what an external program is (a crate whose one
//! dependency is `libsys` by path, built with plain `cargo build --release --target
//! x86_64-unknown-none`: no linker script, no build script, no flags): `Cargo.toml`,
//! `src/main.rs` with `libsys::entry!`, a `README.md`, the toolchain file and a
//! `.cargo/config.toml` that only names the default target. Invariants: nothing that
//! exists is ever overwritten (the crate's directory must not exist), and a name is
//! accepted only if it is a valid package name that the boot image keeps whole.

use crate::cli::Command;
use crate::setup::TARGET;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

pub const COMMAND: Command = Command {
    name: "new",
    args: "NAME [--path DIR]",
    summary: "create an external program crate NAME that builds with plain cargo",
    options: &[("--path DIR", "create the crate in DIR (default: ./NAME); DIR must not exist")],
    about: || {
        format!(
            "Writes Cargo.toml (depending on this checkout's libsys by path), src/main.rs with
libsys::entry!, a README, rust-toolchain.toml and .cargo/config.toml. Then:

  cd NAME && cargo build --release --target {TARGET}
  cargo xtask run --app NAME/target/{TARGET}/release/NAME

NAME: lowercase letters, digits, '-' and '_', starting with a letter, at most {} bytes
(the boot image keeps program names that long).",
            abi::image::NAME_MAX
        )
    },
    run: command,
};

fn command(args: &[String]) -> Result<ExitCode, String> {
    let (name, dir) = parse(args)?;
    let dir = match dir {
        Some(d) => d,
        None => PathBuf::from(&name),
    };
    create(&name, &dir, &crate::build::root())?;
    eprintln!("xtask: created the program {name} in {}", dir.display());
    eprintln!("  build: cd {} && cargo build --release --target {TARGET}", dir.display());
    eprintln!(
        "  run:   cargo xtask run --app {}",
        dir.join("target").join(TARGET).join("release").join(&name).display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `NAME [--path DIR]`, in any order.
fn parse(args: &[String]) -> Result<(String, Option<PathBuf>), String> {
    let (mut name, mut dir) = (None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--path" => dir = Some(PathBuf::from(it.next().ok_or("--path needs a directory")?)),
            other if other.starts_with('-') => {
                return Err(format!("new: unknown option {other:?} (`cargo xtask new --help`)"))
            }
            other if name.is_none() => name = Some(other.to_string()),
            other => return Err(format!("new: one NAME only (got a second: {other:?})")),
        }
    }
    let name = name.ok_or("new: give the program a NAME (`cargo xtask new NAME`)")?;
    check_name(&name)?;
    Ok((name, dir))
}

/// Names cargo or Rust would refuse, or that would shadow a crate the program uses.
const RESERVED: &[&str] = &[
    "abi",
    "alloc",
    "core",
    "libsys",
    "std",
    "test",
    "proc_macro",
    "self",
    "super",
    "crate",
    "fn",
    "mod",
    "struct",
    "enum",
    "impl",
    "trait",
    "type",
    "use",
    "let",
    "loop",
    "match",
    "if",
    "else",
    "while",
    "for",
    "in",
    "return",
];

/// A package name that is also a whole program name in the boot image.
pub fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("new: {name:?} cannot be a program name: {why}"));
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > abi::image::NAME_MAX {
        return bad(&format!("longer than {} bytes (the boot image keeps no more)", abi::image::NAME_MAX));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("it must start with a lowercase letter");
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')) {
        return bad(&format!("{c:?} is not allowed (lowercase letters, digits, '-' and '_')"));
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        return bad("it is a Rust keyword or the name of a crate the program uses");
    }
    Ok(())
}

/// Writes the crate `name` into `dir`, which must not exist, depending on the `libsys` of
/// the checkout at `root`.
pub fn create(name: &str, dir: &Path, root: &Path) -> Result<(), String> {
    check_name(name)?;
    if dir.exists() {
        return Err(format!(
            "new: {} already exists; nothing was written (choose another NAME or --path)",
            dir.display()
        ));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| format!("new: cannot create {}: {e}", parent.display()))?;
    // `create_dir`, not `create_dir_all`: it fails if the directory appeared meanwhile.
    std::fs::create_dir(dir).map_err(|e| format!("new: cannot create {}: {e}", dir.display()))?;
    let libsys = libsys_path(&parent, &root.join("libsys"))?;
    let toolchain = std::fs::read_to_string(root.join("rust-toolchain.toml"))
        .map_err(|e| format!("new: cannot read the checkout's rust-toolchain.toml: {e}"))?;
    let files = [
        ("Cargo.toml", cargo_toml(name, &libsys)),
        ("src/main.rs", main_rs(name)),
        ("README.md", readme(name, &dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()), root)),
        ("rust-toolchain.toml", toolchain),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
        (".gitignore", "/target\n".to_string()),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("new: cannot create {}: {e}", p.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("new: cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The path to `libsys` as the new crate's manifest should spell it: relative when the
/// crate is beside or inside this checkout's tree (so both can move together), else
/// absolute. `parent` is the directory the crate directory is created in.
fn libsys_path(parent: &Path, libsys: &Path) -> Result<String, String> {
    let from = parent.canonicalize().map_err(|e| format!("new: {}: {e}", parent.display()))?.join("x");
    let to = libsys.canonicalize().map_err(|e| format!("new: {}: {e}", libsys.display()))?;
    let path = relative(&from, &to).unwrap_or(to);
    // TOML basic strings: the path's backslashes and quotes escaped.
    Ok(path.display().to_string().replace('\\', "\\\\").replace('"', "\\\""))
}

/// `to` relative to the directory `from`, if they share more than the filesystem root.
fn relative(from: &Path, to: &Path) -> Option<PathBuf> {
    let (f, t): (Vec<Component>, Vec<Component>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    if common < 2 {
        return None;
    }
    let mut rel: PathBuf = f[common..].iter().map(|_| "..").collect();
    rel.extend(&t[common..]);
    Some(rel)
}

fn cargo_toml(name: &str, libsys: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"

[dependencies]
libsys = {{ path = "{libsys}" }}

# libsys ends the task on a panic; there is no unwinding.
[profile.dev]
panic = "abort"

# Debug information stays in the ELF (it is not loaded): fault reports name the function and
# file:line from it, and `cargo xtask gdb` reads its symbols.
[profile.release]
panic = "abort"
debug = true
# Inlining across crates (libsys into the program), as Moroso's own programs are built.
lto = "thin"
codegen-units = 1

# A crate of its own, even when created inside another Cargo workspace.
[workspace]
"#
    )
}

fn main_rs(name: &str) -> String {
    format!(
        r#"//! {name}: a Moroso program.
#![no_std]
#![no_main]

libsys::entry!(main);

/// Runs as the task's first thread; the value it returns is the task's exit status.
fn main() -> i32 {{
    libsys::println!("hello from {name}, thread {{}}", libsys::raw::gettid());
    0
}}
"#
    )
}

/// Only names the default target, so a bare `cargo build` works too; no flags.
const CARGO_CONFIG: &str = "[build]\ntarget = \"x86_64-unknown-none\"\n";

fn readme(name: &str, dir: &Path, root: &Path) -> String {
    format!(
        r#"# {name}

A program for the Moroso microkernel.

Build it (plain cargo; `.cargo/config.toml` only makes `{TARGET}` the default target):

```sh
cargo build --release --target {TARGET}
```

Boot it in QEMU as the only program, from the Moroso checkout ({root}):

```sh
cargo xtask run --app {dir}/target/{TARGET}/release/{name}
```

The command exits with the program's status: `main`'s return value. A fault or a panic is
reported with the function and `file:line`. `cargo xtask gdb --app ... --break {name}::main`
stops in the debugger at `main`.

The library's documentation: `cargo doc -p libsys --open` in the Moroso checkout.
"#,
        root = root.display(),
        dir = dir.display(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["hello", "my-server", "a1_b", &"x".repeat(abi::image::NAME_MAX)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "Hello", "-x", "a b", "a/b", "a.b", "libsys", "core", "test", "fn", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&["a".into(), "b".into()]).is_err());
        assert!(parse(&["--path".into()]).is_err());
        assert!(parse(&["--bogus".into(), "a".into()]).is_err());
        assert_eq!(parse(&["--path".into(), "d".into(), "a".into()]).unwrap(), ("a".into(), Some("d".into())));
    }

    #[test]
    fn paths_are_relative_within_one_tree() {
        let r = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(r("/w/repo/x", "/w/repo/libsys"), Some("../libsys".into()));
        assert_eq!(r("/w/other/x", "/w/repo/libsys"), Some("../../repo/libsys".into()));
        assert_eq!(r("/tmp/x", "/w/repo/libsys"), None, "only the root in common: absolute");
    }

    #[test]
    fn refuses_an_existing_directory_and_writes_nothing_there() {
        let root = crate::build::root();
        let tmp = std::env::temp_dir().join(format!("moroso-new-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let dir = tmp.join("demo");
        create("demo", &dir, &root).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"demo\"") && manifest.contains("libsys = { path = "), "{manifest}");
        assert!(std::fs::read_to_string(dir.join("src/main.rs")).unwrap().contains("libsys::entry!(main);"));
        std::fs::write(dir.join("src/main.rs"), "mine").unwrap();
        let e = create("demo", &dir, &root).unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        assert_eq!(std::fs::read_to_string(dir.join("src/main.rs")).unwrap(), "mine", "nothing overwritten");
        assert!(create("Bad", &tmp.join("bad"), &root).is_err());
        assert!(!tmp.join("bad").exists(), "a bad name creates nothing");
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
