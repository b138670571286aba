//! `cargo xtask bench`: Moroso's IPC benchmarks and a Linux baseline, booted in the same
//! emulator, in the same run, under `-icount shift=0` (the guest's `rdtsc` counts retired
//! instructions), so the counts are exact, repeatable and comparable.
//!
//! Moroso: the `bench` program is the only program of the boot image. Linux: Debian's cloud
//! kernel and busybox-static (fetched with `apt-get download`), and `linux/bench.c` built
//! static, in an initramfs this module writes. Both print `NAME median=N ...` lines.

mod chart;

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
    cmd.args(["-accel", "tcg", "-cpu", "max", "-icount", qemu::ICOUNT, "-m", "512M", "-kernel"])
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0 quiet panic=-1", "-serial", "stdio", "-display", "none"])
        .args(["-monitor", "none", "-no-reboot"]);
    eprintln!("xtask: booting Linux ({}) with the baseline benchmarks, -icount {}", kernel.display(), qemu::ICOUNT);
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
        run_quiet(Command::new("apt-get").args(["update", "-q"]))?;
        out = depends().map_err(|e| e.to_string())?;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let image = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|p| p.starts_with("linux-image-")))
        .ok_or("apt-cache names no kernel for linux-image-cloud-amd64")?
        .to_string();
    eprintln!("xtask: downloading {image} and busybox-static (apt-get download)");
    run_quiet(Command::new("apt-get").current_dir(dir).args(["download", "-q", &image, "busybox-static"]))?;
    for deb in std::fs::read_dir(dir).map_err(|e| e.to_string())?.filter_map(Result::ok).map(|e| e.path()) {
        if deb.extension().is_some_and(|x| x == "deb") {
            run_quiet(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        }
    }
    find(&root).ok_or_else(|| "the downloaded packages hold no vmlinuz or busybox".to_string())
}

/// Runs `cmd` with its output captured: shown only if it fails (apt's progress lines are
/// not the benchmarks' business).
fn run_quiet(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
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

/// Every Moroso benchmark, by its key in the guest's output and `bench-baseline.txt`, with
/// the name BENCHMARKS.md gives it, in the order it lists them.
pub const NAMES: &[(&str, &str)] = &[
    ("null_syscall", "null system call (gettid)"),
    ("fastpath_call_same_as", "fast-path call + reply, two threads of one task"),
    ("fastpath_call_cross_as", "fast-path call + reply across two address spaces"),
    ("busy_server_call_cross_as", "fast-path call + reply across two address spaces, server busy (call queued)"),
    ("one_way_call_cross_as", "fast-path call, one way, kernel only (as sel4bench counts seL4_Call)"),
    ("one_way_reply_wait_cross_as", "fast-path reply and wait, one way, kernel only (as seL4_ReplyRecv)"),
    ("short_call_cross_as_8b", "short round trip across address spaces, 8 bytes"),
    (
        "busy_server_short_call_cross_as_8b",
        "short round trip across address spaces, 8 bytes, server busy (call queued)",
    ),
    ("short_call_cross_as_64b", "short round trip across address spaces, 64 bytes"),
    ("short_call_cross_as_1024b", "short round trip across address spaces, 1,024 bytes"),
    ("short_call_cross_as_4096b", "short round trip across address spaces, 4,096 bytes"),
    ("async_send_recv_8b", "asynchronous send + receive, 8 bytes"),
    ("long_move_1p", "long message, move 1 page"),
    ("long_move_16p", "long message, move 16 pages"),
    ("long_move_256p", "long message, move 256 pages"),
    ("long_share_1p", "long message, share 1 page"),
    ("long_share_16p", "long message, share 16 pages"),
    ("long_share_256p", "long message, share 256 pages"),
    ("yield_there_and_back", "yield to another thread and back"),
    ("load_round_trip_blocked_0", "round trip, 0 other threads blocked"),
    ("load_round_trip_blocked_32", "round trip, 32 other threads blocked"),
    ("load_round_trip_blocked_128", "round trip, 128 other threads blocked"),
    ("load_round_trip_runnable_0", "round trip, 0 other threads runnable"),
    ("load_round_trip_runnable_16", "round trip, 16 other threads runnable"),
    ("load_round_trip_runnable_64", "round trip, 64 other threads runnable"),
    ("load_drain_per_message_1", "drain, per message, 1 queued"),
    ("load_drain_per_message_8", "drain, per message, 8 queued"),
    ("load_drain_per_message_16", "drain, per message, 16 queued"),
    ("load_drain_per_message_64", "drain, per message, 64 queued"),
];

/// The guest's own measurement costs (subtracted from the figures), not benchmarks.
const MEASUREMENT_COSTS: &[&str] = &["empty_measurement", "one_way_overhead"];

/// The name BENCHMARKS.md gives benchmark `key` (the key itself if it has none yet).
pub fn name_of(key: &str) -> &str {
    NAMES.iter().find(|(k, _)| *k == key).map_or(key, |(_, n)| n)
}

/// A family of one operation measured at several loads: its cost must not grow with them.
pub struct Family {
    pub title: &'static str,
    /// What the load is (the x axis).
    pub load: &'static str,
    /// (load, benchmark key).
    pub points: &'static [(u32, &'static str)],
}

