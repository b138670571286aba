//! The shell, on the user-level console server (found by name, `console`). Commands:
//! `help`, `echo`, `ls`, `cat`, `write`, `rm` (files in the file server, `fs`), `ps`,
//! `run`, `kill`, `exit`.
//!
//! Two modes, from the argument init passes on (`FIRST_ARG_INTERACTIVE`):
//! - interactive: a prompt, typed bytes echoed, line editing (Backspace, Ctrl-U erases the
//!   line, Ctrl-C cancels it, Tab completes a command name; arrow keys and other escape
//!   sequences are swallowed, Up recalls the previous line);
//! - script (stdin was not a terminal): says `abi::report::SCRIPT_READY`, shows each line
//!   as `> LINE` before running it, and ends at `abi::report::SCRIPT_END` or `exit`.
//!
//! Input is taken only from the console server's thread (checked against the task
//! records: see `find_console`); anything else sent here is dropped unread, because the
//! shell holds the kill power and would otherwise run whatever any program typed into it.
//!
//! A line holds at most `LINE_MAX` bytes: past that, typing is no longer echoed or kept,
//! and at its end the line is refused with a message saying how long it was. A server that
//! fails mid-command fails that command, with the error; the shell goes on.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use libsys::abi::image::FIRST_ARG_INTERACTIVE;
use libsys::abi::report::{SCRIPT_END, SCRIPT_READY};
use libsys::abi::{ps, Error};
use libsys::ipc::{self, Incoming, Timeout};
use moroso_apps::console_proto::{self as console, Input, LINE_MAX};
use moroso_apps::fs_proto::{self as fs, flat, FilesClient};

libsys::entry!(main);

const COMMANDS: &[(&str, &str)] = &[
    ("help", "help: list the commands"),
    ("echo", "echo WORDS...: print the words"),
    ("ls", "ls: list the files"),
    ("cat", "cat FILE: print a file"),
    ("write", "write FILE TEXT...: create or replace FILE with TEXT and a newline"),
    ("rm", "rm FILE: remove a file"),
    ("ps", "ps: list tasks and threads"),
    ("run", "run PROGRAM [ARG]: start a program of the image, wait for it, print its status"),
    ("kill", "kill TASK: end a task"),
    ("exit", "exit: leave the shell (and power off)"),
];

/// What a line asks the shell to do next.
enum Next {
    Go,
    Exit,
}

struct Shell {
    console: u32,
    interactive: bool,
    line: Vec<u8>,
    /// Bytes typed past `LINE_MAX` on this line (then the line is refused).
    over: usize,
    /// The previous line, for Up.
    last: Vec<u8>,
    /// Inside an escape sequence: bytes seen of it (0: not in one).
    escape: usize,
}

impl Shell {
    fn out(&self, text: &str) {
        let _ = console::write(self.console, text.as_bytes());
    }

    fn prompt(&self) {
        if self.interactive {
            self.out("$ ");
        }
    }

    /// Replaces the shown line with `new`.
    fn set_line(&mut self, new: &[u8]) {
        let mut erase = String::new();
        for _ in 0..self.line.len() {
            erase.push_str("\x08 \x08");
        }
        self.out(&erase);
        self.line.clear();
        self.line.extend_from_slice(new);
        let _ = console::write(self.console, &self.line);
    }

