//! `cargo xtask gdb`: boots Moroso under QEMU's gdbstub and attaches gdb with every symbol.
//!
//! QEMU starts halted (`-S`) with its gdbstub on a local TCP port. gdb gets the kernel ELF
//! (linked at its run addresses) and each program of the boot image with
//! `add-symbol-file -o BIAS`, where BIAS is exactly the load bias the kernel's loader
//! applies (`ElfImage::load_bias`, the same code: a static PIE is placed at
//! `abi::layout::IMAGE_BASE`, whatever slot or task it runs as), so user breakpoints and
//! backtraces are right without asking the guest anything. QEMU runs in its own process
//! group, so Ctrl-C in gdb interrupts the guest instead of killing the emulator; QEMU is
//! always killed when gdb ends.

use crate::build;
use crate::cli::Command;
use crate::image;
use crate::qemu::{self, Accel};
use crate::setup;
use moroso_kernel::loader::elf::ElfImage;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

pub const COMMAND: Command = Command {
    name: "gdb",
    args:
        "[--app PATH ...] [--break FUNCTION ...] [--port N] [--append ARGS] [--batch] [--ex CMD ...] [--timeout SECS]",
    summary: "boot under QEMU's gdbstub and debug the kernel and programs with gdb",
    options: &[
        ("--app PATH", "boot the ELF at PATH (repeatable: one image of them all); default: the default image"),
        ("--break FUNCTION", "stop at FUNCTION (a kernel or program function, e.g. hello::main); repeatable"),
        ("--port N", "the gdbstub's TCP port on 127.0.0.1 (default: a free one, printed)"),
        ("--append ARGS", "extra kernel command-line arguments"),
        ("--batch", "no prompt: stop at the breakpoints, run the --ex commands, end (for scripts)"),
        ("--ex CMD", "a gdb command to run once stopped at the first breakpoint (repeatable)"),
        ("--timeout SECS", "with --batch: kill gdb and QEMU after SECS seconds (default 120)"),
    ],
    about: || {
        "QEMU starts halted with its gdbstub listening; gdb loads the kernel's symbols and every
program's at the address the kernel loads it (static-PIE programs all start at the same
user address, each in its own address space), connects, sets the breakpoints and continues
to the first. The guest console shares the terminal. Ctrl-C in gdb stops the guest;
quitting gdb ends QEMU. gdb is installed with apt-get when missing and running as root.

A user breakpoint stops whichever task runs that address: with several programs loaded,
pick functions by their program's name (prog::function)."
            .into()
    },
    run: command,
};

/// How long a `--batch` session may take by default: booting to a breakpoint under TCG
/// takes seconds; the margin is for loaded machines.
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Default, PartialEq)]
struct Options {
    apps: Vec<PathBuf>,
    breaks: Vec<String>,
    port: Option<u16>,
    append: String,
    batch: bool,
    ex: Vec<String>,
    timeout: Option<Duration>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--app" => o.apps.push(value("--app")?.into()),
            "--break" => o.breaks.push(value("--break")?),
            "--port" => {
                let v = value("--port")?;
                o.port = Some(v.parse().ok().filter(|p| *p > 0).ok_or(format!("--port: {v:?} is not a TCP port"))?);
            }
            "--append" => o.append = value("--append")?,
            "--batch" => o.batch = true,
            "--ex" => o.ex.push(value("--ex")?),
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or(format!("--timeout: {v:?} is not a positive number of seconds"))?;
                o.timeout = Some(Duration::from_secs_f64(secs));
            }
            other => return Err(format!("gdb: unknown option {other:?} (`cargo xtask gdb --help` lists them)")),
        }
    }
    if o.timeout.is_some() && !o.batch {
        return Err("gdb: --timeout applies to --batch sessions only".into());
    }
    Ok(o)
}

/// One program whose symbols gdb loads: its ELF and the bias the kernel loads it at.
struct Symbols {
    elf: PathBuf,
    bias: u64,
}

fn symbols_of(elf: &Path) -> Result<Symbols, String> {
    let bytes = image::validate(elf)?;
    let bias = ElfImage::parse(&bytes).map_err(|e| format!("{}: {e}", elf.display()))?.load_bias();
    Ok(Symbols { elf: elf.to_path_buf(), bias })
}

/// The gdb commands of a session: symbols, connection, breakpoints, then (if stopping at a
/// breakpoint) the `--ex` commands.
fn script(
    kernel: &Path,
    programs: &[Symbols],
    port: u16,
    o: &Options,
    std_source: Option<(String, PathBuf)>,
) -> String {
    let mut s = String::from("set pagination off\nset confirm off\n");
    if let Some((built_at, here)) = std_source {
        s += &format!("set substitute-path {built_at} {}\n", here.display());
    }
    s += &format!("file {}\n", kernel.display());
    for p in programs {
        s += &format!("add-symbol-file {} -o {:#x}\n", p.elf.display(), p.bias);
    }
    // gdb retries a refused connection for a while (`tcp auto-retry`), so QEMU need not be
    // listening yet.
    s += &format!("target remote 127.0.0.1:{port}\n");
    for b in &o.breaks {
        s += &format!("break {b}\n");
    }
    if !o.breaks.is_empty() {
        s += "continue\n";
    }
    for e in &o.ex {
        s += &format!("{e}\n");
    }
    s
}

