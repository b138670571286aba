//! `cargo xtask test`: every test, in order, with one summary at the end.
//!
//! Steps: lints (rustfmt, clippy on host and bare-metal builds), host unit tests
//! (`cargo test`), then in QEMU the kernel self-tests and the crash-report checks. Every
//! step runs even if an earlier one failed (except what cannot run without a kernel), so
//! one run shows every problem. The command fails if anything failed.

use crate::build::{self, cargo};
use crate::qemu::{self, Accel, End, Outcome};
use crate::setup::{self, TARGET};
use abi::report::{GuestExit, TestLine};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Per-boot limit. A boot with the self-tests takes a few seconds under TCG; the margin is
/// for slow, loaded machines. A hang is still caught well within CI's budget.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The result of one step.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StepResult {
    pub passed: u32,
    pub failed: u32,
    /// One line per failure, naming the case and why.
    pub problems: Vec<String>,
    /// Why the step did not run at all (it then neither passes nor fails).
    pub skipped: Option<String>,
}

impl StepResult {
    fn failure(p: String) -> Self {
        let mut r = StepResult::default();
        r.problem(p);
        r
    }

    fn problem(&mut self, p: impl Into<String>) {
        self.failed += 1;
        self.problems.push(p.into());
    }
}

struct Step {
    /// Short name for `cargo xtask test --only KEY`.
    key: &'static str,
    title: &'static str,
    run: fn(&mut Ctx) -> StepResult,
}

#[derive(Default)]
struct Ctx {
    built: Option<Result<build::Built, String>>,
}

impl Ctx {
    fn built(&mut self) -> Result<build::Built, String> {
        self.built.get_or_insert_with(build::all).clone()
    }
}

const STEPS: &[Step] = &[
    Step { key: "lints", title: "lints (rustfmt, clippy, rustdoc)", run: lints },
    Step { key: "host", title: "host unit tests (cargo test)", run: host_tests },
    Step { key: "selftest", title: "kernel self-tests in QEMU", run: kernel_selftests },
    Step { key: "crash", title: "kernel crash reports in QEMU", run: crash_reports },
    Step { key: "faults", title: "user fault reports in QEMU", run: user_faults },
    Step { key: "usertest", title: "userland system calls in QEMU", run: userland },
    Step { key: "ipc", title: "IPC in QEMU", run: ipc },
    Step { key: "typed", title: "typed IPC (libsys::ipc) in QEMU", run: typed_ipc },
    Step { key: "nohandoff", title: "IPC again, without the direct switch", run: ipc_without_handoff },
    Step { key: "sync", title: "userland locks (libsys::sync) in QEMU", run: sync_locks },
    Step { key: "irq", title: "interrupts and I/O grants in QEMU", run: interrupts },
    Step { key: "console", title: "user-level console and shell in QEMU", run: console },
    Step { key: "system", title: "the system: names, files, supervision, shell scripts", run: system },
    Step { key: "fuzz", title: "system-call fuzzer in QEMU (fresh seed)", run: fuzz_step },
    Step { key: "debug", title: "in-QEMU suites again, debug assertions on", run: with_debug_assertions },
    Step { key: "contract", title: "external contract (project checkout)", run: contract },
    Step { key: "bench", title: "benchmark regressions (-icount)", run: bench_regressions },
    Step { key: "runner", title: "runner contract (cargo xtask run)", run: runner },
    Step { key: "new", title: "new program (cargo xtask new)", run: new_program },
    Step { key: "gdb", title: "gdb sessions (cargo xtask gdb)", run: gdb_session },
    Step { key: "trace", title: "kernel tracing (cargo xtask trace)", run: trace_run },
];

/// The step keys `--only` accepts, for help texts.
pub fn step_keys() -> Vec<&'static str> {
    STEPS.iter().map(|s| s.key).collect()
}

/// Runs every step, or only those whose keys are in `only`.
pub fn run_all(only: Option<&[String]>) -> Result<ExitCode, String> {
    if let Some(only) = only {
        if let Some(bad) = only.iter().find(|k| !STEPS.iter().any(|s| s.key == k.as_str())) {
            return Err(format!("--only: no step {bad:?} (steps: {})", step_keys().join(", ")));
        }
    }
    let steps: Vec<&Step> = STEPS.iter().filter(|s| only.is_none_or(|o| o.iter().any(|k| k == s.key))).collect();
    setup::ensure_all()?;
    let started = Instant::now();
    let mut ctx = Ctx::default();
    let mut results = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        eprintln!("\n==> [{}/{}] {}", i + 1, steps.len(), step.title);
        let t = Instant::now();
        let r = (step.run)(&mut ctx);
        eprintln!("==> {}: {} passed, {} failed ({:.1} s)", step.title, r.passed, r.failed, t.elapsed().as_secs_f64());
        results.push((step.title, r));
    }

    println!("\nxtask test: results ({:.0} s)", started.elapsed().as_secs_f64());
    let (mut passed, mut failed) = (0, 0);
    for (title, r) in &results {
        match &r.skipped {
            Some(why) => println!("  {title:<40} skipped: {why}"),
            None => println!("  {title:<40} {} passed, {} failed", r.passed, r.failed),
        }
        for p in &r.problems {
            println!("      FAILED: {p}");
        }
        passed += r.passed;
        failed += r.failed;
    }
    println!("total: {passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn lints(_: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    if let Err(e) = setup::ensure_lint_tools() {
        r.problem(format!("lint tools unavailable: {e}"));
        return r;
    }
    let checks: [(&str, &[&str]); 4] = [
        ("rustfmt", &["fmt", "--all", "--check"]),
        (
            "clippy (host)",
            &["clippy", "--workspace", "--exclude", "moroso-apps", "--all-targets", "--quiet", "--", "-D", "warnings"],
        ),
        (
            "clippy (bare metal: kernel, its core, libsys, apps)",
            &[
                "clippy",
                "-p",
                "moroso-kernel",
                "-p",
                "moroso-kernel-core",
                "-p",
                "libsys",
                "-p",
                "moroso-apps",
                "--target",
                TARGET,
                "--release",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ],
        ),
        (
            "clippy (bare metal: the tracing kernel and its core)",
            &[
                "clippy",
                "-p",
                "moroso-kernel",
                "-p",
                "moroso-kernel-core",
                "--features",
                "trace",
                "--target",
                TARGET,
                "--release",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ],
        ),
    ];
    for (name, args) in checks {
        eprintln!("xtask: cargo {}", args.join(" "));
        match cargo().args(args).status() {
            Ok(s) if s.success() => r.passed += 1,
            Ok(s) => r.problem(format!("{name}: cargo {} exited with {s}", args.join(" "))),
            Err(e) => r.problem(format!("{name}: cannot run cargo: {e}")),
        }
    }
    // The public crates' documentation: every item documented (`deny(missing_docs)` in
    // each), every intra-doc link resolving. Then the kernel's (its portable core on the
    // host, the kernel for its own target): every intra-doc link resolving.
    let docs: [&[&str]; 3] = [
        &["doc", "--no-deps", "--quiet", "-p", "abi", "-p", "moroso-derive", "-p", "libsys"],
        &["doc", "--no-deps", "--quiet", "-p", "moroso-kernel-core"],
        &["doc", "--no-deps", "--quiet", "-p", "moroso-kernel", "--target", "x86_64-unknown-none"],
    ];
    for doc in docs {
        eprintln!("xtask: RUSTDOCFLAGS=\"-D warnings\" cargo {}", doc.join(" "));
        match cargo().args(doc).env("RUSTDOCFLAGS", "-D warnings").status() {
            Ok(s) if s.success() => r.passed += 1,
            Ok(s) => r.problem(format!("rustdoc: cargo {} exited with {s}", doc.join(" "))),
            Err(e) => r.problem(format!("rustdoc: cannot run cargo: {e}")),
        }
    }
    r
}

