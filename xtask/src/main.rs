//! `cargo xtask`: the one entry point for building, booting and testing Moroso.
//!
//! The commands are the table [`COMMANDS`]; `cargo xtask --help` lists them with their
//! options (`cli` generates every help text from that table). Commands install what is
//! missing first (the `x86_64-unknown-none` Rust target; QEMU and gdb through apt-get when
//! running as root) and say so.

mod bench;
mod build;
mod cli;
mod fuzz;
mod gdb;
mod image;
mod manifest;
mod new;
mod qemu;
mod setup;
mod symbols;
mod system;
mod test;
mod trace;

use cli::Command;
use std::process::ExitCode;
use std::time::Duration;

/// Every command, in the order `cargo xtask --help` lists them. A new command is a module
/// with a `cli::Command` and one line here.
const COMMANDS: &[Command] = &[RUN, TEST, FUZZ, BENCH, trace::COMMAND, gdb::COMMAND, new::COMMAND, cli::HELP];

const RUN: Command = Command {
    name: "run",
    args: "[--app PATH ...] [--timeout SECS] [--icount] [--accel tcg|kvm] [--append ARGS]",
    summary: "build the kernel and boot the default system (init, servers, shell) in QEMU",
    options: &[
        ("--app PATH", "boot the ELF at PATH as the only program; exit with its status. Repeated: boot them all with init and the name server, in order; exit non-zero naming each that ended non-zero"),
        ("--timeout SECS", "kill QEMU and fail after SECS seconds"),
        ("--icount", "run QEMU with -icount shift=0 (rdtsc counts guest instructions)"),
        ("--accel tcg|kvm", "accelerator (default tcg; kvm only where virtualization is real)"),
        ("--append ARGS", "extra kernel command-line arguments (e.g. \"selftest\")"),
    ],
    about: || {
        "Builds only what the boot image needs (with --app: the kernel alone), packs the image
and boots it with the guest's console on stdout. On a terminal the default image is
interactive (a shell on the console); Ctrl-C stops QEMU. When stdin is not a terminal, the
shell runs its lines as a script (`printf 'ls\nexit\n' | cargo xtask run`). The command exits 0 when the guest
powers off with status 0, and non-zero on any other status (printed in words), a kernel
crash, a triple fault or a timeout. A missing, non-ELF or non-x86-64 --app file is refused
before anything is built."
            .into()
    },
    run: |args| parse_run(args).and_then(run),
};

const TEST: Command = Command {
    name: "test",
    args: "[--only KEY[,KEY...]]",
    summary: "run every test: lints, host unit tests, in-QEMU suites, fuzzer, benchmarks",
    options: &[("--only KEY[,KEY...]", "run only these steps (`cargo xtask test --help` lists the keys)")],
    about: || {
        format!(
            "Runs every step even if an earlier one failed, then prints one table and
`total: N passed, M failed`; exits non-zero if anything failed.

steps (keys for --only): {}",
            test::step_keys().join(", ")
        )
    },
    run: |args| parse_test(args).and_then(|only| test::run_all(only.as_deref())),
};

const FUZZ: Command = Command {
    name: "fuzz",
    args: "[--calls N] [--seed S] [--all-attacks]",
    summary: "boot the system-call fuzzer; the kernel must survive and get every table and frame back",
    options: &[
        ("--calls N", "calls in all (default 100000)"),
        ("--seed S", "replay this seed (default: a fresh one, printed)"),
        ("--all-attacks", "also run the known attacks awaiting kernel fixes"),
    ],
    about: || {
        "Several tasks and threads make hostile calls, call each other and die mid-call. The
seed is printed before the run, so a failure can be replayed with --seed; at the end the
fuzzer prints the calls made and the calls per second."
            .into()
    },
    run: fuzz::command,
};

const BENCH: Command = Command {
    name: "bench",
    args: "[--no-linux]",
    summary: "count guest instructions of IPC and scheduling under -icount, beside Linux",
    options: &[("--no-linux", "skip the Linux baseline (and its download)")],
    about: || {
        "Boots the benchmarks under -icount shift=0,sleep=off, so figures are retired guest
instructions and repeat exactly, and Linux booted the same way for comparison; compares
with seL4's published figures on the same ruler, and writes target/bench/latest.json,
load.svg and compare.svg (BENCHMARKS.md)."
            .into()
    },
    run: |args| match args {
        [] => bench::run(true),
        [a] if a == "--no-linux" => bench::run(false),
        _ => Err(format!("bench: unknown option {args:?} (only --no-linux)")),
    },
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    cli::dispatch(COMMANDS, &args).unwrap_or_else(|e| {
        eprintln!("xtask: error: {e}");
        ExitCode::from(2)
    })
}