    /// One typed byte. `Some` at the end of a line (or of the script).
    fn key(&mut self, b: u8) -> Option<Next> {
        if self.escape > 0 {
            // ESC [ ... final byte, or ESC O x: swallow the whole sequence.
            self.escape += 1;
            let done = match (self.escape, b) {
                (2, b'[' | b'O') => false,
                (2, _) => true,
                (_, 0x40..=0x7e) => true,
                _ => self.escape > 8,
            };
            if done {
                self.escape = 0;
                if b == b'A' && self.interactive {
                    let last = self.last.clone();
                    self.set_line(&last);
                }
            }
            return None;
        }
        match b {
            b'\r' | b'\n' => return Some(self.enter()),
            _ if b == SCRIPT_END && !self.interactive => return Some(Next::Exit),
            0x1b => self.escape = 1,
            0x7f | 0x08 => {
                if self.over > 0 {
                    self.over -= 1;
                } else if self.line.pop().is_some() && self.interactive {
                    self.out("\x08 \x08");
                }
            }
            // Ctrl-U: erase the line.
            0x15 => {
                self.set_line(&[]);
                self.over = 0;
            }
            // Ctrl-C: cancel the line.
            0x03 => {
                self.out("^C\n");
                self.line.clear();
                self.over = 0;
                self.prompt();
            }
            b'\t' => self.complete(),
            _ if b < b' ' => {}
            _ if self.line.len() >= LINE_MAX => self.over += 1,
            b => {
                self.line.push(b);
                if self.interactive {
                    let _ = console::write(self.console, &[b]);
                }
            }
        }
        None
    }

    /// Tab: completes the command name if one command starts with what is typed.
    fn complete(&mut self) {
        if !self.interactive || self.line.contains(&b' ') {
            return;
        }
        let typed = self.line.clone();
        let mut matches = COMMANDS.iter().filter(|(c, _)| c.as_bytes().starts_with(&typed));
        if let (Some((c, _)), None) = (matches.next(), matches.next()) {
            let rest = &c.as_bytes()[typed.len()..];
            self.line.extend_from_slice(rest);
            self.line.push(b' ');
            let _ = console::write(self.console, rest);
            self.out(" ");
        }
    }

    fn enter(&mut self) -> Next {
        if self.interactive {
            self.out("\n");
        }
        let line = core::mem::take(&mut self.line);
        let over = core::mem::replace(&mut self.over, 0);
        let next = if over > 0 {
            self.out(&format!(
                "line too long: {} bytes, a line holds at most {LINE_MAX}; refused\n",
                line.len() + over
            ));
            Next::Go
        } else {
            let text = String::from_utf8_lossy(&line).into_owned();
            if !self.interactive && !text.trim().is_empty() {
                self.out(&format!("> {text}\n"));
            }
            if !text.trim().is_empty() {
                self.last = line;
            }
            self.run(text.trim())
        };
        if matches!(next, Next::Go) {
            self.prompt();
        }
        next
    }

    fn run(&self, line: &str) -> Next {
        let mut words = line.split_whitespace();
        let Some(cmd) = words.next() else { return Next::Go };
        let args: Vec<&str> = words.collect();
        let text = match (cmd, args.as_slice()) {
            ("help", []) => {
                let mut t = String::from("commands:\n");
                for (_, usage) in COMMANDS {
                    t += &format!("  {usage}\n");
                }
                t
            }
            ("echo", words) => format!("{}\n", words.join(" ")),
            ("ls", []) => ls(),
            ("cat", [file]) => cat(file),
            ("write", [file, text @ ..]) if !text.is_empty() => write(file, &text.join(" ")),
            ("rm", [file]) => rm(file),
            ("ps", []) => ps(),
            ("run", [program]) => run(program, 0),
            ("run", [program, arg]) => match parse_number(arg) {
                Some(a) => run(program, a),
                None => format!("run: {arg:?} is not a number\nusage: {}\n", usage("run")),
            },
            ("kill", [task]) => match parse_number(task).and_then(|t| u32::try_from(t).ok()) {
                Some(t) => self.kill(t),
                None => format!("kill: {task:?} is not a task id\nusage: {}\n", usage("kill")),
            },
            ("exit", []) => {
                self.out("bye\n");
                return Next::Exit;
            }
            (cmd, _) if COMMANDS.iter().any(|(c, _)| *c == cmd) => format!("usage: {}\n", usage(cmd)),
            (cmd, _) => format!("unknown command: {cmd} (try help)\n"),
        };
        self.out(&text);
        Next::Go
    }
}