fn host_tests(_: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    // The workspace's host crates, then libsys's documentation examples (libsys is a
    // bare-metal crate, not a default member, but its typed-IPC examples build anywhere).
    for args in [&["test"][..], &["test", "-p", "libsys", "--doc"][..]] {
        cargo_test(args, &mut r);
    }
    r
}

fn cargo_test(args: &[&str], r: &mut StepResult) {
    eprintln!("xtask: cargo {}", args.join(" "));
    let child = cargo().args(args).stdout(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            r.problem(format!("cannot run cargo test: {e}"));
            return;
        }
    };
    let mut counted = StepResult::default();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
        println!("{line}");
        count_cargo_test_line(&line, &mut counted);
    }
    let ok = child.wait().is_ok_and(|s| s.success());
    r.passed += counted.passed;
    r.failed += counted.failed;
    r.problems.extend(counted.problems);
    if !ok && counted.failed == 0 {
        r.problem(format!("cargo {} failed before running tests (see the build errors above)", args.join(" ")));
    }
}

/// Counts a `cargo test` output line: `test NAME ... FAILED` names a failure, and
/// `test result: ...` lines carry the counts.
pub fn count_cargo_test_line(line: &str, r: &mut StepResult) {
    if let Some(name) = line.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... FAILED")) {
        r.problems.push(format!("host test {name}"));
    }
    let Some(rest) = line.strip_prefix("test result: ") else { return };
    let count = |what: &str| -> u32 {
        rest.split(';')
            .find_map(|part| part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(what))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    r.passed += count(" passed");
    r.failed += count(" failed");
}

/// Boots the kernel with `append` on its command line and the named programs as its boot
/// image (none: no image).
fn boot(ctx: &mut Ctx, append: &str, timeout: Duration, programs: &[&str]) -> Result<Outcome, String> {
    boot_typing(ctx, append, timeout, programs, Vec::new())
}

/// [`boot`], typing each `input` entry's bytes into the guest's serial port once the
/// console shows a line containing its text (after the previous entry was typed).
fn boot_typing(
    ctx: &mut Ctx,
    append: &str,
    timeout: Duration,
    programs: &[&str],
    input: Vec<(String, Vec<u8>)>,
) -> Result<Outcome, String> {
    let built = ctx.built()?;
    let initrd = if programs.is_empty() { None } else { Some(built.image(programs[0], programs)?) };
    let cfg = qemu::Config {
        kernel: built.kernel.clone(),
        initrd,
        append: append.to_string(),
        accel: Accel::Tcg,
        icount: false,
        timeout: Some(timeout),
        echo: true,
        input,
    };
    eprintln!("xtask: booting the kernel ({})", cfg.describe());
    qemu::run(&cfg)
}

/// Boots user program `program` as the only program (kernel command line `append`) and
/// judges the suite it prints.
fn suite(ctx: &mut Ctx, program: &str, append: &str) -> StepResult {
    let label = if append.is_empty() { program.to_string() } else { format!("{program} ({append})") };
    match boot(ctx, append, BOOT_TIMEOUT, &[program]) {
        Ok(outcome) => judge_suite(&label, &outcome),
        Err(e) => StepResult::failure(format!("{label} could not run: {e}")),
    }
}

fn kernel_selftests(ctx: &mut Ctx) -> StepResult {
    match boot(ctx, "selftest", BOOT_TIMEOUT, &[]) {
        Ok(outcome) => judge_suite("kernel", &outcome),
        Err(e) => StepResult::failure(format!("kernel self-tests could not run: {e}")),
    }
}

/// Judges an in-guest suite from its console and ending. A suite passes only if it printed
/// its summary, the summary agrees with the case lines, no case is reported twice, and the
/// kernel powered off with the matching status.
pub fn judge_suite(suite: &str, o: &Outcome) -> StepResult {
    let mut r = StepResult::default();
    let mut seen = BTreeSet::new();
    let mut summary = None;
    for line in &o.lines {
        match TestLine::parse(line) {
            Some(TestLine::Ok(name)) => {
                if !seen.insert(name.to_string()) {
                    r.problem(format!("{suite}: {name} reported twice"));
                }
                r.passed += 1;
            }
            Some(TestLine::Fail { name, reason }) => {
                if !seen.insert(name.to_string()) {
                    r.problems.push(format!("{suite}: {name} reported twice"));
                }
                r.problem(format!("{suite}: {name}: {reason}"));
            }
            Some(TestLine::Summary { passed, failed }) => summary = Some((passed, failed)),
            None => {}
        }
    }
    let case_failures = r.problems.len() as u32;
    match summary {
        None => r.problem(format!("{suite}: the suite did not finish ({})", describe_end(o.end))),
        Some((p, f)) if (p, f) != (r.passed, case_failures) => r.problem(format!(
            "{suite}: summary says {p} passed, {f} failed, but {} passed and {case_failures} failed were reported",
            r.passed
        )),
        Some(_) => {
            let expected = if case_failures == 0 { GuestExit::Success } else { GuestExit::Failure };
            if o.end != End::Guest(expected) {
                r.problem(format!("{suite}: finished, but then {}", describe_end(o.end)));
            }
        }
    }
    r
}

fn describe_end(end: End) -> String {
    match end {
        End::Guest(GuestExit::Success) => "the kernel powered off normally".into(),
        End::Guest(GuestExit::Failure) => "the kernel powered off with a failure status".into(),
        End::Guest(GuestExit::KernelPanic) => "the kernel crashed".into(),
        End::Timeout(t) => format!("it timed out after {} s", t.as_secs()),
        End::Unexpected(code) => format!("QEMU exited with {code:?} without a kernel power-off (triple fault?)"),
    }
}

/// User programs that fault on purpose (`apps/src/bin/faults.rs`): each ends only its own
/// task, and the console names the program, the function and `file:line` (added by the
/// runner from the program's DWARF), a stack overflow as such, and the status in words.
fn user_faults(ctx: &mut Ctx) -> StepResult {
    let o = match boot(ctx, "", BOOT_TIMEOUT, &["faults"]) {
        Ok(o) => o,
        Err(e) => return StepResult::failure(format!("faults could not run: {e}")),
    };
    let mut r = judge_suite("faults", &o);
    let expect: [(&str, &[&str]); 5] = [
        ("a null read names the program and the fault", &["(faults) thread", "killed: #PF page fault at user rip 0x"]),
        ("a null read names its function and line", &["  at faults::read_through (apps/src/bin/faults.rs:"]),
        ("a stack overflow is named as such", &["stack overflow: the address is in the unmapped guard page"]),
        ("statuses are said in words", &["(faults) ends with status -1014 (killed by #PF page fault)"]),
        ("a panic names its task and status", &["(faults) ends with status -101 (the program panicked)"]),
    ];
    for (what, parts) in expect {
        if o.lines.iter().any(|l| parts.iter().all(|p| l.contains(p))) {
            r.passed += 1;
        } else {
            r.problem(format!("faults: {what}: no line with {parts:?}"));
        }
    }
    r
}

