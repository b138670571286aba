//! `cargo xtask fuzz [--calls N] [--seed S] [--all-attacks]`: boots the in-guest
//! system-call fuzzer (`apps/src/bin/fuzz`) as the only program and judges its run.
//!
//! The seed and call count reach the guest as the first program's argument, through the
//! kernel command line's `arg=` (encoded by `abi::report::fuzz`). Without `--seed` a fresh
//! seed is drawn and printed, so any failure can be replayed.

use crate::build::Built;
use crate::qemu::{self, Accel, End, Outcome};
use abi::report::{fuzz, GuestExit};
use std::process::ExitCode;
use std::time::Duration;

/// Calls of a `cargo xtask fuzz` without `--calls`.
pub const DEFAULT_CALLS: u64 = 100_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub calls: u64,
    pub seed: u32,
    /// Also run the attacks still awaiting kernel fixes (`ATTACKS_AWAITING_KERNEL_FIXES`).
    pub all_attacks: bool,
}

pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options { calls: DEFAULT_CALLS, seed: fresh_seed(), all_attacks: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--calls" => {
                let v = value("--calls")?;
                o.calls =
                    v.parse().ok().filter(|n| (1..=fuzz::CALLS_MAX).contains(n)).ok_or_else(|| {
                        format!("--calls: {v:?} is not a number of calls from 1 to {}", fuzz::CALLS_MAX)
                    })?;
            }
            "--seed" => {
                let v = value("--seed")?;
                o.seed = v.parse().map_err(|_| format!("--seed: {v:?} is not a number from 0 to {}", u32::MAX))?;
            }
            "--all-attacks" => o.all_attacks = true,
            other => return Err(format!("fuzz: unknown option {other:?} (--calls N, --seed S, --all-attacks)")),
        }
    }
    Ok(o)
}

/// A seed nobody chose: the clock's nanoseconds mixed with the process id.
pub fn fresh_seed() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u32) ^ (nanos >> 32) as u32 ^ std::process::id().rotate_left(16)
}

/// How long a run may take: generous for TCG on a loaded machine (about 1 ms per call
/// measured with margin, plus booting).
pub fn timeout(calls: u64) -> Duration {
    Duration::from_secs(120 + calls / 1000)
}

/// Boots the fuzzer.
pub fn boot(built: &Built, o: &Options) -> Result<Outcome, String> {
    let initrd = built.image("fuzz", &["fuzz"])?;
    let cfg = qemu::Config {
        kernel: built.kernel.clone(),
        initrd: Some(initrd),
        append: format!("arg={:#x}", fuzz::arg(o.seed, o.calls, o.all_attacks)),
        accel: Accel::Tcg,
        icount: false,
        timeout: Some(timeout(o.calls)),
        echo: true,
        input: Vec::new(),
    };
    eprintln!("xtask: fuzzing with seed {} and {} calls ({})", o.seed, o.calls, cfg.describe());
    qemu::run(&cfg)
}

/// A run passes if the fuzzer said so and the kernel then powered off cleanly; otherwise
/// the reasons, each naming the seed to replay.
pub fn judge(o: &Options, out: &Outcome) -> Result<String, Vec<String>> {
    let replay = format!("(replay: cargo xtask fuzz --seed {} --calls {})", o.seed, o.calls);
    let mut problems: Vec<String> =
        out.lines.iter().filter_map(|l| l.find(fuzz::FAIL).map(|i| format!("{} {replay}", &l[i..]))).collect();
    let ok = out.lines.iter().find_map(|l| l.find(fuzz::OK).map(|i| l[i..].to_string()));
    match out.end {
        End::Guest(GuestExit::Success) if ok.is_some() && problems.is_empty() => {}
        End::Guest(GuestExit::Success | GuestExit::Failure) => {
            if problems.is_empty() {
                problems.push(format!("the fuzzer ended without saying {:?} {replay}", fuzz::OK.trim()));
            }
        }
        End::Guest(GuestExit::KernelPanic) => problems.push(format!("the kernel crashed {replay}")),
        End::Timeout(t) => problems.push(format!("timed out after {} s {replay}", t.as_secs())),
        End::Unexpected(c) => problems.push(format!("QEMU exited with {c:?} without a power-off {replay}")),
    }
    match ok {
        Some(line) if problems.is_empty() => Ok(line),
        _ => Err(problems),
    }
}

/// `cargo xtask fuzz`.
pub fn command(args: &[String]) -> Result<ExitCode, String> {
    let o = parse(args)?;
    crate::setup::ensure_all()?;
    let built = crate::build::all()?;
    let started = std::time::Instant::now();
    let out = boot(&built, &o)?;
    let secs = started.elapsed().as_secs_f64();
    match judge(&o, &out) {
        Ok(line) => {
            eprintln!("xtask: fuzz passed in {secs:.1} s of host time: {line}");
            Ok(ExitCode::SUCCESS)
        }
        Err(problems) => {
            for p in problems {
                eprintln!("xtask: fuzz: {p}");
            }
            Ok(ExitCode::FAILURE)
        }
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
        let o = parse(&args(&["--calls", "5", "--seed", "42"])).unwrap();
        assert_eq!(o, Options { calls: 5, seed: 42, all_attacks: false });
        assert_eq!(parse(&args(&[])).unwrap().calls, DEFAULT_CALLS);
        assert!(parse(&args(&["--calls", "0"])).is_err());
        assert!(parse(&args(&["--seed", "-1"])).is_err());
        assert!(parse(&args(&["--bogus"])).is_err());
        assert!(parse(&args(&["--all-attacks"])).unwrap().all_attacks);
    }

    #[test]
    fn judging() {
        let o = Options { calls: 10, seed: 3, all_attacks: false };
        let out =
            |end, lines: &[&str]| Outcome { end, lines: lines.iter().map(|s| s.to_string()).collect(), status: None };
        let ok = End::Guest(GuestExit::Success);
        assert!(judge(&o, &out(ok, &["fuzz: ok seed 3, 10 calls"])).is_ok());
        // Said nothing, or failed, or crashed: each fails and names the seed.
        for bad in [
            out(ok, &[]),
            out(End::Guest(GuestExit::Failure), &["fuzz: FAIL free frames: 1 before the run, 0 after it"]),
            out(End::Guest(GuestExit::KernelPanic), &["fuzz: ok seed 3"]),
            out(End::Timeout(Duration::from_secs(1)), &[]),
            out(ok, &["fuzz: ok seed 3", "fuzz: FAIL x"]),
        ] {
            let e = judge(&o, &bad).unwrap_err();
            assert!(e.iter().all(|p| p.contains("--seed 3")), "{e:?}");
        }
    }
}
