//! In-guest tests of the Moroso system: the manifest's limits taking effect, `ps`,
//! `image_programs` and `task_kill`, the name server (`libsys::name`) and the file server
//! (`moroso_apps::fs_proto`), including a large file read by pages and a restart of the
//! file server by init.
//!
//! Booted by the `system` step in an image of init, the name server, the file server and
//! this program (started and awaited by init, as the manifest says). Copies of it started
//! with a role argument ([`Role`]) play the other programs some cases need.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use libsys::abi::ipc::Timeout;
use libsys::abi::name::{PER_TASK_MAX, TABLE_MAX};
use libsys::abi::{ps, Error, Syscall};
use libsys::ipc::IpcError;
use moroso_apps::fs_proto::{self as fs, file_name, flat, FilesClient};
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

libsys::entry!(main);

/// How long a case waits for an event (a name to appear) before it fails instead of
/// hanging the suite: far beyond what the event takes, even under slow emulation.
const WAIT: u32 = 3000;

/// What a copy started with an argument does (the argument is the role's number).
#[derive(Clone, Copy)]
#[repr(u64)]
enum Role {
    /// Registers `held`, then waits for good.
    Hold = 1,
    /// Registers names until refused for want of room (its share); exits with how many it
    /// got (negative: an unexpected error's code).
    Fill = 2,
    /// Waits until `late-go` is registered, then registers `late` and waits for good.
    Late = 3,
    /// Kills the task in the argument's bits 8 and up; exits 0, or the error's code. Run
    /// as `syskill`, this program under a name the manifest grants the kill power.
    Kill = 4,
    /// Review (h-review): registers names until the table is full, then stays alive
    /// holding them all.
    HogNames = 5,
    /// Review (h-review): starts a copy as `OrphanWait` and exits with its task id, so
    /// that copy becomes an orphan.
    Orphaner = 6,
    /// Review (h-review): waits until `orphan-end` is registered, then exits 0.
    OrphanWait = 7,
    /// Review (h-review): tries to register `fs` every tick for `WAIT` ticks; once it
    /// holds it, waits for good (exits 1 if it never got it).
    Squat = 8,
    /// Registers `systest`, its own program's name, as a copy init did not start; exits 0,
    /// or the error's code.
    RegisterOwn = 9,
    /// Subscribes to the console server (`console`); exits 0, 1 if refused as `Taken`, 2 as
    /// `NotTheShell`, 3 if the call failed.
    Subscribe = 10,
    /// Registers `mute`, takes one call and never answers it.
    Mute = 11,
}

fn wait_forever() -> ! {
    loop {
        let _ = libsys::ipc::receive::<u32>(Timeout::Forever);
    }
}

fn role(arg: u64) -> i32 {
    match arg {
        a if a == Role::Hold as u64 => {
            if libsys::name::register("held").is_err() {
                return 1;
            }
            wait_forever()
        }
        a if a == Role::Fill as u64 => {
            for i in 0.. {
                match libsys::name::register(&format!("fill{i}")) {
                    Ok(()) => {}
                    Err(Error::NoSpace) => return i,
                    Err(e) => return e.code(),
                }
            }
            -1
        }
        a if a == Role::Late as u64 => {
            if libsys::name::lookup("late-go", Timeout::Forever).is_err() || libsys::name::register("late").is_err() {
                return 1;
            }
            wait_forever()
        }
        a if a & 0xff == Role::Kill as u64 => match libsys::task::kill((a >> 8) as u32) {
            Ok(()) => 0,
            Err(e) => e.code(),
        },
        a if a == Role::HogNames as u64 => {
            for i in 0.. {
                match libsys::name::register(&format!("hog{}-{i}", libsys::raw::gettid())) {
                    Ok(()) => {}
                    Err(Error::NoSpace) => break,
                    Err(e) => return e.code(),
                }
            }
            wait_forever()
        }
        a if a == Role::Orphaner as u64 => match spawn_role(Role::OrphanWait) {
            Ok(id) => id as i32,
            Err(e) => e.code(),
        },
        a if a == Role::OrphanWait as u64 => {
            let _ = libsys::name::lookup("orphan-end", Timeout::Forever);
            0
        }
        a if a == Role::Squat as u64 => {
            let t0 = libsys::time::ticks();
            while libsys::time::ticks() < t0 + WAIT as u64 {
                if libsys::name::register(fs::NAME).is_ok() {
                    wait_forever()
                }
                let _ = libsys::time::sleep(1);
            }
            1
        }
        a if a == Role::Subscribe as u64 => {
            use moroso_apps::console_proto::{self as console, Refusal};
            let Ok(con) = libsys::name::lookup(console::NAME, Timeout::Ticks(WAIT)) else { return 3 };
            match console::subscribe(con) {
                Ok(Ok(())) => 0,
                Ok(Err(Refusal::Taken)) => 1,
                Ok(Err(_)) => 2,
                Err(_) => 3,
            }
        }
        a if a == Role::Mute as u64 => {
            if libsys::name::register("mute").is_err() {
                return 1;
            }
            let call = libsys::ipc::receive::<moroso_apps::console_proto::Request>(Timeout::Forever);
            // Hold the call (its reply token) unanswered for good.
            loop {
                let _ = libsys::time::sleep(1000);
                let _ = &call;
            }
        }
        a if a == Role::RegisterOwn as u64 => match libsys::name::register("systest") {
            Ok(()) => 0,
            Err(e) => e.code(),
        },
        _ => 99,
    }
}