impl Shell {
    /// `kill TASK`, except the tasks whose end would leave the machine stuck or mute: init
    /// (nothing would supervise, and nothing would end, the rest), this shell (`exit` ends
    /// it cleanly) and its console server (the shell could no longer talk).
    fn kill(&self, task: u32) -> String {
        if let Ok(records) = libsys::task::ps() {
            let task_of = |tid: u32| records.iter().find(|r| r.kind == ps::kind::THREAD && r.id == tid).map(|r| r.task);
            let target =
                records.iter().find(|r| r.kind == ps::kind::TASK && r.id == task && r.state == ps::state::TASK_LIVE);
            let refusal = match target {
                Some(r) if r.name() == "init" => {
                    Some("it is init, which supervises the system; use exit to end the system")
                }
                Some(_) if task_of(libsys::raw::gettid()) == Some(task) => Some("it is this shell; use exit"),
                Some(_) if task_of(self.console) == Some(task) => {
                    Some("it is the console server; the shell could no longer talk to you")
                }
                _ => None,
            };
            if let Some(why) = refusal {
                return format!("kill: task {task}: refused: {why}\n");
            }
        }
        match libsys::task::kill(task) {
            Ok(()) => format!("killed task {task}\n"),
            Err(e) => format!("kill: task {task}: {}\n", why(e)),
        }
    }
}

fn usage(cmd: &str) -> &'static str {
    COMMANDS.iter().find(|(c, _)| *c == cmd).map_or("", |(_, u)| u)
}

fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// An error in words a shell user wants.
fn why(e: Error) -> String {
    match e {
        Error::NotFound => String::from("no such file"),
        Error::NoSpace => String::from("the file system is full"),
        Error::NoSuchTask => String::from("no such task"),
        Error::NoSuchProgram => String::from("no such program in the image"),
        Error::PermissionDenied => String::from("permission denied"),
        Error::PeerDied => String::from("the file server died during the request"),
        Error::NoSuchThread => String::from("the file server is gone"),
        Error::Timeout => String::from("the file server did not answer in time"),
        Error::InvalidArgument => String::from("invalid name"),
        e => format!("{e}"),
    }
}

/// The file server, or why not.
fn file_server() -> Result<FilesClient, String> {
    fs::find(Timeout::Ticks(100)).map_err(|e| format!("no file server ({e})\n"))
}

fn ls() -> String {
    let server = match file_server() {
        Ok(s) => s,
        Err(e) => return format!("ls: {e}"),
    };
    let mut t = String::new();
    for index in 0.. {
        match flat(server.list(index)) {
            Ok(e) => t += &format!("{:>8}  {}\n", e.size, e.name),
            Err(Error::NotFound) => break,
            Err(e) => return format!("{t}ls: {}\n", why(e)),
        }
    }
    t
}

fn cat(file: &str) -> String {
    let server = match file_server() {
        Ok(s) => s,
        Err(e) => return format!("cat: {e}"),
    };
    let mut data = Vec::new();
    match fs::read_all(server, file, &mut data) {
        Ok(()) => {
            let mut t = String::from_utf8_lossy(&data).into_owned();
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t
        }
        Err(e) => format!("cat: {file}: {}\n", why(e)),
    }
}

fn write(file: &str, text: &str) -> String {
    if fs::file_name(file).is_err() {
        return format!(
            "write: {file:?}: invalid file name (1 to {} bytes, no '/' or spaces)\nusage: {}\n",
            fs::FILE_NAME_MAX,
            usage("write")
        );
    }
    let server = match file_server() {
        Ok(s) => s,
        Err(e) => return format!("write: {e}"),
    };
    let mut data = Vec::from(text.as_bytes());
    data.push(b'\n');
    match fs::write_all(server, file, &data) {
        Ok(()) => String::new(),
        Err(e) => format!("write: {file}: {}\n", why(e)),
    }
}

fn rm(file: &str) -> String {
    let server = match file_server() {
        Ok(s) => s,
        Err(e) => return format!("rm: {e}"),
    };
    match fs::file_name(file).and_then(|name| flat(server.remove(name))) {
        Ok(()) => String::new(),
        Err(e) => format!("rm: {file}: {}\n", why(e)),
    }
}

