//! The first program (the kernel starts program 0 of the boot image, and only it): starts
//! the image's other programs and supervises them, as the image's boot policy says
//! (`abi::image::Boot`, written from the manifest `system.toml`).
//!
//! - The name server (`abi::name::SERVER_PROGRAM`) is started first, if marked `start`;
//!   then init registers its name `init`, and only then starts every other program marked
//!   `start`, in image order, with init's own argument (bit `FIRST_ARG_INTERACTIVE`: a
//!   person is at the console).
//! - One watcher thread per started program waits for its task to end. A program with a
//!   restart policy is started again (up to its `restart_max`) after a delay that doubles
//!   with each restart (`init_proto::restart_delay`), and its restarts counted;
//!   init answers queries for them under the name `init` (`moroso_apps::init_proto`'s
//!   `Init` interface).
//! - When every `awaited` program has ended (or, with none awaited, every started one),
//!   init stops the others (`task_kill`: they are its children), then any task they left
//!   behind (init is the nearest live ancestor of every orphan), prints a
//!   `moroso: program NAME ended with status N` line for each awaited program that failed,
//!   and ends with status 0 if none did, else the first failure's status; the kernel then
//!   powers off.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use libsys::abi::image::{Restart, FIRST_ARG_INTERACTIVE};
use libsys::println;
use libsys::sync::{Condvar, Mutex};
use moroso_apps::init_proto::{restart_delay, Init, InitServer, ProgramName};

libsys::entry!(main);

struct Program {
    name: String,
    restart: Restart,
    restart_max: u16,
    awaited: bool,
    /// The task running it now (0: none).
    task: u32,
    restarts: u32,
    /// Its last status, once it has ended for good.
    ended: Option<i32>,
}

struct State {
    programs: Vec<Program>,
    /// Set once the system is done: watchers restart nothing after it.
    stopping: bool,
}

static STATE: Mutex<State> = Mutex::new(State { programs: Vec::new(), stopping: false });
static CHANGED: Condvar = Condvar::new();
/// The argument every started program gets (init's own).
static ARG: AtomicU64 = AtomicU64::new(0);

fn arg() -> u64 {
    ARG.load(Ordering::Relaxed)
}

/// Waits for program `index`'s task to end, restarting it as its policy says.
fn watch(index: usize) {
    loop {
        let task = STATE.lock().programs[index].task;
        let status = libsys::task::wait(task).unwrap_or(libsys::abi::status::KILLED);
        let mut s = STATE.lock();
        let stopping = s.stopping;
        let p = &mut s.programs[index];
        p.task = 0;
        let again = !stopping
            && p.restarts < p.restart_max as u32
            && match p.restart {
                Restart::Never => false,
                Restart::OnFailure => status != 0,
                Restart::Always => true,
            };
        if !again {
            p.ended = Some(status);
            CHANGED.notify_all();
            return;
        }
        // Back off first: the wait doubles with each restart of the same program.
        let delay = restart_delay(p.restarts);
        println!(
            "init: {} ended with status {}; restarting it in {delay} ticks",
            p.name,
            libsys::abi::status::describe(status)
        );
        drop(s);
        let _ = libsys::time::sleep(delay);
        let mut s = STATE.lock();
        let stopping = s.stopping;
        let p = &mut s.programs[index];
        if !stopping {
            match libsys::task::spawn(&p.name, arg()) {
                Ok(t) => {
                    p.task = t;
                    p.restarts += 1;
                    continue;
                }
                Err(e) => println!("init: cannot restart {}: {e}", p.name),
            }
        }
        p.ended = Some(status);
        CHANGED.notify_all();
        return;
    }
}

/// Init's answers: read from the supervision state.
struct Queries;

impl Init for Queries {
    fn restarts(&mut self, program: ProgramName) -> u32 {
        let s = STATE.lock();
        s.programs.iter().find(|p| p.name == program.as_str()).map_or(0, |p| p.restarts)
    }
}

/// Whether the query thread has registered init's name (`Some(ok)`) or not yet (`None`).
static REGISTERED: Mutex<Option<bool>> = Mutex::new(None);
/// Signalled when `REGISTERED` is set.
static REGISTERED_SET: Condvar = Condvar::new();