/// A console request with the operation byte of the retired `Quit` (3), laid out as
/// `console_proto::Request`: what a stranger sends to stop the console server.
#[derive(libsys::Message, Clone, Copy)]
#[repr(C)]
#[message(reply = moroso_apps::console_proto::Reply)]
struct RetiredQuit {
    op: u8,
    len: u8,
    data: [u8; moroso_apps::console_proto::CHUNK],
}

impl RetiredQuit {
    fn new() -> RetiredQuit {
        RetiredQuit { op: 3, len: 0, data: [0; moroso_apps::console_proto::CHUNK] }
    }
}

/// Whether the task `id` is still in the task table (live or uncollected).
fn task_exists(id: u32) -> bool {
    libsys::task::ps().is_ok_and(|r| r.iter().any(|r| r.kind == ps::kind::TASK && r.id == id))
}

/// The state of task `task`'s first thread (`None`: it has none), polled until `done`
/// says yes or `WAIT` ticks pass.
fn poll_thread_state(task: u32, done: impl Fn(Option<u8>) -> bool) -> Option<u8> {
    let t0 = libsys::time::ticks();
    loop {
        let st = libsys::task::ps()
            .ok()
            .and_then(|r| r.iter().find(|r| r.kind == ps::kind::THREAD && r.task == task).map(|r| r.state));
        if done(st) || libsys::time::ticks() > t0 + WAIT as u64 {
            return st;
        }
        let _ = libsys::time::sleep(1);
    }
}

/// Review cases (branch `h-review`) kept in the suite but not run, with why: each needs a
/// kernel change first (the kernel is another branch's work). Remove an entry once its fix
/// has landed; the case must then pass.
const AWAITING_KERNEL_FIXES: &[(&str, &str)] = &[];

/// Runs review case `name` unless it is listed in [`AWAITING_KERNEL_FIXES`], saying so.
fn review_case(s: &mut Suite, name: &str, f: impl FnOnce() -> moroso_apps::harness::CaseResult) {
    match AWAITING_KERNEL_FIXES.iter().find(|(n, _)| *n == name) {
        Some((_, why)) => libsys::println!("systest: not run: {name}: {why}"),
        None => s.case(name, f),
    }
}

fn spawn_role(r: Role) -> Result<u32, Error> {
    libsys::task::spawn("systest", r as u64)
}

