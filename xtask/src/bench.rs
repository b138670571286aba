//! `cargo xtask bench`: Moroso's IPC benchmarks and a Linux baseline, booted in the same
//! emulator, in the same run, under `-icount shift=0` (the guest's `rdtsc` counts retired
//! instructions), so the counts are exact, repeatable and comparable.
//!
//! Moroso: the `bench` program is the only program of the boot image. Linux: Debian's cloud
//! kernel and busybox-static (fetched with `apt-get download`), and `linux/bench.c` built
//! static, in an initramfs this module writes. Both print `NAME median=N ...` lines.

use crate::build::{self, target_dir};
use crate::qemu::{self, Accel, End};
use crate::setup::{run_visible, QEMU};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(900);

/// A benchmark's result: median, min and max instruction counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Figure {
    pub median: u64,
    pub min: u64,
    pub max: u64,
}

/// Parses `PREFIX NAME median=N min=N max=N samples=N` lines.
pub fn parse(prefix: &str, lines: &[String]) -> BTreeMap<String, Figure> {
    let mut out = BTreeMap::new();
    for l in lines {
        let Some(rest) = l.split_once(prefix).map(|(_, r)| r.trim()) else { continue };
        let mut parts = rest.split_whitespace();
        let Some(name) = parts.next() else { continue };
        let mut f = Figure { median: 0, min: 0, max: 0 };
        let mut seen = 0;
        for p in parts {
            let Some((k, v)) = p.split_once('=') else { continue };
            let Ok(v) = v.parse() else { continue };
            match k {
                "median" => (f.median, seen) = (v, seen | 1),
                "min" => (f.min, seen) = (v, seen | 2),
                "max" => (f.max, seen) = (v, seen | 4),
                _ => {}
            }
        }
        if seen == 7 {
            out.insert(name.to_string(), f);
        }
    }
    out
}

/// Boots the Moroso bench program under icount; its figures.
pub fn moroso(built: &build::Built) -> Result<BTreeMap<String, Figure>, String> {
    let initrd = built.image("bench", &["bench"])?;
    let cfg = qemu::Config {
        kernel: built.kernel.clone(),
        initrd: Some(initrd),
        append: String::new(),
        accel: Accel::Tcg,
        icount: true,
        timeout: Some(TIMEOUT),
        echo: false,
        input: Vec::new(),
    };
    eprintln!("xtask: booting the Moroso benchmarks ({})", cfg.describe());
    let o = qemu::run(&cfg)?;
    if o.end != End::Guest(abi::report::GuestExit::Success) || !o.lines.iter().any(|l| l.contains("moroso-bench done"))
    {
        let tail: Vec<&String> = o.lines.iter().rev().take(8).collect();
        return Err(format!("the Moroso benchmarks did not finish ({:?}); last lines: {tail:?}", o.end));
    }
    Ok(parse("moroso-bench", &o.lines))
}

/// The Linux baseline: fetch, build, boot; its figures.
pub fn linux() -> Result<BTreeMap<String, Figure>, String> {
    let dir = target_dir().join("bench").join("linux");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (kernel, busybox) = fetch_linux(&dir)?;
    let bench = dir.join("bench");
    eprintln!("xtask: building the Linux benchmark (gcc -O2 -static xtask/linux/bench.c)");
    run_visible(
        Command::new("gcc")
            .args(["-O2", "-static", "-o"])
            .arg(&bench)
            .arg(build::root().join("xtask/linux/bench.c"))
            .arg("-lpthread"),
    )
    .map_err(|e| format!("{e} (is gcc installed? apt-get install gcc libc6-dev)"))?;
    let initrd = dir.join("initramfs.cpio");
    write_initramfs(&initrd, &busybox, &bench)?;
    let mut cmd = Command::new(QEMU);
    cmd.args(["-accel", "tcg", "-cpu", "max", "-icount", "shift=0", "-m", "512M", "-kernel"])
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1", "-serial", "stdio", "-display", "none"])
        .args(["-monitor", "none", "-no-reboot"]);
    eprintln!("xtask: booting Linux ({}) with the baseline benchmarks, -icount shift=0", kernel.display());
    let lines = qemu::run_command(cmd, TIMEOUT)?;
    if !lines.iter().any(|l| l.contains("linux-bench done")) {
        let tail: Vec<&String> = lines.iter().rev().take(8).collect();
        return Err(format!("the Linux benchmarks did not finish; last lines: {tail:?}"));
    }
    Ok(parse("linux-bench", &lines))
}

