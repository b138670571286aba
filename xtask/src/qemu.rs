//! Booting the kernel in QEMU and deciding how the run ended.
//!
//! The guest's serial console arrives on QEMU's stdout; it is echoed (if asked) and kept
//! line by line for the caller. How the run ended comes from QEMU's exit status, decoded
//! with `abi::report::GuestExit`: only a status the kernel wrote on purpose counts as an
//! ending the kernel chose. A triple fault, a QEMU error or a kill is `End::Unexpected`;
//! running past the timeout kills QEMU and is `End::Timeout`.

use crate::setup::QEMU;
use crate::symbols::{Symbols, UserSymbols};
use abi::report::{parse_status_line, GuestExit, DEBUG_EXIT_PORT};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Guest memory. Enough for every test; small enough to boot fast.
const MEMORY: &str = "512M";

/// `-icount`'s value: one guest instruction per virtual nanosecond, and a halted guest's
/// clock jumps straight to its next timer instead of following the host's clock
/// (`sleep=off`), so where timer interrupts land, and so every count, is the same from
/// run to run.
pub const ICOUNT: &str = "shift=0,sleep=off";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Tcg,
    Kvm,
}

/// One boot.
#[derive(Clone, Debug)]
pub struct Config {
    pub kernel: PathBuf,
    /// The boot image (`-initrd`).
    pub initrd: Option<PathBuf>,
    pub append: String,
    pub accel: Accel,
    pub icount: bool,
    pub timeout: Option<Duration>,
    /// Copy the guest console to our stdout as it arrives.
    pub echo: bool,
    /// What to type into the guest's serial input, in order: each entry's bytes once the
    /// console shows a line containing its text, after the previous entry was typed.
    pub input: Vec<(String, Vec<u8>)>,
}

impl Config {
    pub fn describe(&self) -> String {
        let mut d = match self.accel {
            Accel::Tcg => "TCG".to_string(),
            Accel::Kvm => "KVM".to_string(),
        };
        if self.icount {
            d += &format!(", -icount {ICOUNT}");
        }
        if !self.append.is_empty() {
            d += &format!(", command line {:?}", self.append);
        }
        if let Some(t) = self.timeout {
            d += &format!(", timeout {} s", t.as_secs_f64());
        }
        d
    }

    /// The QEMU command line of this boot (`gdb` adds its gdbstub options to it).
    pub fn command(&self) -> Command {
        let mut c = Command::new(QEMU);
        match self.accel {
            Accel::Tcg => c.args(["-accel", "tcg", "-cpu", "max"]),
            Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host"]),
        };
        if self.icount {
            c.args(["-icount", ICOUNT]);
        }
        c.args(["-m", MEMORY, "-kernel"]).arg(&self.kernel);
        if let Some(initrd) = &self.initrd {
            c.arg("-initrd").arg(initrd);
        }
        if !self.append.is_empty() {
            c.args(["-append", &self.append]);
        }
        c.args(["-serial", "stdio", "-display", "none", "-monitor", "none", "-no-reboot"]);
        c.args(["-device", &format!("isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=4")]);
        c
    }
}

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The kernel powered off on purpose, for this reason.
    Guest(GuestExit),
    /// QEMU ran past the timeout and was killed.
    Timeout(Duration),
    /// QEMU exited on its own without the kernel's power-off (its exit code, if any).
    Unexpected(Option<i32>),
}

/// The result of one boot.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub end: End,
    /// Console lines, without line terminators.
    pub lines: Vec<String>,
    /// The status from the kernel's last power-off line, if it printed one.
    pub status: Option<i32>,
}

