//! `cargo xtask trace [--app PATH ...] [--timeout SECS] [--append ARGS]`: boots a kernel
//! built with its `trace` feature, reads the trace it prints at power-off (the
//! `abi::trace` line protocol) and writes `target/trace/trace.json` (Trace Event Format,
//! for Perfetto and chrome://tracing) and `target/trace/trace.svg` (a sequence diagram).
//!
//! The tracing kernel is built into its own target directory (`target/trace/kernel`), so
//! switching between traced and ordinary runs rebuilds neither. The run uses
//! `-icount shift=0`: a record's time is then the guest instructions retired since boot,
//! the same every run.

mod json;
mod svg;

use crate::build::{self, kernel_cargo, target_dir};
use crate::image;
use crate::qemu;
use crate::setup::{run_visible, TARGET};
use abi::trace::{Kind, Line, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// `cargo xtask trace`, as `cargo xtask --help` lists it.
pub const COMMAND: crate::cli::Command = crate::cli::Command {
    name: "trace",
    args: "[--app PATH ...] [--timeout SECS] [--append ARGS]",
    summary: "boot with kernel tracing; write target/trace/trace.json and trace.svg",
    options: &[
        ("--app PATH", "boot the ELF at PATH (repeat for more programs); without it, the default image"),
        ("--timeout SECS", "kill QEMU and fail after SECS seconds (default 120)"),
        ("--append ARGS", "extra kernel command-line arguments"),
    ],
    about: || {
        "Boots a kernel built with tracing (the `trace` feature) under -icount shift=0, and writes
what it recorded of IPC and scheduling to
  target/trace/trace.json  Trace Event Format: open it in Perfetto (ui.perfetto.dev) or
                           chrome://tracing; one track per thread, arrows from send to
                           receive to reply
  target/trace/trace.svg   a sequence diagram of the first events, for a browser"
            .into()
    },
    run: command,
};

/// Where the files go.
pub fn out_dir() -> PathBuf {
    target_dir().join("trace")
}

/// Options of `cargo xtask trace`.
#[derive(Debug, Default, PartialEq)]
pub struct Options {
    pub apps: Vec<PathBuf>,
    pub timeout: Option<Duration>,
    pub append: String,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("trace: {name} needs a value"));
        match a.as_str() {
            "--app" => o.apps.push(value("--app")?.into()),
            "--append" => o.append = value("--append")?,
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v.parse().map_err(|_| format!("--timeout: {v:?} is not a number of seconds"))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    return Err(format!("--timeout must be positive, got {v}"));
                }
                o.timeout = Some(Duration::from_secs_f64(secs));
            }
            other => return Err(format!("trace: unknown option {other:?} (see `cargo xtask trace --help`)")),
        }
    }
    Ok(o)
}

/// `cargo xtask trace ARGS`.
pub fn command(args: &[String]) -> Result<ExitCode, String> {
    let o = parse(args)?;
    let (outcome, files) = run(&o, true)?;
    eprintln!("xtask: wrote {} and {}", files.json.display(), files.svg.display());
    Ok(if matches!(outcome.end, qemu::End::Guest(abi::report::GuestExit::Success)) {
        ExitCode::SUCCESS
    } else {
        eprintln!("xtask: the traced run did not end cleanly ({:?}); the trace shows it up to the end", outcome.end);
        ExitCode::FAILURE
    })
}

/// The files one trace run wrote.
pub struct Files {
    pub json: PathBuf,
    pub svg: PathBuf,
}

/// Builds, boots, and writes both files; the boot's outcome (its console without the
/// trace lines) and where the files are.
pub fn run(o: &Options, echo: bool) -> Result<(qemu::Outcome, Files), String> {
    for app in &o.apps {
        image::validate(app)?;
    }
    crate::setup::ensure_all()?;
    // The same images `cargo xtask run` boots: one program alone, several with init and
    // the name server, or the default system.
    let initrd = build::boot_image(&o.apps)?.image;
    let kernel = build_kernel()?;
    let cfg = qemu::Config {
        kernel,
        initrd: Some(initrd),
        append: o.append.clone(),
        accel: qemu::Accel::Tcg,
        icount: true,
        timeout: Some(o.timeout.unwrap_or(Duration::from_secs(120))),
        echo,
        input: Vec::new(),
    };
    eprintln!("xtask: booting the tracing kernel in QEMU ({})", cfg.describe());
    let mut outcome = qemu::run(&cfg)?;
    let trace = Trace::from_lines(outcome.lines.iter().map(String::as_str))?;
    outcome.lines.retain(|l| Line::parse(l).is_none());
    let files = write_files(&trace, &out_dir())?;
    Ok((outcome, files))
}