fn userland(ctx: &mut Ctx) -> StepResult {
    // `usertest-threads`: a copy of usertest with a larger thread share (`PROGRAM_SETTINGS`).
    match boot(ctx, "", BOOT_TIMEOUT, &["usertest", "usertest-threads=usertest"]) {
        Ok(outcome) => judge_suite("usertest", &outcome),
        Err(e) => StepResult::failure(format!("usertest could not run: {e}")),
    }
}

fn ipc(ctx: &mut Ctx) -> StepResult {
    suite(ctx, "ipctest", "")
}

/// The fast path's direct switch changes who runs next, never what a call returns: the IPC
/// suites must pass the same with it off.
fn ipc_without_handoff(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    for program in ["ipctest", "typedtest"] {
        let s = suite(ctx, program, "nohandoff");
        r.passed += s.passed;
        r.failed += s.failed;
        r.problems.extend(s.problems);
    }
    r
}

/// Bytes typed into the guest's serial port for `irqtest` (`a` + i % 26, as it expects).
const SERIAL_BURST: usize = 600;

fn interrupts(ctx: &mut Ctx) -> StepResult {
    let burst: Vec<u8> = (0..SERIAL_BURST).map(|i| b'a' + (i % 26) as u8).collect();
    let input = vec![("irqtest: ready for input".into(), burst)];
    match boot_typing(ctx, "", BOOT_TIMEOUT, &["irqtest", "irqnocap=irqtest"], input) {
        Ok(o) => judge_suite("irqtest", &o),
        Err(e) => StepResult::failure(format!("irqtest could not run: {e}")),
    }
}

/// What `cargo xtask run` gives a person at a terminal: the default image with
/// `interactive`, typed into through COM1. Every echo and answer below travels
/// keyboard → IRQ 4 → console server → shell → console server → COM1.
fn console(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    // Backspace must edit the line: "hellp" + DEL + "o" is "hello". Then a pasted line far
    // longer than anything buffers (the shell's line, the console server's input, the
    // shell's mailbox): it must be refused, or dropped with a mark, never hang the console;
    // once the shell has refused it, a normal command still works.
    let mut long: Vec<u8> = (0..LONG_LINE).map(|i| b'a' + (i % 26) as u8).collect();
    long.push(b'\r');
    // Line editing: Ctrl-U erases a line, Ctrl-C cancels one, arrow keys and Tab print no
    // escape bytes (Tab completes `ech` to `echo `).
    let input = vec![
        ("moroso shell".into(), b"echo hellp\x7fo\r".to_vec()),
        ("hello".into(), long),
        ("line too long".into(), b"junk\x15echo \x1b[A\x1b[Dkept\x03".to_vec()),
        ("^C".into(), b"ech\tagain\rbogus\rexit\r".to_vec()),
    ];
    let image = match build::default_image() {
        Ok(i) => i,
        Err(e) => {
            r.problem(format!("console: {e}"));
            return r;
        }
    };
    let image: Vec<&str> = image.iter().map(String::as_str).collect();
    let o = match boot_typing(ctx, "interactive", BOOT_TIMEOUT, &image, input) {
        Ok(o) => o,
        Err(e) => {
            r.problem(format!("console could not run: {e}"));
            return r;
        }
    };
    let expect = [
        ("the shell runs the edited line", "\nhello"),
        ("a line too long is refused", "line too long: "),
        ("Tab completes a command", "$ echo again"),
        ("a command after the long line is answered", "\nagain"),
        ("an unknown command is named", "unknown command: bogus"),
        ("exit ends the shell", "bye"),
        ("init sees the shell end", "init: shell exited with status 0"),
    ];
    // "\nX": a line that is exactly X (a command's output), else a line containing it.
    for (what, line) in expect {
        let found = match line.strip_prefix('\n') {
            Some(exact) => o.lines.iter().any(|l| l.trim() == exact),
            None => o.lines.iter().any(|l| l.contains(line)),
        };
        if found {
            r.passed += 1;
        } else {
            r.problem(format!("console: {what}: no line {line:?}"));
        }
    }
    // Ctrl-U, Ctrl-C and the arrow keys left nothing raw on the console, and `kept` was
    // cancelled, never run.
    let raw = o.lines.iter().find(|l| l.contains('\x1b') || l.contains('\t'));
    if let Some(l) = raw {
        r.problem(format!("console: raw escape bytes echoed: {l:?}"));
    } else {
        r.passed += 1;
    }
    if o.lines.iter().any(|l| l.trim() == "hellokept" || l.contains("unknown command: junk")) {
        r.problem("console: a cancelled or erased line was run".to_string());
    } else {
        r.passed += 1;
    }
    if o.end == End::Guest(GuestExit::Success) {
        r.passed += 1;
    } else {
        r.problem(format!("console: {}", describe_end(o.end)));
    }
    r
}

/// Bytes of the long line the `console` step pastes: far past every buffer on the way.
const LONG_LINE: usize = 8192;

/// Calls the `fuzz` step makes, each run from a fresh seed (printed for `--seed`).
const FUZZ_CALLS: u64 = 100_000;

/// The steps [`with_debug_assertions`] runs again.
const DEBUG_STEPS: &[&str] = &["selftest", "usertest", "ipc", "typed", "nohandoff", "sync", "irq", "system", "fuzz"];

/// The in-QEMU suites of [`DEBUG_STEPS`] again, with the kernel and the programs built with
/// debug assertions and overflow checks on: the kernel's `debug_assert!`s (the invariants
/// its hot paths rely on without testing them in release builds) and core's own checks of
/// unsafe preconditions then run on the real machine, not only in the host tests. Built in
/// a target directory of its own (`debug-assertions` inside the usual one), so that neither
/// build undoes the other; the variables are set for this step only (the steps run one at
/// a time, and nothing else runs meanwhile).
fn with_debug_assertions(_: &mut Ctx) -> StepResult {
    let dir = build::target_dir().join("debug-assertions");
    let vars: [(&str, &std::ffi::OsStr); 3] = [
        ("CARGO_TARGET_DIR", dir.as_os_str()),
        ("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true".as_ref()),
        ("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true".as_ref()),
    ];
    let saved: Vec<(&str, Option<std::ffi::OsString>)> = vars.iter().map(|(k, _)| (*k, std::env::var_os(k))).collect();
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let mut ctx = Ctx::default();
    let mut r = StepResult::default();
    for step in STEPS.iter().filter(|s| DEBUG_STEPS.contains(&s.key)) {
        eprintln!("--> {}, debug assertions on", step.title);
        let s = (step.run)(&mut ctx);
        r.passed += s.passed;
        r.failed += s.failed;
        r.problems.extend(s.problems.into_iter().map(|p| format!("{}: {p}", step.key)));
    }
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    r
}

fn fuzz_step(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let o = crate::fuzz::Options { calls: FUZZ_CALLS, seed: crate::fuzz::fresh_seed(), all_attacks: false };
    eprintln!("xtask: fuzz seed {} (replay: cargo xtask fuzz --seed {} --calls {})", o.seed, o.seed, o.calls);
    match ctx.built().and_then(|b| crate::fuzz::boot(&b, &o)) {
        Ok(out) => match crate::fuzz::judge(&o, &out) {
            Ok(_) => r.passed += 1,
            Err(problems) => problems.into_iter().for_each(|p| r.problem(format!("fuzz: {p}"))),
        },
        Err(e) => r.problem(format!("fuzz could not run: {e}")),
    }
    r
}