/// The families measured under load, and the most the largest median of one may be over
/// its smallest.
pub const FAMILIES: &[Family] = &[
    Family {
        title: "round trip, other threads blocked in ipc_recv",
        load: "blocked threads",
        points: &[
            (0, "load_round_trip_blocked_0"),
            (32, "load_round_trip_blocked_32"),
            (128, "load_round_trip_blocked_128"),
        ],
    },
    Family {
        title: "round trip, other threads runnable (yielding)",
        load: "runnable threads",
        points: &[
            (0, "load_round_trip_runnable_0"),
            (16, "load_round_trip_runnable_16"),
            (64, "load_round_trip_runnable_64"),
        ],
    },
    Family {
        title: "drain, per message",
        load: "queued messages",
        points: &[
            (1, "load_drain_per_message_1"),
            (8, "load_drain_per_message_8"),
            (16, "load_drain_per_message_16"),
            (64, "load_drain_per_message_64"),
        ],
    },
];
pub const FLATNESS: f64 = 1.15;

/// Each family's largest median over its smallest (`None` if a point is missing).
pub fn flatness(m: &BTreeMap<String, Figure>) -> Vec<(&'static Family, Option<f64>)> {
    FAMILIES
        .iter()
        .map(|f| {
            let medians: Option<Vec<u64>> = f.points.iter().map(|(_, k)| m.get(*k).map(|x| x.median)).collect();
            let ratio = medians.and_then(|v| {
                let (lo, hi) = (*v.iter().min()?, *v.iter().max()?);
                (lo > 0).then(|| hi as f64 / lo as f64)
            });
            (f, ratio)
        })
        .collect()
}

/// seL4's figures on the same ruler: sel4bench's `ipc` benchmark (x86_64, release build,
/// fastpath, client and server in different address spaces), booted under QEMU with
/// `-icount shift=0`, counting guest instructions one way and kernel only (see
/// `one_way` in `apps/src/bin/bench.rs` for what that counts, measured the same way here).
pub const SEL4_CALL: u64 = 194;
/// seL4's `ReplyRecv`, measured as [`SEL4_CALL`].
pub const SEL4_REPLY_RECV: u64 = 221;
/// Where the seL4 figures come from, as the chart says.
pub const SEL4_SOURCE: &str = "sel4bench ipc, x86_64 fastpath, across address spaces, as cited in BENCHMARKS.md";

/// One operation compared across systems: Moroso's figure (the sum of these benchmarks'
/// medians), the Linux benchmark doing the same (key, and how Linux does it) and seL4's
/// published figure, where each has one.
pub struct Comparison {
    pub what: &'static str,
    pub moroso: &'static [&'static str],
    pub linux: Option<(&'static str, &'static str)>,
    pub sel4: Option<u64>,
}

/// What the comparison table and chart show, in order.
pub const COMPARISONS: &[Comparison] = &[
    Comparison {
        what: "null system call",
        moroso: &["null_syscall"],
        linux: Some(("null_syscall", "getppid")),
        sel4: None,
    },
    Comparison {
        what: "8-byte round trip across address spaces, user to user",
        moroso: &["fastpath_call_cross_as"],
        linux: Some(("pipe_round_trip_8b", "pipe")),
        sel4: None,
    },
    Comparison {
        what: "round trip between two threads, user to user",
        moroso: &["fastpath_call_same_as"],
        linux: Some(("futex_round_trip", "futex")),
        sel4: None,
    },
    Comparison {
        what: "yield to another thread and back",
        moroso: &["yield_there_and_back"],
        linux: Some(("yield_there_and_back", "sched_yield")),
        sel4: None,
    },
    Comparison {
        what: "call, one way, kernel only (seL4_Call)",
        moroso: &["one_way_call_cross_as"],
        linux: None,
        sel4: Some(SEL4_CALL),
    },
    Comparison {
        what: "reply and wait, one way, kernel only (seL4_ReplyRecv)",
        moroso: &["one_way_reply_wait_cross_as"],
        linux: None,
        sel4: Some(SEL4_REPLY_RECV),
    },
    Comparison {
        what: "round trip, kernel only (the two one-way figures)",
        moroso: &["one_way_call_cross_as", "one_way_reply_wait_cross_as"],
        linux: None,
        sel4: Some(SEL4_CALL + SEL4_REPLY_RECV),
    },
];