/// Builds the kernel with tracing into its own target directory; the ELF's path.
fn build_kernel() -> Result<PathBuf, String> {
    let dir = out_dir().join("kernel");
    eprintln!("xtask: building the tracing kernel (--features trace, into {})", dir.display());
    run_visible(kernel_cargo().env("CARGO_TARGET_DIR", &dir).args([
        "build",
        "--release",
        "--target",
        TARGET,
        "-p",
        "moroso-kernel",
        "--features",
        "trace",
    ]))?;
    let elf = dir.join(TARGET).join("release").join("moroso-kernel");
    if elf.is_file() {
        Ok(elf)
    } else {
        Err(format!("the build finished but {} is missing", elf.display()))
    }
}

/// Writes `trace.json` and `trace.svg` for `trace` into `dir`.
pub fn write_files(trace: &Trace, dir: &Path) -> Result<Files, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let files = Files { json: dir.join("trace.json"), svg: dir.join("trace.svg") };
    let json = serde_json::to_string(&json::document(trace)).map_err(|e| format!("encoding the trace: {e}"))?;
    std::fs::write(&files.json, json).map_err(|e| format!("{}: {e}", files.json.display()))?;
    std::fs::write(&files.svg, svg::document(trace, svg::MAX_EVENTS))
        .map_err(|e| format!("{}: {e}", files.svg.display()))?;
    Ok(files)
}

/// What the kernel recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The kernel ring's size, in records.
    pub capacity: u64,
    /// Records overwritten in the ring before power-off (the oldest).
    pub dropped: u64,
    /// Task id → program name.
    pub names: BTreeMap<u32, String>,
    /// The records, oldest first.
    pub records: Vec<Record>,
}

impl Trace {
    /// Reads the trace out of a boot's console lines; an error if there is none or it was
    /// cut short (the kernel crashed or was killed before its dump ended).
    pub fn from_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Trace, String> {
        let mut trace = Trace::default();
        let (mut begun, mut ended) = (false, false);
        for line in lines {
            match Line::parse(line) {
                Some(Line::Begin { capacity, dropped, .. }) => {
                    // A second dump replaces the first (it cannot happen today).
                    trace = Trace { capacity, dropped, ..Trace::default() };
                    (begun, ended) = (true, false);
                }
                Some(Line::Task { id, name }) if begun => {
                    trace.names.insert(id, name.to_string());
                }
                Some(Line::Event(r)) if begun => trace.records.push(r),
                Some(Line::End) if begun => ended = true,
                _ => {}
            }
        }
        match (begun, ended) {
            (false, _) => {
                Err("the kernel printed no trace (was it built with the `trace` feature, and did it power off?)"
                    .to_string())
            }
            (true, false) => Err(format!(
                "the kernel's trace was cut short after {} records (it crashed or was killed while printing it)",
                trace.records.len()
            )),
            (true, true) => Ok(trace),
        }
    }

    /// The program name of task `task`.
    pub fn task_name(&self, task: u32) -> String {
        self.names.get(&task).cloned().unwrap_or_else(|| format!("task {task}"))
    }

    /// Every thread that has records, as (task, tid), ordered by task then tid.
    pub fn threads(&self) -> Vec<(u32, u32)> {
        let mut seen: Vec<(u32, u32)> = self.records.iter().filter(|r| r.tid != 0).map(|r| (r.task, r.tid)).collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    }

    /// `program/tid` for thread `tid` (the task found from its records).
    pub fn thread_label(&self, tid: u32) -> String {
        if tid == abi::ipc::KERNEL_TID {
            return "kernel".to_string();
        }
        match self.records.iter().find(|r| r.tid == tid) {
            Some(r) => format!("{}/{tid}", self.task_name(r.task)),
            None => format!("thread {tid}"),
        }
    }

    /// The first record's time: what the writers count from.
    pub fn start(&self) -> u64 {
        self.records.first().map_or(0, |r| r.time)
    }
}

/// Words for a record, for labels in both writers.
pub fn describe(trace: &Trace, r: &Record) -> String {
    let peer = trace.thread_label(r.peer);
    match r.kind() {
        Some(Kind::Send) => format!("{} #{} to {peer}", send_mode(r.detail), r.value),
        Some(Kind::Recv) if r.detail == abi::trace::RECV_INTERRUPT => format!("interrupt (IRQ {})", r.value),
        Some(Kind::Recv) => format!("receive #{} from {peer}", r.value),
        Some(Kind::Reply) if r.detail != 0 => format!("reply #{} to {peer}", r.value),
        Some(Kind::Reply) => format!("reply #{} to {peer} (not delivered)", r.value),
        Some(Kind::Block) => {
            let reason = abi::trace::BlockReason::try_from(r.detail).unwrap_or(abi::trace::BlockReason::Other);
            match r.peer {
                0 => reason.describe().to_string(),
                _ => format!("{} ({peer})", reason.describe()),
            }
        }
        Some(Kind::Wake) => match r.value as i64 {
            v if v < 0 => {
                let said = i32::try_from(v).ok().and_then(|c| abi::Error::try_from(c).ok());
                format!("woken: {}", said.map_or_else(|| v.to_string(), |e| e.name().to_string()))
            }
            v => format!("woken: {v}"),
        },
        Some(Kind::Run) => "runs".to_string(),
        Some(Kind::Idle) => "idle".to_string(),
        None => format!("unknown record kind {}", r.kind),
    }
}