/// Debian's cloud kernel and busybox-static, downloaded once into `dir`.
fn fetch_linux(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let root = dir.join("root");
    let find = |root: &Path| -> Option<(PathBuf, PathBuf)> {
        let boot = std::fs::read_dir(root.join("boot")).ok()?;
        let kernel = boot
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))?;
        let busybox = root.join("bin/busybox");
        busybox.is_file().then_some((kernel, busybox))
    };
    if let Some(found) = find(&root) {
        return Ok(found);
    }
    let depends = || Command::new("apt-cache").args(["depends", "linux-image-cloud-amd64"]).output();
    let mut out =
        depends().map_err(|e| format!("cannot run apt-cache ({e}): the Linux baseline needs Debian's packages"))?;
    if !String::from_utf8_lossy(&out.stdout).contains("Depends: linux-image-") {
        eprintln!("xtask: updating the package lists (apt-get update)");
        run_visible(Command::new("apt-get").args(["update", "-q"]))?;
        out = depends().map_err(|e| e.to_string())?;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let image = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-")))
        .ok_or("apt-cache names no kernel for linux-image-cloud-amd64")?
        .to_string();
    eprintln!("xtask: downloading {image} and busybox-static (apt-get download)");
    run_visible(Command::new("apt-get").current_dir(dir).args(["download", "-q", &image, "busybox-static"]))?;
    for deb in std::fs::read_dir(dir).map_err(|e| e.to_string())?.filter_map(Result::ok).map(|e| e.path()) {
        if deb.extension().is_some_and(|x| x == "deb") {
            run_visible(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        }
    }
    find(&root).ok_or_else(|| "the downloaded packages hold no vmlinuz or busybox".to_string())
}

/// A newc cpio archive: `/init`, busybox, the benchmark, `/dev/console`, `/proc`.
fn write_initramfs(out: &Path, busybox: &Path, bench: &Path) -> Result<(), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let init = b"#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n/bench\n/bin/busybox poweroff -f\n";
    let mut a = Vec::new();
    cpio_entry(&mut a, "dev", 0o040755, &[], 0);
    cpio_entry(&mut a, "dev/console", 0o020600, &[], (5 << 8) | 1);
    cpio_entry(&mut a, "proc", 0o040755, &[], 0);
    cpio_entry(&mut a, "bin", 0o040755, &[], 0);
    cpio_entry(&mut a, "bin/busybox", 0o100755, &read(busybox)?, 0);
    cpio_entry(&mut a, "bin/sh", 0o120777, b"busybox", 0);
    cpio_entry(&mut a, "bench", 0o100755, &read(bench)?, 0);
    cpio_entry(&mut a, "init", 0o100755, init, 0);
    cpio_entry(&mut a, "TRAILER!!!", 0, &[], 0);
    std::fs::write(out, a).map_err(|e| format!("{}: {e}", out.display()))
}

