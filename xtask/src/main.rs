//! `cargo xtask`: the one entry point for building, booting and testing Moroso.
//!
//! ```text
//! cargo xtask run [--app PATH] [--timeout SECS] [--icount] [--accel tcg|kvm] [--append ARGS]
//! cargo xtask test
//! cargo xtask fuzz [--calls N] [--seed S] [--all-attacks]
//! cargo xtask bench [--no-linux]
//! ```
//! Both install what is missing first (the `x86_64-unknown-none` Rust target; QEMU through
//! apt-get when running as root) and say so.

mod bench;
mod build;
mod fuzz;
mod image;
mod manifest;
mod qemu;
mod setup;
mod symbols;
mod system;
mod test;

use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run                 build the kernel and programs, boot the default image in QEMU
      --app PATH      boot the ELF at PATH as the only program; exit with its status
                      (repeated: boot them all with init and the name server, in order;
                      exit non-zero naming each that ended non-zero)
      --timeout SECS  kill QEMU and fail after SECS seconds
      --icount        run QEMU with -icount shift=0 (rdtsc counts guest instructions)
      --accel tcg|kvm accelerator (default tcg; kvm only where virtualization is real)
      --append ARGS   extra kernel command-line arguments (e.g. \"selftest\")
  test                run every test: lints, host unit tests, in-QEMU kernel tests
      --only KEY[,KEY] run only these steps (lints, host, selftest, crash, faults, usertest, ipc,
                      typed, nohandoff, sync, irq, console, system, fuzz, contract, bench,
                      runner)
  fuzz                boot the system-call fuzzer: several tasks and threads make hostile
                      calls, call each other and die mid-call; the kernel must survive and
                      get every table and frame back (prints the seed and calls per second)
      --calls N       calls in all (default 100000)
      --seed S        replay this seed (default: a fresh one, printed)
      --all-attacks   also run the known attacks awaiting kernel fixes
  help                this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => parse_run(&args[1..]).and_then(run),
        Some("test") => parse_test(&args[1..]).and_then(|only| test::run_all(only.as_deref())),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some("bench") => match args.get(1).map(String::as_str) {
            None => bench::run(true),
            Some("--no-linux") if args.len() == 2 => bench::run(false),
            _ => Err(format!("bench: unknown option {:?} (only --no-linux)", &args[1..])),
        },
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => Err(format!("unknown command {other:?}\n\n{USAGE}")),
        None => Err(format!("no command given\n\n{USAGE}")),
    };
    result.unwrap_or_else(|e| {
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
            other => return Err(format!("run: unknown option {other:?}\n\n{USAGE}")),
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
    let built = build::all()?;
    let initrd = match o.apps.as_slice() {
        [] => built.image("default", &build::default_image()?)?,
        [app] => build::single_program_image(app)?,
        apps => build::apps_image(&built, apps)?,
    };
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