/// The Moroso system: `systest` under init with the name and file servers (the manifest's
/// limits and boot policy, `ps`, names, files, a restart), then `cargo xtask run` as a user
/// runs it: a shell script on stdin, and several programs booted together with `--app`.
fn system(ctx: &mut Ctx) -> StepResult {
    let mut r = match boot(
        ctx,
        "",
        BOOT_TIMEOUT,
        &["init", "names", "fs", "systest", "syskill=systest", "faultyfs", "revconsole=console", "revshell=shell"],
    ) {
        Ok(outcome) => judge_suite("systest", &outcome),
        Err(e) => StepResult::failure(format!("systest could not run: {e}")),
    };
    let script = "echo hi\nwrite a.txt x y\ncat a.txt\nls\nps\nrun hello\nbogus\nexit\n";
    // Each expected line must follow the one before it on the console.
    let expect: &[(&str, &str)] = &[
        ("the shell says it reads a script", abi::report::SCRIPT_READY),
        ("each line is shown", "> echo hi"),
        ("echo prints its words", "hi"),
        ("write is quiet", "> write a.txt x y"),
        ("cat prints the file written", "> cat a.txt"),
        ("  with its text and a newline", "x y"),
        ("ls lists files", "> ls"),
        ("  the packed README", "README.md"),
        ("  and the new file", "a.txt"),
        ("ps lists tasks", "> ps"),
        ("  with the shell", "shell"),
        ("  and threads", "TID"),
        ("run starts a program of the image", "hello from task"),
        ("  and prints its status", "hello exited with status 0"),
        ("an unknown command is named", "unknown command: bogus"),
        ("exit says bye", "bye"),
        ("the system powers off with 0", "moroso: power off, status 0"),
    ];
    match run_xtask(&["run", "--timeout", "120"], None, script.as_bytes()) {
        Ok((code, text)) => {
            let mut lines = text.lines();
            for (what, want) in expect {
                if lines.any(|l| l.contains(want)) {
                    r.passed += 1;
                } else {
                    r.problem(format!("system: script: {what}: no line containing {want:?} where expected"));
                    break;
                }
            }
            if code == Some(0) {
                r.passed += 1;
            } else {
                r.problem(format!("system: script: cargo xtask run exited {code:?}, want 0"));
            }
        }
        Err(e) => r.problem(format!("system: script: {e}")),
    }
    // What a demanding user tries: every command with missing or wrong arguments gets its
    // usage line, a missing file is named, and what would leave the machine stuck or
    // mute (killing init, the shell itself or its console; a second copy of a program
    // init runs) is refused with the reason. Task ids are the boot order's (init 1,
    // names 2, console 3, fs 4, shell 5): `ps` in the script shows them if this changes.
    let script = "help me\nls -l\ncat\ncat a b\ncat nosuch.txt\nwrite\nwrite onlyname\nwrite a/b x\nrm\n\
                  rm nosuch.txt\nps x\nrun\nrun hello ten\nrun nosuch\nrun init\nrun shell\nkill\nkill ten\n\
                  kill 1\nkill 5\nkill 3\nexit now\nps\necho still here\nexit\n";
    let expect: &[(&str, &str)] = &[
        ("help with an argument", "usage: help: list the commands"),
        ("ls with an argument", "usage: ls: list the files"),
        ("cat without a file", "usage: cat FILE: print a file"),
        ("cat with two", "usage: cat FILE: print a file"),
        ("a missing file is named", "cat: nosuch.txt: no such file"),
        ("write without arguments", "usage: write FILE TEXT"),
        ("write without text", "usage: write FILE TEXT"),
        ("write with a bad name", "write: \"a/b\": invalid file name"),
        ("rm without a file", "usage: rm FILE: remove a file"),
        ("rm of a missing file is named", "rm: nosuch.txt: no such file"),
        ("ps with an argument", "usage: ps: list tasks and threads"),
        ("run without a program", "usage: run PROGRAM [ARG]"),
        ("run with a bad argument", "run: \"ten\" is not a number"),
        ("  and its usage", "usage: run PROGRAM [ARG]"),
        ("run of a missing program is named", "run: nosuch: no such program in the image"),
        ("a second init is refused", "run: init: refused: it is started at boot"),
        ("a second shell is refused", "run: shell: refused: it is started at boot"),
        ("kill without a task", "usage: kill TASK"),
        ("kill with a bad task", "kill: \"ten\" is not a task id"),
        ("killing init is refused", "kill: task 1: refused: it is init"),
        ("killing the shell is refused", "kill: task 5: refused: it is this shell; use exit"),
        ("killing the console is refused", "kill: task 3: refused: it is the console server"),
        ("exit with an argument", "usage: exit"),
        ("init, the shell and the console still run", " init"),
        ("the shell still answers", "still here"),
        ("exit says bye", "bye"),
        ("the system powers off with 0", "moroso: power off, status 0"),
    ];
    let image = match build::default_image() {
        Ok(i) => i,
        Err(e) => return failed_with(r, format!("system: {e}")),
    };
    let image: Vec<&str> = image.iter().map(String::as_str).collect();
    shell_script(ctx, &mut r, "bad input", &image, script, expect);
    // A file server that dies while the shell's request is pending (`faultyfs`, booted as
    // `fs`, ends inside the method for the file `die`): the request fails, the shell goes
    // on, init restarts the server and the next command finds the new one.
    let faulty: Vec<&str> = image.iter().map(|p| if *p == "fs" { "fs=faultyfs" } else { p }).collect();
    let script = "cat die\nls\ncat other\necho still here\nexit\n";
    let expect: &[(&str, &str)] = &[
        ("the server dies mid-request", "faultyfs: dying mid-request"),
        ("the request fails, named", "cat: die: the file server died during the request"),
        ("the shell goes on", "> ls"),
        ("the restarted server answers", "cat: other: no such file"),
        ("the shell still answers", "still here"),
        ("the system powers off with 0", "moroso: power off, status 0"),
    ];
    shell_script(ctx, &mut r, "a server dying mid-request", &faulty, script, expect);

    // Relative --app paths resolve from where the command runs.
    let release = build::target_dir().join(TARGET).join("release");
    let cases: &[(&str, &[&str], i32, &str)] = &[
        ("a server and a client find each other by name", &["pingserver", "pingclient"], 0, "it answered 42"),
        (
            "an interface served on one thread, called from another, then stopped",
            &["kvdemo"],
            0,
            "kvdemo: a call after the server stopped failed",
        ),
        ("a failing program is named", &["hello", "exit7"], 7, "xtask: program exit7 ended with status 7"),
    ];
    for (what, apps, want, says) in cases {
        let mut args = vec!["run", "--timeout", "120"];
        for a in apps.iter() {
            args.extend(["--app", a]);
        }
        match run_xtask(&args, Some(&release), b"") {
            Ok((code, text)) if code == Some(*want) && text.contains(says) => r.passed += 1,
            Ok((code, text)) => {
                let tail: Vec<&str> = text.lines().rev().take(4).collect();
                r.problem(format!(
                    "system: --app: {what}: exit {code:?} (want {want}), wanted {says:?}; ended {tail:?}"
                ))
            }
            Err(e) => r.problem(format!("system: --app: {what}: {e}")),
        }
    }
    r
}