/// One newc entry; `rdev` is `major << 8 | minor` for device nodes.
fn cpio_entry(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8], rdev: u32) {
    static INO: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let ino = INO.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fields = [ino, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, rdev >> 8, rdev & 0xff, name.len() as u32 + 1, 0];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out.extend_from_slice(data);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Moroso cases and the Linux operation each is compared with.
const COMPARISONS: &[(&str, &str, &str)] = &[
    ("null_syscall", "null_syscall", "null system call"),
    ("fastpath_call_cross_as", "pipe_round_trip_8b", "8-byte round trip across address spaces (Linux: pipe)"),
    ("fastpath_call_same_as", "futex_round_trip", "round trip between two threads (Linux: futex)"),
    ("yield_there_and_back", "yield_there_and_back", "yield to another thread and back"),
];

pub fn run(with_linux: bool) -> Result<ExitCode, String> {
    crate::setup::ensure_all()?;
    let built = build::all()?;
    let m = moroso(&built)?;
    let l = if with_linux { Some(linux()?) } else { None };
    let qemu_version = Command::new(QEMU)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_default();

    println!("\nMoroso benchmarks: median guest instructions (QEMU TCG, -icount shift=0; {qemu_version})\n");
    println!("  {:<30} {:>10} {:>10} {:>10}", "operation", "median", "min", "max");
    for (name, f) in m.iter().filter(|(n, _)| *n != "empty_measurement") {
        println!("  {name:<30} {:>10} {:>10} {:>10}", f.median, f.min, f.max);
    }
    let per_page = |kind: &str| match (m.get(&format!("long_{kind}_1p")), m.get(&format!("long_{kind}_256p"))) {
        (Some(a), Some(b)) => Some((b.median.saturating_sub(a.median)) / 255),
        _ => None,
    };
    for kind in ["move", "share"] {
        if let Some(p) = per_page(kind) {
            println!("  {:<30} {:>10}", format!("long_{kind}, per page"), p);
        }
    }
    if let Some(l) = &l {
        println!("\nAgainst Linux in the same emulator (same method, same run):\n");
        println!("  {:<58} {:>8} {:>8} {:>8}", "operation", "Moroso", "Linux", "ratio");
        for (mo, li, what) in COMPARISONS {
            if let (Some(a), Some(b)) = (m.get(*mo), l.get(*li)) {
                println!("  {what:<58} {:>8} {:>8} {:>8.2}", a.median, b.median, a.median as f64 / b.median as f64);
            }
        }
        println!(
            "  {:<58} {:>8} {:>8}",
            "(Linux pipe round trip, for scale)",
            "",
            l.get("pipe_round_trip_8b").map_or(0, |f| f.median)
        );
    }
    let json = to_json(&m, l.as_ref(), &qemu_version);
    let out = target_dir().join("bench").join("latest.json");
    std::fs::create_dir_all(out.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    std::fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))?;
    println!("\nxtask: results written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn to_json(m: &BTreeMap<String, Figure>, l: Option<&BTreeMap<String, Figure>>, qemu: &str) -> String {
    let obj = |map: &BTreeMap<String, Figure>| {
        let items: Vec<String> = map
            .iter()
            .map(|(k, f)| format!("    \"{k}\": {{\"median\": {}, \"min\": {}, \"max\": {}}}", f.median, f.min, f.max))
            .collect();
        format!("{{\n{}\n  }}", items.join(",\n"))
    };
    let linux = l.map_or("null".to_string(), obj);
    format!(
        "{{\n  \"unit\": \"guest instructions (rdtsc under -icount shift=0)\",\n  \"qemu\": \"{}\",\n  \"moroso\": {},\n  \"linux\": {}\n}}\n",
        qemu.replace('"', "'"),
        obj(m),
        linux
    )
}

/// The recorded Moroso figures `cargo xtask test` guards (`bench-baseline.txt`).
pub fn baseline() -> Result<BTreeMap<String, u64>, String> {
    let p = build::root().join("xtask/bench-baseline.txt");
    let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect())
}

/// Medians more than `margin` above the recorded figure (name, recorded, measured).
pub fn regressions(
    recorded: &BTreeMap<String, u64>,
    now: &BTreeMap<String, Figure>,
    margin: f64,
) -> Vec<(String, u64, Option<u64>)> {
    recorded
        .iter()
        .filter_map(|(k, &r)| match now.get(k) {
            Some(f) if (f.median as f64) <= r as f64 * (1.0 + margin) => None,
            Some(f) => Some((k.clone(), r, Some(f.median))),
            None => Some((k.clone(), r, None)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_lines_and_ignores_the_rest() {
        let lines: Vec<String> = [
            "moroso-bench null_syscall median=229 min=229 max=230 samples=1001",
            "noise",
            "moroso-bench broken median=x min=1 max=2",
            "xx moroso-bench long_move_1p median=4609 min=4600 max=4783 samples=201",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = parse("moroso-bench", &lines);
        assert_eq!(m.len(), 2);
        assert_eq!(m["null_syscall"], Figure { median: 229, min: 229, max: 230 });
        assert_eq!(m["long_move_1p"].median, 4609);
    }

    #[test]
    fn regressions_beyond_the_margin_are_reported() {
        let recorded: BTreeMap<String, u64> = [("a".into(), 100), ("b".into(), 100), ("c".into(), 100)].into();
        let f = |m| Figure { median: m, min: m, max: m };
        let now: BTreeMap<String, Figure> = [("a".into(), f(120)), ("b".into(), f(121))].into();
        let r = regressions(&recorded, &now, 0.2);
        assert_eq!(r, vec![("b".into(), 100, Some(121)), ("c".into(), 100, None)]);
    }

    #[test]
    fn cpio_entries_are_aligned_newc() {
        let mut a = Vec::new();
        cpio_entry(&mut a, "init", 0o100755, b"abc", 0);
        assert!(a.starts_with(b"070701"));
        assert_eq!(a.len() % 4, 0);
        assert_eq!(&a[6 + 8..6 + 16], b"000081ed", "regular file, 0755");
    }
}