/// Where the standard library's sources were when it was built (`/rustc/HASH`, as its
/// debug information says) and where they are here, if the `rust-src` component is
/// installed; gdb then shows `core` and `alloc` source lines too.
fn std_source() -> Option<(String, PathBuf)> {
    let out = |args: &[&str]| {
        let o = std::process::Command::new("rustc").args(args).output().ok()?;
        o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let hash = out(&["-vV"])?.lines().find_map(|l| l.strip_prefix("commit-hash: ").map(str::to_string))?;
    let src = PathBuf::from(out(&["--print", "sysroot"])?.trim()).join("lib/rustlib/src/rust");
    src.join("library").is_dir().then(|| (format!("/rustc/{hash}"), src))
}

/// A TCP port nobody listens on now (the kernel picks it; QEMU binds it moments later).
fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free TCP port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn command(args: &[String]) -> Result<ExitCode, String> {
    let o = parse(args)?;
    for app in &o.apps {
        image::validate(app)?;
    }
    setup::ensure_all()?;
    setup::ensure_gdb()?;
    // The image `cargo xtask run` boots, and the symbols of every program in it.
    let build::Boot { built, image: initrd, programs } = build::boot_image(&o.apps)?;
    let programs = programs.iter().map(|p| symbols_of(p)).collect::<Result<Vec<_>, _>>()?;
    let port = match o.port {
        Some(p) => p,
        None => free_port()?,
    };
    let script_path = build::target_dir().join("moroso").join("gdb-session.gdb");
    std::fs::write(&script_path, script(&built.kernel, &programs, port, &o, std_source()))
        .map_err(|e| format!("{}: {e}", script_path.display()))?;

    let cfg = qemu::Config {
        kernel: built.kernel.clone(),
        initrd: Some(initrd),
        append: o.append.clone(),
        accel: Accel::Tcg,
        icount: false,
        timeout: None,
        echo: true,
        input: Vec::new(),
    };
    let mut qemu = cfg.command();
    qemu.args(["-gdb", &format!("tcp:127.0.0.1:{port}"), "-S"]).stdin(Stdio::null()).process_group(0);
    eprintln!(
        "xtask: QEMU waits for gdb on 127.0.0.1:{port} ({}); gdb commands in {}",
        cfg.describe(),
        script_path.display()
    );
    let mut qemu = qemu.spawn().map_err(|e| format!("cannot start {}: {e}", setup::QEMU))?;

    let mut gdb = std::process::Command::new("gdb");
    gdb.arg("-q").arg("-nx");
    if o.batch {
        gdb.arg("-batch").stdin(Stdio::null());
    }
    gdb.arg("-x").arg(&script_path);
    let result = match gdb.spawn() {
        Ok(mut child) => wait_gdb(&mut child, o.batch.then(|| o.timeout.unwrap_or(BATCH_TIMEOUT))),
        Err(e) => Err(format!("cannot start gdb: {e}")),
    };
    let _ = qemu.kill();
    let _ = qemu.wait();
    result
}

/// Waits for gdb, killing it after `timeout` if one is given.
fn wait_gdb(child: &mut std::process::Child, timeout: Option<Duration>) -> Result<ExitCode, String> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("waiting for gdb: {e}"))? {
            return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the gdb session took longer than {} s; gdb and QEMU were killed",
                timeout.unwrap_or_default().as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse(&args(&["--app", "a", "--app", "b", "--break", "f", "--batch", "--ex", "bt", "--port", "9"]))
            .unwrap();
        assert_eq!(o.apps, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!((o.breaks, o.ex, o.port, o.batch), (vec!["f".to_string()], vec!["bt".to_string()], Some(9), true));
        assert!(parse(&args(&["--port", "0"])).is_err());
        assert!(parse(&args(&["--timeout", "5"])).is_err(), "--timeout without --batch");
        assert!(parse(&args(&["--break"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn the_script_loads_every_program_at_its_bias_before_breaking() {
        let o = Options { breaks: vec!["hello::main".into()], ex: vec!["bt".into()], ..Options::default() };
        let programs = [Symbols { elf: "/p/hello".into(), bias: 0x40_0000 }];
        let s = script(Path::new("/k/kernel"), &programs, 4321, &o, Some(("/rustc/abc".into(), "/sys/src".into())));
        let lines: Vec<&str> = s.lines().collect();
        let at = |l: &str| lines.iter().position(|x| *x == l).unwrap_or_else(|| panic!("no {l:?} in {s}"));
        assert!(at("file /k/kernel") < at("add-symbol-file /p/hello -o 0x400000"));
        assert!(at("add-symbol-file /p/hello -o 0x400000") < at("target remote 127.0.0.1:4321"));
        assert!(at("break hello::main") < at("continue") && at("continue") < at("bt"));
        assert!(at("set substitute-path /rustc/abc /sys/src") < at("file /k/kernel"));
        let none = script(Path::new("/k"), &[], 1, &Options::default(), None);
        assert!(!none.contains("continue"), "no breakpoint: stay halted at the first instruction");
    }
}