fn ps() -> String {
    let records = match libsys::task::ps() {
        Ok(r) => r,
        Err(e) => return format!("ps: {e}\n"),
    };
    let mut t = String::from(" TASK PARENT THREADS STATE    RESTARTS NAME\n");
    for r in records.iter().filter(|r| r.kind == ps::kind::TASK) {
        let restarts = moroso_apps::init_proto::restarts(r.name());
        t += &format!(
            "{:>5} {:>6} {:>7} {:<8} {:>8} {}\n",
            r.id,
            r.parent,
            r.threads,
            ps::state::name(r.state),
            restarts,
            r.name()
        );
    }
    t += "  TID  TASK STATE       NAME\n";
    for r in records.iter().filter(|r| r.kind == ps::kind::THREAD) {
        t += &format!("{:>5} {:>5} {:<11} {}\n", r.id, r.task, ps::state::name(r.state), r.name());
    }
    t
}

fn run(program: &str, arg: u64) -> String {
    // A second copy of a program init starts at boot (init, a server, the shell) would
    // fight the first for its name, its device or the console.
    // (Program 0 is init, which the kernel starts.)
    let programs = libsys::task::programs().unwrap_or_default();
    if programs.iter().enumerate().any(|(i, p)| p.name() == program && (i == 0 || p.boot.start != 0)) {
        return format!("run: {program}: refused: it is started at boot, and one copy runs already\n");
    }
    match libsys::task::spawn(program, arg).and_then(libsys::task::wait) {
        Ok(status) => format!("{program} exited with status {}\n", libsys::abi::status::describe(status)),
        Err(e) => format!("run: {program}: {}\n", why(e)),
    }
}

/// The console server to read from and write to: the thread holding the name `console`,
/// checked against the task records. When the image has a `console` program, that thread
/// must run it, as init started it (the name server lets nobody else hold the name, and
/// this check does not rely on that). Without one in the image (a test image running the
/// console under another name), the name's holder is taken as it is.
fn find_console() -> Result<u32, String> {
    let con =
        libsys::name::lookup(console::NAME, Timeout::Ticks(500)).map_err(|e| format!("no console server ({e})"))?;
    let who = libsys::task::Identity::now().map_err(|e| format!("cannot check the console server: {e}"))?;
    if who.program(console::PROGRAM).is_some() && !who.runs_system_program(con, console::PROGRAM) {
        return Err(format!("thread {con} holds the name {} but is not the console server", console::NAME));
    }
    Ok(con)
}

fn main() -> i32 {
    let interactive = libsys::task::arg() & FIRST_ARG_INTERACTIVE != 0;
    let con = match find_console() {
        Ok(con) => con,
        Err(e) => {
            libsys::println!("shell: {e}");
            return 1;
        }
    };
    match console::subscribe(con) {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            libsys::println!("shell: the console server refused to pass me the input: {why:?}");
            return 1;
        }
        Err(e) => {
            libsys::println!("shell: cannot subscribe to the console server: {e}");
            return 1;
        }
    }
    let mut shell =
        Shell { console: con, interactive, line: Vec::with_capacity(LINE_MAX), over: 0, last: Vec::new(), escape: 0 };
    if interactive {
        shell.out("moroso shell: type a command and press Enter; 'help' lists them\n");
    } else {
        shell.out(&format!("{SCRIPT_READY}\n"));
    }
    shell.prompt();
    loop {
        // Typed input comes from the console server's thread only: the shell holds the
        // kill power, so a line from anyone else (any program can send here) is dropped
        // unread, never run.
        let Ok(Incoming::Async { msg: Input { len, data }, from }) = ipc::receive::<Input>(Timeout::Forever) else {
            continue;
        };
        if from != con {
            continue;
        }
        let len = (len as usize).min(data.len());
        for &b in &data[..len] {
            if let Some(Next::Exit) = shell.key(b) {
                return 0;
            }
        }
    }
}