/// Boots the kernel and waits for the end (or the timeout).
pub fn run(cfg: &Config) -> Result<Outcome, String> {
    let mut cmd = cfg.command();
    cmd.stdin(match (cfg.input.is_empty(), cfg.echo) {
        (false, _) => Stdio::piped(),
        (true, true) => Stdio::inherit(),
        (true, false) => Stdio::null(),
    });
    let console = Console {
        partial: Vec::new(),
        echoed: 0,
        lines: Vec::new(),
        echo: cfg.echo,
        symbols: Symbols::load(&cfg.kernel).ok(),
        user: cfg.initrd.as_deref().map(UserSymbols::new),
    };
    let (lines, status, timed_out) = capture(cmd, cfg.timeout, console, cfg.input.clone())?;
    let end = match (timed_out, cfg.timeout) {
        (true, Some(t)) => End::Timeout(t),
        _ => match status.and_then(GuestExit::from_qemu_status) {
            Some(g) => End::Guest(g),
            None => End::Unexpected(status),
        },
    };
    let status = lines.iter().rev().find_map(|l| parse_status_line(l));
    Ok(Outcome { end, lines, status })
}

/// Runs an arbitrary QEMU command line (the Linux baseline), killing it after `timeout`;
/// its console lines.
pub fn run_command(mut cmd: Command, timeout: Duration) -> Result<Vec<String>, String> {
    cmd.stdin(Stdio::null());
    let console = Console { partial: Vec::new(), echoed: 0, lines: Vec::new(), echo: false, symbols: None, user: None };
    Ok(capture(cmd, Some(timeout), console, Vec::new())?.0)
}