/// `option_sync` in words.
fn send_mode(mode: u8) -> &'static str {
    match abi::ipc::SendMode::try_from(mode as u32) {
        Ok(abi::ipc::SendMode::Sync) => "call",
        Ok(abi::ipc::SendMode::SyncNoReply) => "send (no reply)",
        Ok(abi::ipc::SendMode::Async) => "async send",
        Err(_) => "send",
    }
}

/// Test material shared by the writers' tests: a small client/server run.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;

    pub fn rec(time: u64, kind: Kind, tid: u32, task: u32, peer: u32, value: u64, detail: u8) -> Record {
        Record { time, kind: kind as u8, detail, tid, task, peer, value }
    }

    /// Client 1 (task 1) calls server 2 (task 2) twice (the first while it is receiving,
    /// the second queued), then sends it an asynchronous message.
    pub fn client_server() -> Trace {
        use abi::trace::BlockReason as B;
        use Kind::*;
        let sync = abi::ipc::SendMode::Sync as u8;
        let records = vec![
            rec(1000, Run, 2, 2, 0, 0, 0),
            rec(1100, Block, 2, 2, 0, 0, B::Receive as u8),
            rec(1150, Idle, 0, 0, 0, 0, 0),
            rec(1200, Run, 1, 1, 0, 0, 0),
            rec(1300, Send, 1, 1, 2, 1, sync),
            rec(1310, Recv, 2, 2, 1, 1, 0),
            rec(1320, Wake, 2, 2, 0, 0, 0),
            rec(1330, Block, 1, 1, 2, 0, B::Reply as u8),
            rec(1340, Run, 2, 2, 0, 0, 0),
            rec(1400, Reply, 2, 2, 1, 1, 1),
            rec(1410, Wake, 1, 1, 0, 0, 0),
            rec(1420, Run, 1, 1, 0, 0, 0),
            rec(1500, Send, 1, 1, 2, 2, sync),
            rec(1510, Block, 1, 1, 2, 0, B::Send as u8),
            rec(1520, Run, 2, 2, 0, 0, 0),
            rec(1600, Recv, 2, 2, 1, 2, 0),
            rec(1700, Reply, 2, 2, 1, 2, 1),
            rec(1710, Wake, 1, 1, 0, 0, 0),
            rec(1800, Recv, 2, 2, 0, 4, abi::trace::RECV_INTERRUPT),
            rec(1900, Run, 1, 1, 0, 0, 0),
            rec(2000, Send, 1, 1, 2, 3, abi::ipc::SendMode::Async as u8),
        ];
        let names = [(1, "client".to_string()), (2, "server".to_string())].into_iter().collect();
        Trace { capacity: 8192, dropped: 0, names, records }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(trace: &Trace) -> Vec<String> {
        let mut lines =
            vec!["boot chatter".to_string(), format!("moroso-trace begin {} 21 {}", trace.capacity, trace.dropped)];
        for (id, name) in &trace.names {
            lines.push(format!("moroso-trace task {id} {name}"));
        }
        for r in &trace.records {
            lines.push(format!("moroso-trace ev {}", String::from_utf8(r.to_hex().to_vec()).unwrap()));
        }
        lines.push("moroso-trace end".to_string());
        lines.push("moroso: power off, status 0".to_string());
        lines
    }

    #[test]
    fn a_dump_is_read_back_whole() {
        let want = sample::client_server();
        let lines = lines_of(&want);
        assert_eq!(Trace::from_lines(lines.iter().map(String::as_str)), Ok(want));
    }

    #[test]
    fn a_missing_or_cut_dump_is_an_error() {
        let no_trace = Trace::from_lines(["hello", "moroso: power off, status 0"]).unwrap_err();
        assert!(no_trace.contains("no trace"), "{no_trace}");
        let lines = lines_of(&sample::client_server());
        let cut = Trace::from_lines(lines[..6].iter().map(String::as_str)).unwrap_err();
        assert!(cut.contains("cut short after 2 records"), "{cut}");
    }

    #[test]
    fn threads_are_labelled_with_their_program() {
        let t = sample::client_server();
        assert_eq!(t.threads(), [(1, 1), (2, 2)]);
        assert_eq!(t.thread_label(2), "server/2");
        assert_eq!(t.thread_label(0), "kernel");
        assert_eq!(t.thread_label(9), "thread 9");
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["--app", "a", "--app", "b", "--timeout", "5"].iter().map(|s| s.to_string()).collect();
        let o = parse(&args).unwrap();
        assert_eq!(o.apps, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(o.timeout, Some(Duration::from_secs(5)));
        assert!(parse(&["--bogus".to_string()]).is_err());
        assert!(parse(&["--app".to_string()]).is_err());
    }
}