/// Options of `cargo xtask test`: `--only KEY[,KEY...]` (the step keys).
fn parse_test(args: &[String]) -> Result<Option<Vec<String>>, String> {
    match args {
        [] => Ok(None),
        [flag, keys] if flag == "--only" => Ok(Some(keys.split(',').map(str::to_string).collect())),
        _ => Err(format!(
            "test: unknown options {args:?} (only `--only KEY[,KEY...]`; keys: {})",
            test::step_keys().join(", ")
        )),
    }
}

/// Options of `cargo xtask run`.
struct RunOptions {
    apps: Vec<std::path::PathBuf>,
    timeout: Option<Duration>,
    icount: bool,
    accel: qemu::Accel,
    append: String,
}

fn parse_run(args: &[String]) -> Result<RunOptions, String> {
    let mut o =
        RunOptions { apps: Vec::new(), timeout: None, icount: false, accel: qemu::Accel::Tcg, append: String::new() };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v.parse().map_err(|_| format!("--timeout: {v:?} is not a number of seconds"))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    return Err(format!("--timeout must be positive, got {v}"));
                }
                o.timeout = Some(Duration::from_secs_f64(secs));
            }
            "--icount" => o.icount = true,
            "--accel" => {
                o.accel = match value("--accel")?.as_str() {
                    "tcg" => qemu::Accel::Tcg,
                    "kvm" => qemu::Accel::Kvm,
                    other => return Err(format!("--accel: unknown accelerator {other:?} (tcg or kvm)")),
                }
            }
            "--append" => o.append = value("--append")?,
            // Relative to where the user stands, whatever directory the build runs in.
            "--app" => o.apps.push(std::path::absolute(value("--app")?).map_err(|e| format!("--app: {e}"))?),
            other => return Err(format!("run: unknown option {other:?} (`cargo xtask run --help` lists them)")),
        }
    }
    Ok(o)
}

fn run(o: RunOptions) -> Result<ExitCode, String> {
    // Refuse a bad --app before building or booting anything.
    for app in &o.apps {
        image::validate(app)?;
    }
    setup::ensure_all()?;
    // Only what the image needs: the kernel for one --app, init and the name server for
    // several, the default image's programs otherwise.
    let build::Boot { built, image: initrd, .. } = build::boot_image(&o.apps)?;
    let kernel = built.kernel.clone();
    // A person at a terminal gets the interactive shell; otherwise stdin is a script the
    // shell runs line by line (`system::script_typing`).
    let mut append = o.append;
    let mut input = Vec::new();
    if o.apps.is_empty() {
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            append = format!("{append} interactive").trim().to_string();
        } else {
            let mut script = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut script).map_err(|e| format!("stdin: {e}"))?;
            input = system::script_typing(&script);
        }
    }
    let cfg = qemu::Config {
        kernel: kernel.clone(),
        initrd: Some(initrd),
        append,
        accel: o.accel,
        icount: o.icount,
        timeout: o.timeout,
        echo: true,
        input,
    };
    eprintln!("xtask: booting {} in QEMU ({})", kernel.display(), cfg.describe());
    let outcome = qemu::run(&cfg)?;
    for (name, status) in system::failed_programs(&outcome.lines) {
        eprintln!("xtask: program {name} ended with status {}", abi::status::describe(status));
    }
    Ok(report_run(&outcome))
}

/// Says how the guest ended and picks the command's exit status (0 only for guest status 0).
fn report_run(outcome: &qemu::Outcome) -> ExitCode {
    use abi::report::GuestExit;
    match outcome.end {
        qemu::End::Guest(GuestExit::Success) => ExitCode::SUCCESS,
        qemu::End::Guest(GuestExit::Failure) => {
            let status = outcome.status.unwrap_or(1);
            eprintln!("xtask: the guest powered off with status {}", abi::status::describe(status));
            ExitCode::from(u8::try_from(status).ok().filter(|s| *s != 0).unwrap_or(1))
        }
        qemu::End::Guest(GuestExit::KernelPanic) => {
            eprintln!("xtask: the kernel crashed (see the report above)");
            ExitCode::from(1)
        }
        qemu::End::Timeout(t) => {
            eprintln!("xtask: timed out after {:.1} s; QEMU was killed", t.as_secs_f64());
            ExitCode::from(1)
        }
        qemu::End::Unexpected(code) => {
            eprintln!(
                "xtask: QEMU exited with status {code:?} without the kernel powering off \
                 (a triple fault, a QEMU error, or a signal)"
            );
            ExitCode::from(1)
        }
    }
}