/// Answers `Init` queries (the shell's `ps`), for as long as receiving works. Registers
/// init's name first, and says so (`REGISTERED`): init starts nothing else until then.
fn serve(_: usize) {
    let r = libsys::name::register(moroso_apps::init_proto::NAME);
    if let Err(e) = r {
        println!("init: cannot register my name: {e}");
    }
    *REGISTERED.lock() = Some(r.is_ok());
    REGISTERED_SET.notify_all();
    if r.is_err() {
        return;
    }
    let e = InitServer::serve(&mut Queries);
    println!("init: cannot answer queries: {e}");
}

/// Starts image program `p`, recording it; whether it started.
fn start(p: &libsys::abi::image::ProgramInfo) -> bool {
    let name = String::from(p.name());
    match libsys::task::spawn(&name, arg()) {
        Ok(task) => {
            STATE.lock().programs.push(Program {
                name,
                restart: Restart::from_u8(p.boot.restart).unwrap_or(Restart::Never),
                restart_max: p.boot.restart_max,
                awaited: p.boot.awaited != 0,
                task,
                restarts: 0,
                ended: None,
            });
            true
        }
        Err(e) => {
            println!("init: cannot start {name}: {e}");
            false
        }
    }
}

fn main() -> i32 {
    ARG.store(libsys::task::arg(), Ordering::Relaxed);
    let interactive = arg() & FIRST_ARG_INTERACTIVE != 0;
    println!(
        "init: Moroso userland is up (thread {}){}",
        libsys::raw::gettid(),
        if interactive { ", interactive" } else { "" }
    );
    let image = match libsys::task::programs() {
        Ok(p) => p,
        Err(e) => {
            println!("init: cannot read the boot image: {e}");
            return 1;
        }
    };
    let mut count = 0;
    let starts = |p: &&libsys::abi::image::ProgramInfo| p.boot.start != 0;
    let is_names = |p: &&libsys::abi::image::ProgramInfo| p.name() == libsys::abi::name::SERVER_PROGRAM;
    // The name server first, then init's own name, before any other program runs: so no
    // program init starts can be there before init's name is taken.
    for p in image.iter().skip(1).filter(starts).filter(is_names) {
        count += start(p) as usize;
    }
    if count > 0 {
        let _ = libsys::thread::spawn(serve, 0);
        let mut r = REGISTERED.lock();
        while r.is_none() {
            r = REGISTERED_SET.wait(r);
        }
    }
    for p in image.iter().skip(1).filter(starts).filter(|p| !is_names(p)) {
        count += start(p) as usize;
    }
    // Watchers after every start, so `programs` no longer grows while they index it.
    for i in 0..count {
        if let Err(e) = libsys::thread::spawn(watch, i) {
            println!("init: cannot watch {}: {e}", STATE.lock().programs[i].name);
        }
    }
    let awaits_some = STATE.lock().programs.iter().any(|p| p.awaited);
    let mut s = STATE.lock();
    while s.programs.iter().any(|p| (p.awaited || !awaits_some) && p.ended.is_none()) {
        s = CHANGED.wait(s);
    }
    s.stopping = true;
    let rest: Vec<u32> = s.programs.iter().filter(|p| p.ended.is_none() && p.task != 0).map(|p| p.task).collect();
    drop(s);
    for task in rest {
        // Its watcher collects the status.
        let _ = libsys::task::kill(task);
    }
    // Whatever the programs left behind (their children, orphaned when a program ended or
    // was stopped) is init's to end too: init is their nearest live ancestor, and the
    // kernel powers off only when no task is left.
    if let Ok(records) = libsys::task::ps() {
        use libsys::abi::ps::{kind, state};
        let me = records.iter().find(|r| r.kind == kind::THREAD && r.state == state::RUNNING).map(|r| r.task);
        for r in records.iter().filter(|r| r.kind == kind::TASK && r.state == state::TASK_LIVE) {
            if Some(r.id) != me {
                let _ = libsys::task::kill(r.id);
            }
        }
    }
    let s = STATE.lock();
    let mut status = 0;
    for p in s.programs.iter().filter(|p| p.awaited || !awaits_some) {
        let st = p.ended.unwrap_or(0);
        println!("init: {} exited with status {st}", p.name);
        if st != 0 {
            println!(
                "{}{} ended with status {}",
                libsys::abi::report::PROGRAM_STATUS_PREFIX,
                p.name,
                libsys::abi::status::describe(st)
            );
            if status == 0 {
                status = st;
            }
        }
    }
    status
}