fn main() -> i32 {
    let arg = libsys::task::arg();
    if arg != 0 {
        return role(arg);
    }
    let mut s = Suite::new();

    s.case("manifest::thread_limit_from_system_toml", || {
        // systest's manifest entry says `threads = 3`: this thread and two more.
        static GO: AtomicBool = AtomicBool::new(false);
        static DONE: AtomicU32 = AtomicU32::new(0);
        let hold = |_| {
            while !GO.load(Ordering::SeqCst) {
                libsys::time::yield_now();
            }
            DONE.fetch_add(1, Ordering::SeqCst);
        };
        let a = libsys::thread::spawn(hold, 0);
        let b = libsys::thread::spawn(hold, 0);
        let c = libsys::thread::spawn(hold, 0);
        GO.store(true, Ordering::SeqCst);
        let started = [&a, &b, &c].iter().filter(|r| r.is_ok()).count() as u32;
        while DONE.load(Ordering::SeqCst) < started {
            libsys::time::yield_now();
        }
        ensure!(a.is_ok() && b.is_ok(), "two more threads fit: {a:?} {b:?}");
        ensure_eq!(c, Err(Error::OutOfMemory), "a fourth thread is past the manifest's limit");
        Ok(())
    });

    s.case("ps::lists_this_task_and_thread", || {
        let records = libsys::task::ps().map_err(|e| moroso_apps::harness::Msg::new(format_args!("ps: {e}")))?;
        let me = libsys::raw::gettid();
        let t = records.iter().find(|r| r.kind == ps::kind::THREAD && r.id == me);
        ensure!(t.is_some_and(|t| t.state == ps::state::RUNNING && t.name() == "systest"), "my thread: {t:?}");
        let task = t.map_or(0, |t| t.task);
        let mine = records.iter().find(|r| r.kind == ps::kind::TASK && r.id == task);
        ensure!(mine.is_some_and(|m| m.state == ps::state::TASK_LIVE && m.parent != 0), "my task: {mine:?}");
        ensure_eq!(records.first().map(|r| r.name()), Some("init"), "tasks first, init first");
        Ok(())
    });

    s.case("ps::bounded_and_checked", || {
        let mut one = [ps::Record::EMPTY; 1];
        let total = libsys::raw::ps(&mut one[..0]);
        ensure!(total >= 5, "capacity 0 still counts everything: {total}");
        ensure_eq!(libsys::raw::ps(&mut one), total, "a short buffer gets the total");
        ensure_eq!(one[0].name(), "init", "and the first record");
        // SAFETY: every pointer here is invalid on purpose; the kernel must refuse it
        // without writing anywhere.
        let call =
            |ptr: u64, cap: u64| unsafe { libsys::raw::syscall_number(Syscall::Ps as u64, [ptr, cap, 0, 0, 0, 0]).0 };
        let bad = Error::BadAddress.code() as i64;
        ensure_eq!(call(0, 1), bad, "null");
        ensure_eq!(call(0xffff_8000_0000_0000, 1), bad, "kernel memory");
        ensure_eq!(call(one.as_mut_ptr() as u64, u64::MAX), bad, "a capacity far past the buffer");
        ensure_eq!(call(0x0000_7fff_ffff_f000, 2), bad, "across the end of user space");
        Ok(())
    });

    s.case("image_programs::lists_the_image_with_boot_policy", || {
        let p = libsys::task::programs().map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(p.first().map(|p| p.name()), Some("init"), "program 0");
        let me = p.iter().find(|p| p.name() == "systest");
        ensure!(me.is_some_and(|m| m.boot.start == 1 && m.boot.awaited == 1), "systest: {me:?}");
        let f = p.iter().find(|p| p.name() == "fs");
        ensure!(f.is_some_and(|f| f.boot.restart == libsys::abi::image::Restart::OnFailure as u8), "fs: {f:?}");
        Ok(())
    });

    s.case("kill::ancestors_only", || {
        ensure_eq!(libsys::task::kill(1), Err(Error::PermissionDenied), "init is not ours to kill");
        let child = spawn_role(Role::Hold).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(libsys::task::kill(child), Ok(()), "a child is");
        ensure_eq!(libsys::task::wait(child), Ok(libsys::abi::status::KILLED), "its status says so");
        ensure_eq!(libsys::task::kill(child), Err(Error::NoSuchTask), "gone");
        Ok(())
    });

    s.case("names::register_and_lookup", || {
        ensure_eq!(libsys::name::register("systest"), Ok(()), "register");
        ensure_eq!(libsys::name::register("systest"), Ok(()), "again, by its holder");
        ensure_eq!(libsys::name::lookup("systest", Timeout::Poll), Ok(libsys::raw::gettid()), "lookup");
        ensure_eq!(libsys::name::lookup("nobody", Timeout::Poll), Err(Error::Timeout), "poll of a missing name");
        let t0 = libsys::time::ticks();
        ensure_eq!(libsys::name::lookup("nobody", Timeout::Ticks(3)), Err(Error::Timeout), "waited");
        ensure!(libsys::time::ticks() >= t0 + 3, "waited the timeout out");
        ensure_eq!(libsys::name::register(""), Err(Error::InvalidArgument), "empty");
        ensure_eq!(libsys::name::register(&"x".repeat(33)), Err(Error::InvalidArgument), "too long");
        Ok(())
    });

    s.case("names::lookup_waits_for_the_name", || {
        let child = spawn_role(Role::Late).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        // The child registers `late` only after this: the lookup below must wait for it.
        ensure_eq!(libsys::name::lookup("late", Timeout::Poll), Err(Error::Timeout), "not yet");
        ensure_eq!(libsys::name::register("late-go"), Ok(()), "go");
        let found = libsys::name::lookup("late", Timeout::Ticks(WAIT));
        let _ = libsys::task::kill(child);
        let _ = libsys::task::wait(child);
        ensure!(found.is_ok(), "found once registered: {found:?}");
        Ok(())
    });

    s.case("names::taken_then_released_by_death", || {
        let child = spawn_role(Role::Hold).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let holder = libsys::name::lookup("held", Timeout::Ticks(WAIT));
        ensure!(holder.is_ok_and(|t| t != libsys::raw::gettid()), "the child holds it: {holder:?}");
        ensure_eq!(libsys::name::register("held"), Err(Error::AlreadyExists), "a living holder keeps it");
        let _ = libsys::task::kill(child);
        let _ = libsys::task::wait(child);
        ensure_eq!(libsys::name::lookup("held", Timeout::Poll), Err(Error::Timeout), "released by its death");
        ensure_eq!(libsys::name::register("held"), Ok(()), "free for another");
        Ok(())
    });

    s.case("names::a_tasks_share_is_an_error_and_loses_nothing", || {
        let child = spawn_role(Role::Fill).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let got = libsys::task::wait(child);
        ensure_eq!(got, Ok(PER_TASK_MAX as i32), "a task gets its share, then NoSpace");
        ensure_eq!(libsys::name::lookup("systest", Timeout::Poll), Ok(libsys::raw::gettid()), "earlier names kept");
        // The filler is dead: its names go when room is needed.
        ensure_eq!(libsys::name::register("after-full"), Ok(()), "dead names swept");
        Ok(())
    });

    s.case("names::a_full_table_still_takes_program_names", || {
        // Enough living hogs (each takes its share and waits) fill the table for everyone
        // else; a program's own name is kept apart and still fits.
        let mut hogs = Vec::new();
        for _ in 0..TABLE_MAX / PER_TASK_MAX {
            if let Ok(t) = spawn_role(Role::HogNames) {
                hogs.push(t);
            }
        }
        for &h in &hogs {
            poll_thread_state(h, |s| s.is_none() || s == Some(ps::state::RECEIVING));
        }
        let other = libsys::name::register("one-more");
        let own = libsys::name::register("systest");
        for &h in &hogs {
            let _ = libsys::task::kill(h);
            let _ = libsys::task::wait(h);
        }
        let after = libsys::name::register("one-more");
        ensure_eq!(hogs.len(), TABLE_MAX / PER_TASK_MAX, "hogs started");
        ensure_eq!(other, Err(Error::NoSpace), "the table is full for other names");
        ensure_eq!(own, Ok(()), "a program's own name still fits");
        ensure_eq!(after, Ok(()), "room again once the hogs are gone");
        Ok(())
    });

    s.case("names::program_names_belong_to_their_program", || {
        // Names of image programs: only that program, as init started it, may take them.
        ensure_eq!(libsys::name::register("fs"), Err(Error::PermissionDenied), "the file server's");
        ensure_eq!(libsys::name::register("init"), Err(Error::PermissionDenied), "init's");
        ensure_eq!(libsys::name::register("names"), Err(Error::PermissionDenied), "the name server's");
        ensure_eq!(libsys::name::register("faultyfs"), Err(Error::PermissionDenied), "one not started at boot");
        ensure_eq!(libsys::name::register("systest"), Ok(()), "its own, as init started it");
        let who = libsys::task::Identity::now().map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let init = libsys::name::lookup("init", Timeout::Poll).map(|t| who.thread(t).map(|r| r.task));
        ensure_eq!(init, Ok(who.init()), "`init` is held by init");
        let copy = spawn_role(Role::RegisterOwn).and_then(libsys::task::wait);
        ensure_eq!(
            copy,
            Ok(Error::PermissionDenied.code()),
            "a copy of systest that init did not start cannot take systest's name"
        );
        Ok(())
    });

    s.case("fs::small_files", || {
        let srv = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(fs::write_all(srv, "t.txt", b"hello\n"), Ok(()), "write");
        let mut back = Vec::new();
        ensure_eq!(fs::read_all(srv, "t.txt", &mut back), Ok(()), "read");
        ensure_eq!(back.as_slice(), b"hello\n".as_slice(), "same bytes");
        let name = file_name("t.txt").map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(flat(srv.stat(name)), Ok(6), "stat");
        let mut listed = false;
        for index in 0..fs::FILES_MAX as u32 {
            match flat(srv.list(index)) {
                Ok(e) => listed |= e.name.as_str() == "t.txt",
                Err(_) => break,
            }
        }
        ensure!(listed, "listed");
        ensure_eq!(flat(srv.remove(name)), Ok(()), "remove");
        ensure_eq!(flat(srv.stat(name)), Err(Error::NotFound), "gone");
        ensure_eq!(fs::read_all(srv, "missing", &mut back), Err(Error::NotFound), "missing file");
        ensure_eq!(fs::write_all(srv, "a/b", b"x"), Err(Error::InvalidArgument), "bad name");
        Ok(())
    });

    s.case("fs::packed_files_and_a_large_file_by_pages", || {
        let srv = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let mut readme = Vec::new();
        ensure_eq!(fs::read_all(srv, "README.md", &mut readme), Ok(()), "the README is packed");
        ensure!(readme.starts_with(b"# "), "it is the README");
        let (pages, size) = fs::read_pages(srv, "README.md")
            .map_err(|e| moroso_apps::harness::Msg::new(format_args!("read_pages: {e}")))?;
        ensure_eq!(size, readme.len(), "size");
        ensure!(pages.count() >= 2, "several pages: {}", pages.count());
        ensure!(&pages.as_bytes()[..size] == readme.as_slice(), "same bytes by pages as by short reads");
        drop(pages);
        // A large file written at run time, read back by pages.
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        ensure_eq!(fs::write_all(srv, "big.bin", &big), Ok(()), "write 40 KB");
        let (pages, size) = fs::read_pages(srv, "big.bin")
            .map_err(|e| moroso_apps::harness::Msg::new(format_args!("read_pages: {e}")))?;
        ensure_eq!(size, big.len(), "size");
        ensure!(&pages.as_bytes()[..size] == big.as_slice(), "same bytes");
        drop(pages);
        ensure_eq!(file_name("big.bin").and_then(|n| flat(srv.remove(n))), Ok(()), "rm");
        Ok(())
    });

    s.case("fs::full_is_an_error_and_loses_nothing", || {
        let srv = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let mut made = 0;
        let full = loop {
            match fs::write_all(srv, &format!("f{made}"), b"data") {
                Ok(()) => made += 1,
                Err(e) => break e,
            }
            if made > fs::FILES_MAX {
                break Error::InvalidArgument;
            }
        };
        ensure_eq!(full, Error::NoSpace, "the table fills");
        let mut back = Vec::new();
        ensure_eq!(fs::read_all(srv, "f0", &mut back), Ok(()), "the first file is still there");
        ensure_eq!(back.as_slice(), b"data".as_slice(), "unchanged");
        let too_big = alloc::vec![7u8; fs::FILE_MAX + 1];
        ensure_eq!(fs::write_all(srv, "f0", &too_big), Err(Error::NoSpace), "a file past FILE_MAX");
        for i in 0..made {
            let _ = file_name(&format!("f{i}")).and_then(|name| flat(srv.remove(name)));
        }
        Ok(())
    });

    s.case("fs::hostile_requests_are_refused", || {
        let srv = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        // Names the client helpers would refuse, sent anyway: the server checks them too.
        for bad in ["", "a/b", "a b", "tab\t"] {
            let name = fs::FileName::new(bad).unwrap_or(fs::FileName::EMPTY);
            ensure_eq!(flat(srv.stat(name)), Err(Error::InvalidArgument), "stat {bad:?}");
            ensure_eq!(flat(srv.write(name, fs::Chunk::EMPTY, true)), Err(Error::InvalidArgument), "write {bad:?}");
        }
        // Lent pages too small for the file: refused, nothing written past them.
        let name = file_name("README.md").map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let mut one = libsys::ipc::Pages::alloc(fs::CLIENT_PAGES, 1)
            .map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?
            .into_shared();
        ensure_eq!(flat(srv.read_pages(name, &mut one)), Err(Error::TooLong), "one page for the README");
        // The request alone, without the pages its operation takes: refused, not run.
        let bare = libsys::ipc::call(srv.tid(), &fs::FilesReadPagesRequest { name }, Timeout::Ticks(WAIT));
        ensure!(
            matches!(bare, Ok(libsys::ipc::interface::Reply::Refused(libsys::ipc::Refusal::BadRequest))),
            "read_pages without pages: {bare:?}"
        );
        ensure_eq!(flat(srv.stat(name)).map(|n| n > 0), Ok(true), "the server goes on");
        Ok(())
    });

    s.case("fs::a_server_dying_mid_request_fails_the_request", || {
        // `faultyfs` registers under its program name and ends inside any method given
        // the file `die`: the request was received, and is never answered.
        let task =
            libsys::task::spawn("faultyfs", 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let tid = libsys::name::lookup("faultyfs", Timeout::Ticks(WAIT));
        let tid = tid.map_err(|e| moroso_apps::harness::Msg::new(format_args!("faultyfs not found: {e}")))?;
        let faulty = FilesClient::new(tid);
        let name = file_name("other").map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(flat(faulty.stat(name)), Err(Error::NotFound), "it serves");
        let die = file_name("die").map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        // No timeout: the call must end because the server died, not because we gave up.
        ensure_eq!(faulty.stat(die), Err(IpcError::Sys(Error::PeerDied)), "the pending request fails");
        ensure_eq!(libsys::task::wait(task), Ok(3), "it ended in the method");
        ensure_eq!(faulty.stat(name), Err(IpcError::Sys(Error::NoSuchThread)), "and later calls fail at once");
        Ok(())
    });

    s.case("supervision::fs_restarted_after_a_crash", || {
        let old = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        ensure_eq!(fs::write_all(old, "scratch", b"lost with the server"), Ok(()), "write");
        let records = libsys::task::ps().map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let task = records.iter().find(|r| r.kind == ps::kind::THREAD && r.id == old.tid()).map(|r| r.task);
        let task = task.ok_or_else(|| moroso_apps::harness::Msg::new(format_args!("no task for fs")))?;
        ensure_eq!(libsys::task::kill(task), Err(Error::PermissionDenied), "not ours to kill");
        // `syskill` holds the kill power (system.toml): a crash of the server, as init sees it.
        let t0 = libsys::time::ticks();
        let killer = libsys::task::spawn("syskill", Role::Kill as u64 | (task as u64) << 8);
        let killed = killer.and_then(libsys::task::wait);
        ensure_eq!(killed, Ok(0), "syskill killed fs");
        let mut probe = Vec::new();
        let e = fs::read_all(old, "scratch", &mut probe);
        ensure!(matches!(e, Err(Error::NoSuchThread | Error::PeerDied)), "the old server is gone: {e:?}");
        // Init restarts it; it registers again under the same name.
        let new = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let found = libsys::time::ticks();
        ensure!(new.tid() != old.tid(), "a new server thread: {}", new.tid());
        // Init backs off before a restart: the new server cannot have been started before
        // the delay passed (a lower bound, so no timing luck; one tick of slack for the
        // kernel's tick being counted before the sleep's).
        let delay = moroso_apps::init_proto::restart_delay(0) as u64;
        ensure!(found >= t0 + delay - 1, "restarted after init's delay: {} ticks, delay {delay}", found - t0);
        let mut readme = Vec::new();
        ensure_eq!(fs::read_all(new, "README.md", &mut readme), Ok(()), "the new server has the packed files");
        ensure_eq!(fs::read_all(new, "scratch", &mut probe), Err(Error::NotFound), "not what the old one was given");
        ensure_eq!(moroso_apps::init_proto::restarts("fs"), 1, "init counted the restart");
        Ok(())
    });

    // ---- Security review (branch h-review): each case below fails on the reviewed
    // code and shows a finding; none of them crashes the kernel. The last one crashes the
    // file server (init restarts it), so it stays last.

    review_case(&mut s, "review::a_living_program_cannot_take_every_name", || {
        // A program that registers names until refused and then lives on: nobody else can
        // register a name (a restarted file server cannot take `fs` back).
        let child = spawn_role(Role::HogNames).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let st = poll_thread_state(child, |s| s.is_none() || s == Some(ps::state::RECEIVING));
        let mine = libsys::name::register("after-hog");
        let _ = libsys::task::kill(child);
        let _ = libsys::task::wait(child);
        ensure_eq!(st, Some(ps::state::RECEIVING), "the hog holds its names and waits");
        ensure_eq!(mine, Ok(()), "another program can still register a name while the hog lives");
        Ok(())
    });

    review_case(&mut s, "review::an_ancestor_can_still_end_an_orphaned_descendant", || {
        // A child starts a grandchild and exits: the grandchild loses its parent, and with
        // it every ancestor's right to end it (init's shutdown cannot stop it either, so
        // the machine never powers off while it runs).
        let child = spawn_role(Role::Orphaner).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let gc = libsys::task::wait(child).map_err(|e| moroso_apps::harness::Msg::new(format_args!("wait: {e}")))?;
        ensure!(gc > 0, "the child started a grandchild: {gc}");
        let gc = gc as u32;
        let killed = libsys::task::kill(gc);
        // Let it end by itself if it still runs, and wait until it has (else it would keep
        // the machine from powering off).
        let _ = libsys::name::register("orphan-end");
        let t0 = libsys::time::ticks();
        while task_exists(gc) && libsys::time::ticks() < t0 + WAIT as u64 {
            let _ = libsys::time::sleep(1);
        }
        ensure!(!task_exists(gc), "the grandchild ended");
        ensure!(
            matches!(killed, Ok(()) | Err(Error::NoSuchTask)),
            "its grandparent may end it (or it ended with its parent): {killed:?}"
        );
        Ok(())
    });

    review_case(&mut s, "review::the_shell_takes_commands_only_from_its_console", || {
        // The shell holds the kill power and runs whatever `Input` message reaches its
        // mailbox, from anyone: an unprivileged program types `kill N` into it and ends a
        // task it may not end itself (here the file server; init restarts it).
        // `revconsole` and `revshell` are the console and the shell under names whose
        // manifest entries grant what `console` and `shell` have (system.toml).
        use moroso_apps::console_proto::{Input, CHUNK};
        let records = libsys::task::ps().map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let victim = records
            .iter()
            .find(|r| r.kind == ps::kind::TASK && r.state == ps::state::TASK_LIVE && r.name() == "fs")
            .map(|r| r.id)
            .ok_or_else(|| moroso_apps::harness::Msg::new(format_args!("no fs task")))?;
        ensure_eq!(libsys::task::kill(victim), Err(Error::PermissionDenied), "not ours to kill");
        let console =
            libsys::task::spawn("revconsole", 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let _ = libsys::name::lookup(moroso_apps::console_proto::NAME, Timeout::Ticks(WAIT));
        let shell =
            libsys::task::spawn("revshell", 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        // Subscribed and waiting for input.
        let st = poll_thread_state(shell, |s| s.is_none() || s == Some(ps::state::RECEIVING));
        let shell_tid = libsys::task::ps()
            .ok()
            .and_then(|r| r.iter().find(|r| r.kind == ps::kind::THREAD && r.task == shell).map(|r| r.id));
        let mut sent = None;
        if let (Some(ps::state::RECEIVING), Some(tid)) = (st, shell_tid) {
            let line = format!("kill {victim}\n");
            let mut data = [0u8; CHUNK + 1];
            let n = line.len().min(CHUNK);
            data[..n].copy_from_slice(&line.as_bytes()[..n]);
            sent = Some(libsys::ipc::send(tid, &Input { len: n as u8, data }));
            // Give the shell time to run the line.
            let t0 = libsys::time::ticks();
            while task_exists(victim) && libsys::time::ticks() < t0 + 200 {
                let _ = libsys::time::sleep(1);
            }
        }
        let fs_alive = task_exists(victim);
        for t in [shell, console] {
            let _ = libsys::task::kill(t);
            let _ = libsys::task::wait(t);
        }
        ensure!(sent.is_some(), "the shell came up and waits for input ({st:?}, {shell_tid:?})");
        ensure!(fs_alive, "a line sent by a program that is not the console is not run (sent: {sent:?})");
        Ok(())
    });

    review_case(&mut s, "review::a_stranger_cannot_quit_the_console", || {
        // The console server obeyed `Quit` (and `Subscribe`, which takes the typed input
        // away from the shell) from any program: one call ended it for good (no restart
        // policy), leaving the shell with no input and the system unable to end. `Quit`
        // is gone from the protocol; a stranger sends its old operation byte anyway.
        let console =
            libsys::task::spawn("revconsole", 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let tid = poll_thread_state(console, |s| s.is_none() || s == Some(ps::state::RECEIVING));
        let server = libsys::name::lookup(moroso_apps::console_proto::NAME, Timeout::Ticks(WAIT));
        let quit = server.map(|srv| libsys::ipc::call(srv, &RetiredQuit::new(), Timeout::Ticks(WAIT)).is_ok());
        let _ = libsys::time::sleep(5);
        let alive = task_exists(console)
            && libsys::task::ps().is_ok_and(|r| {
                r.iter().any(|r| r.kind == ps::kind::TASK && r.id == console && r.state == ps::state::TASK_LIVE)
            });
        let _ = libsys::task::kill(console);
        let _ = libsys::task::wait(console);
        ensure!(server.is_ok(), "the console came up ({tid:?})");
        ensure!(alive, "the console still runs after a stranger's Quit (the call answered: {quit:?})");
        Ok(())
    });

    s.case("console::a_console_that_never_answers_fails_the_write", || {
        // The client helper bounds its call: a server that takes the request and never
        // answers fails it with `Timeout` instead of holding the client.
        let child = spawn_role(Role::Mute).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let mute = libsys::name::lookup("mute", Timeout::Ticks(WAIT));
        let wrote = mute.map(|m| moroso_apps::console_proto::write(m, b"x"));
        let _ = libsys::task::kill(child);
        let _ = libsys::task::wait(child);
        ensure_eq!(wrote, Ok(Err(IpcError::Sys(Error::Timeout))), "the write timed out");
        Ok(())
    });

    s.case("console::typed_input_goes_to_one_subscriber", || {
        // This image has no `shell` program, so the first subscriber keeps the input
        // (with one, only the shell init started could subscribe); any other is refused.
        use moroso_apps::console_proto::{self as console, Refusal};
        let task =
            libsys::task::spawn("revconsole", 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let con = libsys::name::lookup(console::NAME, Timeout::Ticks(WAIT));
        let first = con.map(console::subscribe);
        let again = con.map(console::subscribe);
        let other = spawn_role(Role::Subscribe).and_then(libsys::task::wait);
        let _ = libsys::task::kill(task);
        let _ = libsys::task::wait(task);
        ensure!(con.is_ok(), "the console came up: {con:?}");
        ensure!(matches!(first, Ok(Ok(Ok(())))), "the first subscriber is taken: {first:?}");
        ensure!(matches!(again, Ok(Ok(Ok(())))), "and may subscribe again: {again:?}");
        ensure_eq!(other, Ok(1), "another program is refused ({:?})", Refusal::Taken);
        Ok(())
    });

    review_case(&mut s, "review::fs_survives_read_only_lent_pages", || {
        // A client lends a read-only page (its own program text) for a ReadPages. Were it
        // delivered, the server would write the file into it and fault (init restarts it,
        // up to restart-max: six such calls would end it for good, with every file written
        // at run time). Only writable pages carry transfer rights: the kernel refuses the
        // send with NotOwner.
        use libsys::Message;
        let srv = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let before = moroso_apps::init_proto::restarts("fs");
        let name = file_name("hello.txt").map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let req = fs::FilesReadPagesRequest { name };
        let mut buf = [0u8; libsys::abi::SHORT_MAX];
        req.encode_into(&mut buf);
        let mut len =
            <fs::FilesReadPagesRequest as Message>::SIZE.max(<fs::FilesReadPagesReply as Message>::SIZE) as u32;
        let text = main as *const () as usize as u64 & !(libsys::abi::PAGE_SIZE as u64 - 1);
        // SAFETY: the kernel reads `buf` and writes the reply (at most `len` bytes) back
        // into it; the long range is this program's own mapped text, shared, not moved.
        let r = unsafe {
            libsys::raw::ipc_send(
                srv.tid(),
                text as *mut u8,
                buf.as_mut_ptr(),
                libsys::abi::PAGE_SIZE as u32,
                &mut len,
                Timeout::Ticks(WAIT).to_raw(),
                true,
                1,
            )
        };
        ensure_eq!(r, Error::NotOwner as i32, "lending a read-only page");
        let after = fs::find(Timeout::Ticks(WAIT));
        ensure_eq!(
            after.map(|c| c.tid()),
            Ok(srv.tid()),
            "the same file server answers after the call (the call returned {r})"
        );
        ensure_eq!(moroso_apps::init_proto::restarts("fs"), before, "no restart");
        Ok(())
    });

    review_case(&mut s, "review::a_crashed_servers_name_cannot_be_squatted", || {
        // Any program may register any free name, and clients call whoever holds `fs`: a
        // program that waits for `fs` to be free takes it when the file server crashes,
        // the restarted server cannot register and exits 1 until init gives up, and every
        // client's file call now goes to the squatter (its data included). (The review
        // crashed the server with read-only lent pages; that needs a kernel fix, see
        // `AWAITING_KERNEL_FIXES`, so the crash here is `syskill`'s, as in
        // `supervision::fs_restarted_after_a_crash`.)
        let squatter = spawn_role(Role::Squat).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let srv = fs::find(Timeout::Ticks(WAIT)).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let records = libsys::task::ps().map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        let task = records.iter().find(|r| r.kind == ps::kind::THREAD && r.id == srv.tid()).map(|r| r.task);
        let task = task.ok_or_else(|| moroso_apps::harness::Msg::new(format_args!("no task for fs")))?;
        let killed =
            libsys::task::spawn("syskill", Role::Kill as u64 | (task as u64) << 8).and_then(libsys::task::wait);
        ensure_eq!(killed, Ok(0), "syskill killed fs");
        // Whoever holds `fs` once a new holder is there.
        let t0 = libsys::time::ticks();
        let mut holder = fs::find(Timeout::Ticks(WAIT)).map(|c| c.tid());
        while holder == Ok(srv.tid()) && libsys::time::ticks() < t0 + WAIT as u64 {
            let _ = libsys::time::sleep(1);
            holder = fs::find(Timeout::Ticks(WAIT)).map(|c| c.tid());
        }
        let program = holder.ok().and_then(|tid| {
            libsys::task::ps().ok().and_then(|r| {
                r.iter()
                    .find(|r| r.kind == ps::kind::THREAD && r.id == tid)
                    .map(|r| alloc::string::String::from(r.name()))
            })
        });
        let held_by_squatter = libsys::task::ps()
            .is_ok_and(|r| r.iter().any(|r| r.kind == ps::kind::THREAD && r.task == squatter && Ok(r.id) == holder));
        let _ = libsys::task::kill(squatter);
        let _ = libsys::task::wait(squatter);
        ensure!(!held_by_squatter, "`fs` is held by the squatter ({holder:?}), not by a file server");
        ensure_eq!(program.as_deref(), Some("fs"), "`fs` is held by a task running the fs program");
        Ok(())
    });

    s.case("names::a_copy_of_the_name_server_is_not_the_name_server", || {
        // RESTARTS THE NAME SERVER (its table is lost), so it runs last. Anyone may start
        // a copy of `names`; clients must still only ever talk to the one init started,
        // also while that one is down (here, killed and in init's restart delay).
        let copy = libsys::task::spawn("names", 0).map_err(|e| moroso_apps::harness::Msg::new(format_args!("{e}")))?;
        // The copy's thread, once it serves (the checks below run after the copy is gone).
        poll_thread_state(copy, |s| s.is_none() || s == Some(ps::state::RECEIVING));
        let copy_tid = libsys::task::Identity::now().ok().and_then(|w| w.first_thread(copy));
        let copy_thread = |tid: Result<u32, Error>| copy_tid.is_some() && tid.ok() == copy_tid;
        let real = libsys::name::find_server();
        let real_task =
            libsys::task::Identity::now().ok().and_then(|w| real.ok().and_then(|t| w.thread(t)).map(|r| r.task));
        let killed = match real_task {
            Some(task) => {
                libsys::task::spawn("syskill", Role::Kill as u64 | (task as u64) << 8).and_then(libsys::task::wait)
            }
            None => Err(Error::NoSuchTask),
        };
        let meanwhile = libsys::name::find_server();
        let t0 = libsys::time::ticks();
        let mut registered = libsys::name::register("systest");
        while registered == Err(Error::NoSuchThread) && libsys::time::ticks() < t0 + WAIT as u64 {
            let _ = libsys::time::sleep(1);
            registered = libsys::name::register("systest");
        }
        let after = libsys::name::find_server();
        let _ = libsys::task::kill(copy);
        let _ = libsys::task::wait(copy);
        ensure!(copy_tid.is_some(), "the copy runs");
        ensure!(real.is_ok() && !copy_thread(real), "the real name server is found, not the copy: {real:?}");
        ensure_eq!(killed, Ok(0), "syskill killed the name server");
        ensure!(!copy_thread(meanwhile), "while it is down, the copy is not taken for it: {meanwhile:?}");
        ensure_eq!(registered, Ok(()), "the restarted name server answers");
        ensure!(after.is_ok() && after != real && !copy_thread(after), "it is the restarted one: {after:?}");
        Ok(())
    });

    s.finish()
}