fn failed_with(mut r: StepResult, problem: String) -> StepResult {
    r.problem(problem);
    r
}

/// Boots `image` with `script` typed into the shell as `cargo xtask run < script` types
/// it, and checks that each expected line follows the one before it on the console.
fn shell_script(ctx: &mut Ctx, r: &mut StepResult, what: &str, image: &[&str], script: &str, expect: &[(&str, &str)]) {
    let o = match boot_typing(ctx, "", BOOT_TIMEOUT, image, crate::system::script_typing(script)) {
        Ok(o) => o,
        Err(e) => return r.problem(format!("system: {what}: {e}")),
    };
    let untangled = untangle(&o.lines.join("\n"), INIT_REPORT, INIT_REPORT_HAS);
    let mut lines = untangled.lines();
    for (case, want) in expect {
        if lines.any(|l| l.contains(want)) {
            r.passed += 1;
        } else {
            r.problem(format!("system: {what}: {case}: no line containing {want:?} where expected"));
            return;
        }
    }
    if o.end == End::Guest(GuestExit::Success) {
        r.passed += 1;
    } else {
        r.problem(format!("system: {what}: {}", describe_end(o.end)));
    }
}

/// How init's reports start, and what each of them holds after that (`init: fs ended with
/// status 3; restarting it ...`, `init: shell exited with status 0`).
const INIT_REPORT: &str = "init: ";
const INIT_REPORT_HAS: &[&str] = &[" ended with status ", " exited with status "];

/// Moves every report (a line starting with `prefix` and holding one of `has`) that was
/// printed into the middle of another line back out, before the line it interrupted. The
/// shell writes through the user-level console driver, a byte at a time and preemptibly,
/// while init prints through the kernel, one whole line per call: such a line can land
/// inside a line of the shell's, whole.
fn untangle(text: &str, prefix: &str, has: &[&str]) -> String {
    let mut out = String::new();
    // The start of an interrupted line, whose rest is the next line.
    let mut head = String::new();
    for line in text.lines() {
        let line = format!("{head}{line}");
        head.clear();
        let report =
            line.match_indices(prefix).map(|(i, _)| i).find(|&i| i > 0 && has.iter().any(|h| line[i..].contains(h)));
        match report {
            Some(i) => {
                out.push_str(&line[i..]);
                head = line[..i].to_string();
            }
            None => out.push_str(&line),
        }
        out.push('\n');
    }
    if !head.is_empty() {
        out.push_str(&head);
        out.push('\n');
    }
    out
}

/// Runs `cargo xtask ARGS` (in `dir`, if given) with `stdin`; its exit code and its stdout
/// and stderr together.
fn run_xtask(args: &[&str], dir: Option<&Path>, stdin: &[u8]) -> Result<(Option<i32>, String), String> {
    use std::io::Write;
    eprintln!("xtask: cargo xtask {}", args.join(" "));
    let mut cmd = cargo();
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd
        .arg("xtask")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(stdin).map_err(|e| format!("stdin: {e}"))?;
    }
    let o = child.wait_with_output().map_err(|e| format!("cargo xtask: {e}"))?;
    Ok((o.status.code(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))))
}

fn sync_locks(ctx: &mut Ctx) -> StepResult {
    suite(ctx, "synctest", "")
}

fn typed_ipc(ctx: &mut Ctx) -> StepResult {
    suite(ctx, "typedtest", "")
}

/// Instruction counts under `-icount shift=0,sleep=off` are deterministic, so they can be
/// guarded closely: a median more than `bench::MARGIN` (2%) above its recorded figure
/// (`xtask/bench-baseline.txt`) fails.
fn bench_regressions(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let recorded = match crate::bench::baseline() {
        Ok(b) => b,
        Err(e) => {
            r.problem(format!("no recorded figures: {e}"));
            return r;
        }
    };
    let now = match ctx.built().and_then(|b| crate::bench::moroso(&b)) {
        Ok(m) => m,
        Err(e) => {
            r.problem(format!("the benchmarks did not run: {e}"));
            return r;
        }
    };
    let bad = crate::bench::regressions(&recorded, &now, crate::bench::MARGIN);
    r.passed = (recorded.len() - bad.len()) as u32;
    for (name, was, is) in bad {
        match is {
            Some(is) => r.problem(format!(
                "benchmark {name}: {is} instructions, recorded {was} ({})",
                crate::bench::change(is, Some(was))
            )),
            None => r.problem(format!("benchmark {name}: no longer measured (recorded {was})")),
        }
    }
    // IPC must cost the same however loaded the machine is (`bench::FAMILIES`).
    for (family, ratio) in crate::bench::flatness(&now) {
        match ratio {
            Some(x) if x <= crate::bench::FLATNESS => r.passed += 1,
            Some(x) => r.problem(format!("{}: the largest median is {x:.2}x the smallest", family.title)),
            None => r.problem(format!("{}: not measured", family.title)),
        }
    }
    r
}

/// The project's external contract check, when the project's checkout has its script
/// beside the clone (the path is in the body): it builds a program that uses every public
/// item with its exact type; then that program must also run. A clone on its own has no
/// such folder, and the step says it was skipped.
fn contract(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let script = build::root().join("../shared/contract/check.sh");
    if !script.is_file() {
        r.skipped = Some("no contract check beside this clone (only the project's own checkout has one)".into());
        return r;
    }
    eprintln!("xtask: bash {}", script.display());
    match std::process::Command::new("bash").arg(&script).current_dir(build::root()).status() {
        Ok(s) if s.success() => r.passed += 1,
        Ok(s) => {
            r.problem(format!("contract check failed ({s})"));
            return r;
        }
        Err(e) => {
            r.problem(format!("cannot run the contract check: {e}"));
            return r;
        }
    }
    let elf = build::root().join("target/contract-check").join(TARGET).join("release/contract");
    let built = match ctx.built() {
        Ok(b) => b,
        Err(e) => {
            r.problem(format!("contract program: no kernel: {e}"));
            return r;
        }
    };
    let outcome = build::single_program_image(&elf).and_then(|initrd| {
        qemu::run(&qemu::Config {
            kernel: built.kernel.clone(),
            initrd: Some(initrd),
            append: String::new(),
            accel: Accel::Tcg,
            icount: false,
            timeout: Some(BOOT_TIMEOUT),
            echo: true,
            input: Vec::new(),
        })
    });
    match outcome {
        Ok(o) if o.end == End::Guest(GuestExit::Success) && o.lines.iter().any(|l| l.contains("contract ok")) => {
            r.passed += 1
        }
        Ok(o) => r.problem(format!("the contract program did not run to status 0: {}", describe_end(o.end))),
        Err(e) => r.problem(format!("the contract program could not boot: {e}")),
    }
    r
}