/// Each comparison with its figures: Moroso, Linux, seL4 (`None` where a system has none
/// or it was not measured).
pub fn compared<'a>(
    m: &BTreeMap<String, Figure>,
    l: Option<&BTreeMap<String, Figure>>,
) -> Vec<(&'a Comparison, [Option<u64>; 3])> {
    COMPARISONS
        .iter()
        .map(|c| {
            let moroso = c.moroso.iter().map(|k| m.get(*k).map(|f| f.median)).sum::<Option<u64>>();
            let linux = c.linux.and_then(|(k, _)| l?.get(k).map(|f| f.median));
            (c, [moroso, linux, c.sel4])
        })
        .collect()
}

/// How far past its recorded figure a median may grow before `cargo xtask test` fails. The
/// counts are deterministic (the same to the instruction from run to run), so this is room
/// for nothing but a real change.
pub const MARGIN: f64 = 0.02;

/// `+1.2%`, `-0.3%`, or `new` when nothing is recorded.
pub fn change(now: u64, was: Option<u64>) -> String {
    match was {
        Some(w) if w > 0 => format!("{:+.1}%", (now as f64 - w as f64) * 100.0 / w as f64),
        _ => "new".to_string(),
    }
}

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
    let recorded = baseline().unwrap_or_default();

    println!("\nMoroso benchmarks: median guest instructions (QEMU TCG, -icount {}; {qemu_version})", qemu::ICOUNT);
    println!("compared with xtask/bench-baseline.txt\n");
    let w = NAMES.iter().map(|(_, n)| n.len()).max().unwrap_or(0);
    println!("  {:<w$} {:>8} {:>8} {:>8} {:>9} {:>7}", "operation", "median", "min", "max", "baseline", "change");
    let known = NAMES.iter().map(|(k, _)| *k);
    let others =
        m.keys().map(String::as_str).filter(|k| !MEASUREMENT_COSTS.contains(k) && !NAMES.iter().any(|(n, _)| n == k));
    for key in known.chain(others.collect::<Vec<_>>()) {
        let Some(f) = m.get(key) else { continue };
        let was = recorded.get(key).copied();
        let base = was.map_or("-".to_string(), |w| w.to_string());
        println!(
            "  {:<w$} {:>8} {:>8} {:>8} {:>9} {:>7}",
            name_of(key),
            f.median,
            f.min,
            f.max,
            base,
            change(f.median, was)
        );
    }
    let per_page = |kind: &str| match (m.get(&format!("long_{kind}_1p")), m.get(&format!("long_{kind}_256p"))) {
        (Some(a), Some(b)) => Some((b.median.saturating_sub(a.median)) / 255),
        _ => None,
    };
    for kind in ["move", "share"] {
        if let Some(p) = per_page(kind) {
            println!("  {:<w$} {:>8}", format!("long message, per page (1 to 256 pages): {kind}"), p);
        }
    }
    println!("\nCost under load: within a family the largest median may be at most {FLATNESS}x the smallest\n");
    let mut flat = true;
    for (f, ratio) in flatness(&m) {
        let medians: Vec<String> =
            f.points.iter().map(|(_, k)| m.get(*k).map_or("-".to_string(), |x| x.median.to_string())).collect();
        let loads: Vec<String> = f.points.iter().map(|(n, _)| n.to_string()).collect();
        let (shown, ok) = match ratio {
            Some(r) => (format!("{r:.3}x"), r <= FLATNESS),
            None => ("-".to_string(), false),
        };
        flat &= ok;
        println!(
            "  {:<48} {:<16} {:<26} {:>7} {}",
            f.title,
            loads.join(" / "),
            medians.join(" / "),
            shown,
            if ok { "flat" } else { "NOT FLAT" }
        );
    }
    let rows = compared(&m, l.as_ref());
    println!("\nAgainst Linux in the same emulator and run, and seL4's published figures on the same ruler:\n");
    println!("  {:<w$} {:>8} {:>8} {:>8} {:>8}", "operation", "Moroso", "Linux", "seL4", "ratio");
    for (c, [mo, li, se]) in &rows {
        let show = |v: &Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let what = match c.linux {
            Some((_, how)) if li.is_some() => format!("{} (Linux: {how})", c.what),
            _ => c.what.to_string(),
        };
        let ratio = match (mo, li.or(*se)) {
            (Some(a), Some(b)) if b > 0 => format!("{:.2}", *a as f64 / b as f64),
            _ => "-".to_string(),
        };
        println!("  {what:<w$} {:>8} {:>8} {:>8} {ratio:>8}", show(mo), show(li), show(se));
    }
    println!("  (ratio: Moroso's figure over Linux's, or over seL4's where Linux has none)");
    if l.is_none() {
        println!("  (Linux not run: --no-linux)");
    }
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = to_json(&m, l.as_ref(), &qemu_version);
    let out = dir.join("latest.json");
    std::fs::write(&out, json).map_err(|e| format!("{}: {e}", out.display()))?;
    let chart = dir.join("load.svg");
    std::fs::write(&chart, chart::load(&m)).map_err(|e| format!("{}: {e}", chart.display()))?;
    let compare = dir.join("compare.svg");
    std::fs::write(&compare, chart::compare(&rows, l.is_some())).map_err(|e| format!("{}: {e}", compare.display()))?;
    println!(
        "\nxtask: results written to {}, the charts to {} (cost under load) and {} (against Linux and seL4)",
        out.display(),
        chart.display(),
        compare.display()
    );
    Ok(if flat { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
        let now: BTreeMap<String, Figure> = [("a".into(), f(102)), ("b".into(), f(103))].into();
        let r = regressions(&recorded, &now, MARGIN);
        assert_eq!(r, vec![("b".into(), 100, Some(103)), ("c".into(), 100, None)], "2% passes, 3% fails");
    }

    fn figures(pairs: &[(&str, u64)]) -> BTreeMap<String, Figure> {
        pairs.iter().map(|&(k, m)| (k.to_string(), Figure { median: m, min: m, max: m })).collect()
    }

    #[test]
    fn rows_are_named_as_benchmarks_md_names_them() {
        assert_eq!(name_of("null_syscall"), "null system call (gettid)");
        assert_eq!(name_of("something_new"), "something_new", "an unnamed key shows as itself");
        let doc = std::fs::read_to_string(build::root().join("BENCHMARKS.md")).expect("BENCHMARKS.md");
        for (key, name) in NAMES {
            assert!(doc.contains(name), "BENCHMARKS.md has no row {name:?} ({key})");
        }
        for f in FAMILIES {
            assert!(f.points.iter().all(|(_, k)| NAMES.iter().any(|(n, _)| n == k)), "{} is named", f.title);
        }
    }

    #[test]
    fn changes_against_the_baseline() {
        assert_eq!(change(102, Some(100)), "+2.0%");
        assert_eq!(change(99, Some(100)), "-1.0%");
        assert_eq!(change(5, None), "new");
    }

    #[test]
    fn a_family_is_flat_only_within_the_bound() {
        let mut pairs: Vec<(&str, u64)> =
            FAMILIES.iter().flat_map(|f| f.points.iter().map(|(_, k)| (*k, 1000))).collect();
        let r = flatness(&figures(&pairs));
        assert!(r.iter().all(|(_, x)| *x == Some(1.0)));
        pairs[1].1 = 1151; // the second point of the first family
        let r = flatness(&figures(&pairs));
        assert!(r[0].1.is_some_and(|x| x > FLATNESS) && r[1].1 == Some(1.0));
        pairs.pop();
        assert_eq!(flatness(&figures(&pairs)).last().map(|(_, x)| *x), Some(None), "a missing point");
    }

    #[test]
    fn the_load_chart_has_a_line_per_family() {
        let pairs: Vec<(&str, u64)> =
            FAMILIES.iter().flat_map(|f| f.points.iter().map(|(n, k)| (*k, 3000 + *n as u64))).collect();
        let svg = chart::load(&figures(&pairs));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), FAMILIES.len());
        assert!(svg.contains(">3128<"), "points are labelled with their medians");
    }

    #[test]
    fn the_comparison_chart_has_a_bar_per_figure() {
        let m = figures(&[
            ("null_syscall", 196),
            ("fastpath_call_cross_as", 1423),
            ("one_way_call_cross_as", 572),
            ("one_way_reply_wait_cross_as", 611),
        ]);
        let l = figures(&[("null_syscall", 323), ("pipe_round_trip_8b", 10569)]);
        let rows = compared(&m, Some(&l));
        let kernel_only = rows.iter().find(|(c, _)| c.moroso.len() == 2).expect("the kernel-only round trip");
        assert_eq!(kernel_only.1, [Some(1183), None, Some(415)], "Moroso's two halves summed, beside seL4's");
        let bars = rows.iter().flat_map(|(_, v)| v.iter().flatten()).count();
        assert_eq!(bars, 2 + 2 + 2 + 2 + 2, "a bar for every figure present, none for those missing");
        let svg = chart::compare(&rows, true);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=\"330\"").count(), bars);
        for label in [">1,183<", ">10,569<", ">415<", ">194<"] {
            assert!(svg.contains(label), "bars are labelled with their figures: {label}");
        }
        assert_eq!(chart::thousands(1234567), "1,234,567");
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