/// Runs QEMU, feeding its console through `console` until it exits or `timeout` passes
/// (then it is killed). Returns the lines, QEMU's exit code, and whether it timed out.
fn capture(
    mut cmd: Command,
    timeout: Option<Duration>,
    mut console: Console,
    input: Vec<(String, Vec<u8>)>,
) -> Result<(Vec<String>, Option<i32>, bool), String> {
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(|e| format!("cannot start {QEMU}: {e}"))?;
    let mut stdin = child.stdin.take();
    // A reader thread forwards console bytes, so this thread can enforce the timeout.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut input = std::collections::VecDeque::from(input);
    // Lines before this index were shown before the last typing; they trigger nothing more.
    let mut since = 0;
    let start = Instant::now();
    let mut timed_out = false;
    loop {
        let wait = match timeout {
            Some(t) => match t.checked_sub(start.elapsed()) {
                Some(left) => left,
                None => {
                    timed_out = true;
                    break;
                }
            },
            None => Duration::from_secs(3600),
        };
        match rx.recv_timeout(wait) {
            Ok(bytes) => console.feed(&bytes),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Type each input once the guest says it is ready for it.
        while let Some((trigger, _)) = input.front() {
            if !console.lines[since..].iter().any(|l| l.contains(trigger.as_str())) {
                break;
            }
            since = console.lines.len();
            let Some((_, bytes)) = input.pop_front() else { break };
            if let Some(s) = stdin.as_mut() {
                let _ = s.write_all(&bytes);
                let _ = s.flush();
            }
        }
    }
    drop(stdin);
    if timed_out {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|e| format!("waiting for QEMU: {e}"))?;
    let _ = reader.join();
    while let Ok(bytes) = rx.try_recv() {
        console.feed(&bytes);
    }
    console.finish();
    Ok((console.lines, status.code(), timed_out))
}

/// Splits the console stream into lines, echoing it and adding symbol names to kernel
/// addresses in fault reports. A tracing kernel's dump (`abi::trace` lines) is kept but not
/// echoed: it is data for `cargo xtask trace`, not for people.
struct Console {
    partial: Vec<u8>,
    /// Bytes of `partial` already echoed.
    echoed: usize,
    lines: Vec<String>,
    echo: bool,
    symbols: Option<Symbols>,
    /// The booted image's programs, for user fault reports.
    user: Option<UserSymbols>,
}

impl Console {
    fn feed(&mut self, bytes: &[u8]) {
        // Echo line by line, so that what `push_line` adds after a line (symbol names)
        // appears right under it, not in the middle of the next one.
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            match chunk.split_last() {
                Some((b'\n', line)) => {
                    self.partial.extend_from_slice(line);
                    self.echo_partial(true, true);
                    let line = std::mem::take(&mut self.partial);
                    self.push_line(String::from_utf8_lossy(&line).trim_end_matches('\r').to_string());
                }
                _ => {
                    self.partial.extend_from_slice(chunk);
                    self.echo_partial(false, false);
                }
            }
        }
    }

    /// Echoes what is new in the current line (see [`Console::take_echo`]).
    fn echo_partial(&mut self, ended: bool, newline: bool) {
        let bytes = self.take_echo(ended, newline);
        if self.echo && !bytes.is_empty() {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(&bytes);
            let _ = out.flush();
        }
    }

    /// What of the current line is new and may be shown: nothing while it is, or may still
    /// become, a trace line. `ended`: the line is complete; `newline`: it ended with one.
    fn take_echo(&mut self, ended: bool, newline: bool) -> Vec<u8> {
        let prefix = abi::trace::PREFIX.as_bytes();
        let trace_line = self.partial.starts_with(prefix);
        let undecided = !ended && prefix.starts_with(&self.partial);
        let mut bytes = Vec::new();
        if !trace_line && !undecided {
            bytes.extend_from_slice(&self.partial[self.echoed.min(self.partial.len())..]);
            if newline {
                bytes.push(b'\n');
            }
            self.echoed = self.partial.len();
        }
        if ended {
            self.echoed = 0;
        }
        bytes
    }

    fn finish(&mut self) {
        if !self.partial.is_empty() {
            self.echo_partial(true, false);
            let line = std::mem::take(&mut self.partial);
            self.push_line(String::from_utf8_lossy(&line).trim_end_matches('\r').to_string());
        }
    }

    fn push_line(&mut self, line: String) {
        let mut extra: Vec<String> = self.symbols.as_ref().and_then(|s| s.annotate(&line)).into_iter().collect();
        if let Some(u) = self.user.as_mut() {
            extra.extend(u.annotate(&line));
        }
        self.lines.push(line);
        for e in extra {
            if self.echo {
                println!("{e}");
            }
            self.lines.push(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` as they might arrive and returns what would be echoed.
    fn shown(chunks: &[&str]) -> String {
        let mut c =
            Console { partial: Vec::new(), echoed: 0, lines: Vec::new(), echo: false, symbols: None, user: None };
        let mut out = Vec::new();
        for chunk in chunks {
            for part in chunk.as_bytes().split_inclusive(|&b| b == b'\n') {
                match part.split_last() {
                    Some((b'\n', line)) => {
                        c.partial.extend_from_slice(line);
                        out.extend(c.take_echo(true, true));
                        c.partial.clear();
                    }
                    _ => {
                        c.partial.extend_from_slice(part);
                        out.extend(c.take_echo(false, false));
                    }
                }
            }
        }
        out.extend(c.take_echo(true, false));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn trace_lines_are_not_echoed_even_when_split() {
        let got = shown(&["hello\r\nmoro", "so-trace ev 00", "ff\r\nmoroso: power", " off\r\n", "> "]);
        assert_eq!(got, "hello\r\nmoroso: power off\r\n> ");
    }

    #[test]
    fn a_partial_line_is_shown_as_soon_as_it_cannot_be_a_trace_line() {
        let mut c =
            Console { partial: Vec::new(), echoed: 0, lines: Vec::new(), echo: false, symbols: None, user: None };
        c.partial.extend_from_slice(b"mor");
        assert_eq!(c.take_echo(false, false), b"", "could still be a trace line");
        c.partial.extend_from_slice(b"e> ");
        assert_eq!(c.take_echo(false, false), b"more> ");
        c.partial.extend_from_slice(b"x");
        assert_eq!(c.take_echo(false, false), b"x", "only what is new");
    }
}