/// `cargo xtask run` as a user runs it (the runner contract in the README): the default image boots; `--app`
/// boots one program and exits with its status; bad files are refused with one line.
fn runner(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let built = match ctx.built() {
        Ok(b) => b,
        Err(e) => {
            r.problem(format!("nothing to run: {e}"));
            return r;
        }
    };
    let scratch = build::target_dir().join("moroso");
    let _ = std::fs::create_dir_all(&scratch);
    let not_elf = scratch.join("not-an-elf.txt");
    let arm = scratch.join("aarch64.elf");
    let _ = std::fs::write(&not_elf, "plain text\n");
    let _ = std::fs::write(&arm, fake_elf(183));
    let path = |p: &Path| p.display().to_string();
    let main = "#![no_std]\n#![no_main]\n\nlibsys::entry!(main);\n\nfn main() -> i32 {\n    \
                libsys::println!(\"external: thread {}\", libsys::raw::gettid());\n    5\n}\n";
    let external = match build_external_program(&scratch, "external", main) {
        Ok(elf) => elf,
        Err(e) => {
            r.problem(format!("runner: an external program using only libsys did not build: {e}"));
            scratch.join("external-program-missing")
        }
    };
    // A newcomer's first program, without `entry!`: it must say what is missing.
    let main = "#![no_std]\n#![no_main]\n\n#[allow(dead_code)]\nfn main() -> i32 {\n    \
                libsys::println!(\"never printed\");\n    0\n}\n";
    let no_entry = match build_external_program(&scratch, "noentry", main) {
        Ok(elf) => elf,
        Err(e) => {
            r.problem(format!("runner: an external program without entry! did not build: {e}"));
            scratch.join("noentry-program-missing")
        }
    };
    let cases: Vec<(&str, Vec<String>, i32, &str)> = vec![
        ("--app runs an external libsys program", vec!["--app".into(), path(&external)], 5, "external: thread"),
        ("default image boots and runs an empty script", vec![], 0, "init: shell exited with status 0"),
        (
            "a program without entry! is refused, saying so",
            vec!["--app".into(), path(&no_entry)],
            2,
            "add `libsys::entry!(main);`",
        ),
        ("--app exits 0 with the program", vec!["--app".into(), path(&built.app("hello"))], 0, "hello from task"),
        ("--app passes the status on", vec!["--app".into(), path(&built.app("exit7"))], 7, "with status 7"),
        ("--app refuses a missing file", vec!["--app".into(), path(&scratch.join("missing"))], 2, "No such file"),
        ("--app refuses a non-ELF", vec!["--app".into(), path(&not_elf)], 2, "not an ELF file"),
        ("--app refuses another machine", vec!["--app".into(), path(&arm)], 2, "not x86-64"),
        (
            "--timeout kills a hang",
            vec!["--append".into(), "crash=hang".into(), "--timeout".into(), "3".into()],
            1,
            "timed out",
        ),
    ];
    for (what, args, code, says) in cases {
        eprintln!("xtask: cargo xtask run {}", args.join(" "));
        let out = cargo().args(["xtask", "run"]).args(&args).stdin(Stdio::null()).output();
        match out {
            Ok(o) => {
                let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
                let got = o.status.code();
                if got == Some(code) && text.contains(says) {
                    r.passed += 1;
                } else {
                    let tail: Vec<&str> = text.lines().rev().take(3).collect();
                    r.problem(format!(
                        "runner: {what}: exit {got:?} (want {code}), wanted {says:?}; ended with {tail:?}"
                    ));
                }
            }
            Err(e) => r.problem(format!("runner: {what}: cannot run cargo: {e}")),
        }
    }
    r
}

/// Runs `cargo xtask ARGS` (from the workspace root, stdin closed): (exit code, all output).
fn xtask(args: &[&str]) -> Result<(Option<i32>, String), String> {
    eprintln!("xtask: cargo xtask {}", args.join(" "));
    let o =
        cargo().arg("xtask").args(args).stdin(Stdio::null()).output().map_err(|e| format!("cannot run cargo: {e}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    print!("{text}");
    Ok((o.status.code(), text))
}

/// What a user does first: `cargo xtask new` into an empty temporary directory, plain
/// `cargo build --release --target x86_64-unknown-none` there, `cargo xtask run --app`.
/// A second `new` into the same place and a bad name must be refused, writing nothing.
fn new_program(_: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let tmp = std::env::temp_dir().join(format!("moroso-new-step-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let dir = tmp.join("firstprog");
    let dir_s = dir.display().to_string();
    fn check(r: &mut StepResult, what: &str, got: Result<(Option<i32>, String), String>, code: i32, says: &str) {
        match got {
            Ok((c, text)) if c == Some(code) && text.contains(says) => r.passed += 1,
            Ok((c, text)) => {
                let tail: Vec<&str> = text.lines().rev().take(3).collect();
                r.problem(format!("new: {what}: exit {c:?} (want {code}), wanted {says:?}; ended with {tail:?}"))
            }
            Err(e) => r.problem(format!("new: {what}: {e}")),
        }
    }
    check(
        &mut r,
        "creates the crate",
        xtask(&["new", "firstprog", "--path", &dir_s]),
        0,
        "created the program firstprog",
    );
    check(&mut r, "refuses an existing directory", xtask(&["new", "firstprog", "--path", &dir_s]), 2, "already exists");
    let bad = tmp.join("bad").display().to_string();
    check(&mut r, "refuses a bad name", xtask(&["new", "Bad Name", "--path", &bad]), 2, "cannot be a program name");
    // Plain cargo in the new crate; its own target directory stays in the temporary one, but
    // libsys's dependencies come from a cache kept between runs, so the step stays short.
    eprintln!("xtask: cargo build --release --target {TARGET} (in {dir_s})");
    let built = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", build::target_dir().join("new-program"))
        .args(["build", "--release", "--target", TARGET, "--quiet"])
        .status();
    let elf = build::target_dir().join("new-program").join(TARGET).join("release").join("firstprog");
    match built {
        Ok(s) if s.success() && elf.is_file() => {
            r.passed += 1;
            let elf = elf.display().to_string();
            let run = xtask(&["run", "--app", &elf]);
            check(&mut r, "runs with cargo xtask run --app", run.clone(), 0, "hello from firstprog");
            // `run --app` needs no program of this repository: it builds the kernel alone.
            check(&mut r, "run --app builds only the kernel", run, 0, "xtask: building the kernel (cargo build");
        }
        Ok(s) => r.problem(format!("new: the new crate did not build with plain cargo ({s})")),
        Err(e) => r.problem(format!("new: cannot run cargo: {e}")),
    }
    if !tmp.join("bad").exists() {
        r.passed += 1;
    } else {
        r.problem("new: a refused name still created its directory");
    }
    let _ = std::fs::remove_dir_all(&tmp);
    r
}

/// The kernel function the gdb step stops at: the portable kernel's functions are
/// generic over the platform, and named with it.
const KERNEL_BREAK: &str = "moroso_kernel_core::sys::calls::task_exit<moroso_kernel::arch::x86_64::platform::X86>";

/// `cargo xtask gdb` driven by a script: gdb must stop at a program's function (so the
/// program's symbols sit at the kernel's load address), print a backtrace through libsys
/// into the program's entry, and a kernel function's breakpoint must hit with the kernel's
/// symbols.
fn gdb_session(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let hello = match ctx.built() {
        Ok(b) => b.app("hello").display().to_string(),
        Err(e) => return StepResult::failure(format!("gdb: nothing to debug: {e}")),
    };
    let cases: [(&str, &[&str], &[&str]); 2] = [
        (
            "stops at a program function with a backtrace",
            &["--app", &hello, "--break", "hello::main", "--batch", "--ex", "bt"],
            &["Breakpoint 1, ", "hello::main () at apps/src/bin/hello.rs:", "in libsys::rt::start", "in _start ()"],
        ),
        (
            "stops at a kernel function",
            &["--app", &hello, "--break", KERNEL_BREAK, "--batch", "--ex", "bt"],
            // The function's first instruction may be inlined code: look for it in the backtrace.
            &["Breakpoint 1, ", "moroso_kernel_core::sys::calls::task_exit<", "kernel/core/src/sys/calls.rs:"],
        ),
    ];
    for (what, args, expect) in cases {
        let mut all = vec!["gdb"];
        all.extend_from_slice(args);
        match xtask(&all) {
            Ok((Some(0), text)) => match expect.iter().find(|e| !text.contains(*e)) {
                None => r.passed += 1,
                Some(missing) => r.problem(format!("gdb: {what}: the session did not print {missing:?}")),
            },
            Ok((code, _)) => r.problem(format!("gdb: {what}: cargo xtask gdb exited with {code:?}")),
            Err(e) => r.problem(format!("gdb: {what}: {e}")),
        }
    }
    r
}

/// Builds a program the way someone outside this repository would: a crate
/// whose only dependency is `libsys` by path, `cargo build --release --target
/// x86_64-unknown-none`, no linker script, no build script, no flags. Returns its ELF.
fn build_external_program(scratch: &Path, name: &str, main: &str) -> Result<std::path::PathBuf, String> {
    let dir = scratch.join(name);
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    let manifest = format!(
        "[package]\nname = {name:?}\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nlibsys = {{ path = {:?} }}\n\n\
         [profile.release]\npanic = \"abort\"\n[profile.dev]\npanic = \"abort\"\n\n[workspace]\n",
        build::root().join("libsys")
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("src/main.rs"), main).map_err(|e| e.to_string())?;
    let _ = std::fs::copy(build::root().join("rust-toolchain.toml"), dir.join("rust-toolchain.toml"));
    let target_dir = build::target_dir().join(name);
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["build", "--release", "--target", TARGET, "--quiet"])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cargo build in {} failed ({status})", dir.display()));
    }
    Ok(target_dir.join(TARGET).join("release").join(name))
}

/// The first bytes of an ELF header for `machine`: enough to be recognised and refused.
fn fake_elf(machine: u16) -> Vec<u8> {
    let mut v = vec![0u8; 64];
    v[..4].copy_from_slice(b"\x7fELF");
    v[4] = 2;
    v[5] = 1;
    v[16] = 3;
    v[18..20].copy_from_slice(&machine.to_le_bytes());
    v
}

/// A deliberate crash (`crash=WHAT` on the kernel command line), how the runner must see it
/// end, and what the console must say.
struct Crash {
    what: &'static str,
    end: fn(End) -> bool,
    expect: &'static [&'static str],
    timeout: Duration,
}

const CRASHES: &[Crash] = &[
    Crash {
        what: "panic",
        end: |e| e == End::Guest(GuestExit::KernelPanic),
        expect: &["KERNEL PANIC: deliberate panic (crash=panic)", "at kernel/src/crash.rs:"],
        timeout: BOOT_TIMEOUT,
    },
    Crash {
        what: "pagefault",
        end: |e| e == End::Guest(GuestExit::KernelPanic),
        expect: &[
            "#PF page fault (vector 14) in kernel mode",
            "fault address (cr2) = 0x00000000deadb000: page not present, write, from kernel mode",
            "rip is in moroso_kernel::crash::deliberately",
        ],
        timeout: BOOT_TIMEOUT,
    },
    Crash {
        what: "overflow",
        end: |e| e == End::Guest(GuestExit::KernelPanic),
        expect: &["#DF double fault (vector 8)", "kernel stack overflow", "rip is in moroso_kernel::crash::recurse"],
        timeout: BOOT_TIMEOUT,
    },
    // The runner itself: a hang must end in a timeout, a triple fault as an unexpected exit.
    Crash {
        what: "hang",
        end: |e| matches!(e, End::Timeout(_)),
        expect: &["crash test: hang"],
        timeout: Duration::from_secs(5),
    },
    Crash {
        what: "triple",
        end: |e| matches!(e, End::Unexpected(_)),
        expect: &["crash test: triple"],
        timeout: BOOT_TIMEOUT,
    },
];

fn crash_reports(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    for c in CRASHES {
        match boot(ctx, &format!("crash={}", c.what), c.timeout, &[]) {
            Ok(o) => match judge_crash(&o, c.end, c.expect) {
                Ok(()) => r.passed += 1,
                Err(why) => r.problem(format!("crash={}: {why}", c.what)),
            },
            Err(e) => r.problem(format!("crash={}: could not boot: {e}", c.what)),
        }
    }
    r
}

/// A deliberate crash must end the way `end` accepts, and its report must contain `expect`.
fn judge_crash(o: &Outcome, end: fn(End) -> bool, expect: &[&str]) -> Result<(), String> {
    if !end(o.end) {
        return Err(format!("ended wrongly: {}", describe_end(o.end)));
    }
    for e in expect {
        if !o.lines.iter().any(|l| l.contains(e)) {
            return Err(format!("the report does not say {e:?}"));
        }
    }
    Ok(())
}

/// `cargo xtask trace` as a user runs it, on the `pingpong` client and server: it must
/// exit 0 and write a Trace Event Format file holding the run's sends, receives and
/// replies joined by flows, on tracks named after the program, and an SVG diagram; the
/// console it shows must not contain the trace's raw lines.
fn trace_run(ctx: &mut Ctx) -> StepResult {
    let mut r = StepResult::default();
    let app = match ctx.built() {
        Ok(b) => b.app("pingpong"),
        Err(e) => return StepResult::failure(format!("nothing to trace: {e}")),
    };
    let dir = crate::trace::out_dir();
    let _ = std::fs::remove_file(dir.join("trace.json"));
    let _ = std::fs::remove_file(dir.join("trace.svg"));
    eprintln!("xtask: cargo xtask trace --app {}", app.display());
    let out = match cargo().args(["xtask", "trace", "--app"]).arg(&app).stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => return StepResult::failure(format!("trace: cannot run cargo: {e}")),
    };
    let console = String::from_utf8_lossy(&out.stdout);
    let mut check = |what: &str, ok: bool| {
        if ok {
            r.passed += 1;
        } else {
            r.problem(format!("trace: {what}"));
        }
    };
    check("the command exits 0", out.status.success());
    check("the run's console is shown", console.contains("pingpong: 3 calls answered"));
    check("the raw trace lines are not shown", !console.contains(abi::trace::PREFIX));
    let json = std::fs::read_to_string(dir.join("trace.json")).unwrap_or_default();
    let events = match serde_json::from_str::<serde_json::Value>(&json) {
        Ok(doc) => doc["traceEvents"].as_array().cloned().unwrap_or_default(),
        Err(e) => {
            check(&format!("trace.json is valid JSON ({e})"), false);
            Vec::new()
        }
    };
    let named = |ph: &str, prefix: &str| {
        events.iter().filter(|e| e["ph"] == ph && e["name"].as_str().is_some_and(|n| n.starts_with(prefix))).count()
    };
    // The client's three calls, and the hello and the stop message, are each received.
    check("trace.json holds the client's three calls", named("X", "call #") >= 3);
    check("trace.json holds the receives", named("X", "receive #") >= 5);
    check("trace.json holds the replies", named("X", "reply #") >= 3);
    check("trace.json holds blocks and wakes", named("i", "receiving") >= 1 && named("i", "woken") >= 1);
    let tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    check(
        "the client and server threads are named tracks",
        tracks.iter().filter(|t| t.starts_with("pingpong/")).count() == 2,
    );
    let finished_flows = events.iter().filter(|e| e["ph"] == "f").count();
    let started_flows = events.iter().filter(|e| e["ph"] == "s").count();
    check("flows join each call's send, receive and reply", finished_flows >= 5 && finished_flows == started_flows);
    check("each reply is followed by its caller's wake", replies_wake_their_callers(&events));
    let svg = std::fs::read_to_string(dir.join("trace.svg")).unwrap_or_default();
    check(
        "trace.svg is an SVG diagram",
        svg.starts_with("<?xml") && svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
    );
    r
}

/// In a trace's events: after each delivered reply, the next thing on the caller's track is
/// its wake (the diagram draws the reply's arrow to it).
fn replies_wake_their_callers(events: &[serde_json::Value]) -> bool {
    let tid_of_label = |l: &str| l.rsplit('/').next().and_then(|t| t.parse::<u64>().ok());
    let replies: Vec<(u64, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"].as_str().is_some_and(|n| n.starts_with("reply #")))
        .filter_map(|e| Some((tid_of_label(e["args"]["peer"].as_str()?)?, e["ts"].as_f64()?)))
        .collect();
    !replies.is_empty()
        && replies.iter().all(|&(caller, at)| {
            let next = events
                .iter()
                .filter(|e| e["tid"].as_u64() == Some(caller) && matches!(e["ph"].as_str(), Some("X" | "i")))
                .filter(|e| e["ts"].as_f64().is_some_and(|t| t >= at))
                .min_by(|a, b| a["ts"].as_f64().unwrap_or(0.0).total_cmp(&b["ts"].as_f64().unwrap_or(0.0)));
            next.is_some_and(|e| e["name"].as_str().is_some_and(|n| n.starts_with("woken")))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(end: End, lines: &[&str]) -> Outcome {
        Outcome { end, lines: lines.iter().map(|s| s.to_string()).collect(), status: None }
    }
    const OK: End = End::Guest(GuestExit::Success);
    const FAIL: End = End::Guest(GuestExit::Failure);

    #[test]
    fn the_debug_step_runs_in_qemu_steps_that_exist() {
        // A renamed or removed step must not drop out of the debug-assertions run unseen.
        for key in DEBUG_STEPS {
            let step = STEPS.iter().find(|s| s.key == *key);
            assert!(step.is_some_and(|s| s.key != "debug"), "{key}");
        }
    }

    #[test]
    fn a_clean_suite_passes() {
        let o =
            outcome(OK, &["boot", "moroso-test ok a", "moroso-test ok b", "moroso-test summary: 2 passed, 0 failed"]);
        assert_eq!(judge_suite("k", &o), StepResult { passed: 2, ..StepResult::default() });
    }

    #[test]
    fn a_failing_case_is_named() {
        let o =
            outcome(FAIL, &["moroso-test ok a", "moroso-test FAIL b: boom", "moroso-test summary: 1 passed, 1 failed"]);
        let r = judge_suite("k", &o);
        assert_eq!((r.passed, r.failed), (1, 1));
        assert_eq!(r.problems, vec!["k: b: boom"]);
    }

    #[test]
    fn structural_problems_fail_the_suite() {
        // No summary: the kernel died mid-suite.
        let r = judge_suite("k", &outcome(End::Guest(GuestExit::KernelPanic), &["moroso-test ok a"]));
        assert_eq!(r.failed, 1);
        assert!(r.problems[0].contains("did not finish") && r.problems[0].contains("crashed"));
        // A triple fault after a clean summary still fails.
        let r = judge_suite("k", &outcome(End::Unexpected(Some(0)), &["moroso-test summary: 0 passed, 0 failed"]));
        assert_eq!(r.failed, 1);
        // Summary disagreeing with the case lines.
        let r = judge_suite("k", &outcome(OK, &["moroso-test ok a", "moroso-test summary: 2 passed, 0 failed"]));
        assert_eq!(r.failed, 1);
        // Failures reported but the kernel claims success.
        let r = judge_suite("k", &outcome(OK, &["moroso-test FAIL a: x", "moroso-test summary: 0 passed, 1 failed"]));
        assert_eq!(r.failed, 2);
        // Duplicates.
        let r = judge_suite(
            "k",
            &outcome(OK, &["moroso-test ok a", "moroso-test ok a", "moroso-test summary: 2 passed, 0 failed"]),
        );
        assert!(r.failed >= 1);
        // Timeout.
        let r = judge_suite("k", &outcome(End::Timeout(Duration::from_secs(5)), &[]));
        assert!(r.problems[0].contains("timed out"));
    }

    #[test]
    fn crash_judging() {
        let panic = End::Guest(GuestExit::KernelPanic);
        let is_panic: fn(End) -> bool = |e| e == End::Guest(GuestExit::KernelPanic);
        assert!(judge_crash(&outcome(panic, &["x KERNEL PANIC: y"]), is_panic, &["KERNEL PANIC"]).is_ok());
        assert!(judge_crash(&outcome(panic, &["x"]), is_panic, &["KERNEL PANIC"]).is_err());
        assert!(judge_crash(&outcome(OK, &["KERNEL PANIC"]), is_panic, &["KERNEL PANIC"]).is_err());
    }

    #[test]
    fn every_crash_expects_a_failure_ending() {
        // No crash case may accept a clean power-off, or the runner could call a crash a pass.
        for c in CRASHES {
            assert!(!(c.end)(End::Guest(GuestExit::Success)), "crash={}", c.what);
            assert!(!(c.end)(End::Guest(GuestExit::Failure)), "crash={}", c.what);
        }
    }

    #[test]
    fn cargo_test_lines_are_counted() {
        let mut r = StepResult::default();
        for l in [
            "test a::b ... ok",
            "test a::c ... FAILED",
            "test result: FAILED. 5 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s",
            "test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s",
        ] {
            count_cargo_test_line(l, &mut r);
        }
        assert_eq!((r.passed, r.failed), (12, 1));
        assert_eq!(r.problems, vec!["host test a::c"]);
    }
}

#[cfg(test)]
mod untangle_tests {
    use super::{untangle, INIT_REPORT, INIT_REPORT_HAS};

    #[test]
    fn a_line_printed_into_another_is_moved_before_it() {
        let raw = "> cat die\ncinit: fs ended with status 3\nat: die: the server died\n> ls\n";
        assert_eq!(
            untangle(raw, INIT_REPORT, INIT_REPORT_HAS),
            "> cat die\ninit: fs ended with status 3\ncat: die: the server died\n> ls\n"
        );
    }

    #[test]
    fn lines_that_start_with_it_or_lack_it_stay() {
        let raw =
            "init: up\n    1 init\nkill: task 1: refused: it is init\nrun: init: refused: it is started at boot\n";
        assert_eq!(untangle(raw, INIT_REPORT, INIT_REPORT_HAS), raw);
    }

    #[test]
    fn two_interruptions_of_one_line() {
        let raw = "abinit: a ended with status 1\ncdinit: b exited with status 0\nef\n";
        let want = "init: a ended with status 1\ninit: b exited with status 0\nabcdef\n";
        assert_eq!(untangle(raw, INIT_REPORT, INIT_REPORT_HAS), want);
    }
}
