//! Typed interfaces in the guest: a server thread runs an `impl Calculator` through the
//! generated `CalculatorServer`, a client thread calls it through `CalculatorClient`, on the
//! register fast path, the general path, with pages moved and shared; what the server
//! cannot run is refused; a server whose receive fails stops; and calls to a stopped
//! server fail instead of waiting.

use crate::fail;
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use libsys::abi::{layout::PROGRAM_REGION, Error};
use libsys::ipc::{self, IpcError, Pages, Refusal, SharedPages, Timeout, Window};
use libsys::{raw, Message};
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

/// The calculator's own error: a value of the call, not a transport error.
#[derive(Message, Debug, PartialEq, Clone, Copy)]
#[repr(u8)]
pub enum CalcError {
    DivideByZero = 1,
}

#[libsys::interface]
pub trait Calculator {
    fn add(&mut self, a: u32, b: u32) -> u64;
    fn divide(&mut self, a: u32, b: u32) -> Result<u32, CalcError>;
    /// 100 bytes: the general path.
    fn sum(&mut self, bytes: [u8; 100]) -> u32;
    /// Moved pages: the first byte of each, summed.
    fn checksum(&mut self, data: Pages) -> u64;
    /// Shared pages: the server writes `byte` at the start of each; returns how many.
    fn scribble(&mut self, buf: &SharedPages, byte: u8) -> u32;
    /// Keeps the pages it is given (a bug: its window stays occupied).
    fn keep(&mut self, data: Pages);
    /// Which thread serves.
    fn whoami(&mut self) -> u32;
    fn stop(&mut self);
}

/// A second interface, to call the calculator with an operation it does not have.
#[libsys::interface]
#[allow(dead_code)] // only its client is used
pub trait Stranger {
    fn one(&mut self);
    fn two(&mut self);
    fn three(&mut self);
    fn four(&mut self);
    fn five(&mut self);
    fn six(&mut self);
    fn seven(&mut self);
    fn eight(&mut self);
    fn nine(&mut self) -> u32;
}

/// Requests and replies all in registers: `serve` replies and waits in one system call.
#[libsys::interface]
pub trait Counter {
    fn bump(&mut self, by: u32) -> u64;
    fn total(&mut self) -> u64;
}

struct Count(u64);

impl Counter for Count {
    fn bump(&mut self, by: u32) -> u64 {
        self.0 += by as u64;
        self.0
    }
    fn total(&mut self) -> u64 {
        self.0
    }
}

const WINDOW: u64 = PROGRAM_REGION.0 + 0x7000_0000;
const OUT: u64 = PROGRAM_REGION.0 + 0x7800_0000;

struct Calc {
    stopped: bool,
}

impl Calculator for Calc {
    const RECEIVE_WINDOW: Window = Window::new(WINDOW, 4);

    fn add(&mut self, a: u32, b: u32) -> u64 {
        a as u64 + b as u64
    }
    fn divide(&mut self, a: u32, b: u32) -> Result<u32, CalcError> {
        a.checked_div(b).ok_or(CalcError::DivideByZero)
    }
    fn sum(&mut self, bytes: [u8; 100]) -> u32 {
        bytes.iter().map(|&b| b as u32).sum()
    }
    fn checksum(&mut self, data: Pages) -> u64 {
        data.as_bytes().chunks(4096).map(|c| c[0] as u64).sum()
    }
    fn scribble(&mut self, buf: &SharedPages, byte: u8) -> u32 {
        for i in 0..buf.count() {
            // SAFETY: the shared pages are mapped writable in this task for the call's
            // duration (the window), and the client asked for this write.
            unsafe { ((buf.base() + i * 4096) as *mut u8).write_volatile(byte) };
        }
        buf.count() as u32
    }
    fn keep(&mut self, data: Pages) {
        core::mem::forget(data);
    }
    fn whoami(&mut self) -> u32 {
        raw::gettid()
    }
    fn stop(&mut self) {
        self.stopped = true;
    }
}

/// How the `handle_one` server ended: 1 once it stopped.
static STOPPED: AtomicU32 = AtomicU32::new(0);
/// What `serve` returned (an `abi::Error` code), 0 while it runs.
static SERVE_ENDED: AtomicI32 = AtomicI32::new(0);

/// One call at a time until `stop`.
fn handle_one_server(_: usize) {
    let mut calc = Calc { stopped: false };
    while !calc.stopped {
        // A failed reply (the caller gave up) ends nothing; nothing else fails here.
        let _ = CalculatorServer::handle_one(&mut calc, Timeout::Forever);
    }
    STOPPED.store(1, Ordering::SeqCst);
}

/// `serve` until it cannot go on.
fn serving_server(_: usize) {
    let e = CalculatorServer::serve(&mut Calc { stopped: false });
    SERVE_ENDED.store(if let IpcError::Sys(e) = e { e.code() } else { i32::MIN }, Ordering::SeqCst);
}

/// Counts for ever (the task's end ends it).
fn counter_server(_: usize) {
    let e = CounterServer::serve(&mut Count(0));
    libsys::println!("counter server: {e}");
}

pub fn cases(s: &mut Suite) {
    let Ok(srv) = libsys::thread::spawn(handle_one_server, 0) else {
        s.case("iface::server_thread_starts", || Err(fail("spawn failed")));
        return;
    };
    let calc = CalculatorClient::new(srv);

    s.case("iface::every_operation_through_the_client", || {
        ensure_eq!(calc.add(40, 2), Ok(42), "add, on the register path");
        ensure_eq!(calc.whoami(), Ok(srv), "served by the server thread");
        let mut bytes = [0u8; 100];
        bytes.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        ensure_eq!(calc.sum(bytes), Ok(4950), "sum, on the general path");
        ensure_eq!(calc.with_timeout(Timeout::Ticks(1000)).add(1, 1), Ok(2), "with a timeout");
        Ok(())
    });

    s.case("iface::a_method_error_is_not_a_transport_error", || {
        ensure_eq!(calc.divide(84, 2), Ok(Ok(42)), "84 / 2");
        ensure_eq!(calc.divide(1, 0), Ok(Err(CalcError::DivideByZero)), "the method's own error, delivered");
        Ok(())
    });

    s.case("iface::pages_move_to_the_server", || {
        let mut pages = Pages::alloc(OUT, 3).map_err(fail)?;
        for (i, page) in pages.as_bytes_mut().chunks_mut(4096).enumerate() {
            page[0] = 10 + i as u8;
        }
        ensure_eq!(calc.checksum(pages), Ok(33), "the server read the three pages");
        // They left: the range is free again, and the server dropped its copy (its window
        // is free for the next call, as the next case shows).
        let again = Pages::alloc(OUT, 3).map_err(fail)?;
        ensure_eq!(again.as_bytes()[0], 0, "fresh pages where the moved ones were");
        Ok(())
    });

    s.case("iface::pages_are_shared_with_the_server", || {
        let shared = Pages::alloc(OUT + 0x10_0000, 2).map_err(fail)?.into_shared();
        ensure_eq!(calc.scribble(&shared, 0x5a), Ok(2), "two pages");
        ensure_eq!((shared.as_bytes()[0], shared.as_bytes()[4096]), (0x5a, 0x5a), "the server's writes show here");
        ensure_eq!(calc.scribble(&shared, 0x5b), Ok(2), "and again: the window was freed");
        ensure_eq!(shared.as_bytes()[4096], 0x5b, "second write");
        Ok(())
    });

    s.case("iface::what_the_server_cannot_run_is_refused", || {
        // An operation the calculator does not have.
        ensure_eq!(StrangerClient::new(srv).nine(), Err(IpcError::Refused(Refusal::UnknownOperation)), "operation 9");
        // Pages where none are expected: `add` with a page attached, through the raw call.
        let mut pages = Pages::alloc(OUT + 0x20_0000, 1).map_err(fail)?;
        pages.as_bytes_mut()[0] = 1;
        let refused = ipc::call_moving(srv, &CalculatorAddRequest { a: 1, b: 2 }, pages, Timeout::Forever);
        ensure_eq!(refused.ok(), Some(CalculatorAddReply::Refused(Refusal::BadRequest)), "add with pages");
        // Garbage: a request cut short.
        let mut bytes = [CalculatorOp::Add as u8, 0, 0, 0, 0, 0, 0, 0];
        let mut len = 3u32;
        // SAFETY: a valid local buffer, for the request and the reply.
        let r = unsafe { raw::ipc_send(srv, core::ptr::null_mut(), bytes.as_mut_ptr(), 0, &mut len, -1, false, 1) };
        ensure_eq!(
            (r, len, bytes[0]),
            (0, 1, Refusal::BadRequest as u8),
            "a three-byte add is answered with a refusal"
        );
        ensure_eq!(calc.add(2, 2), Ok(4), "and the server goes on");
        Ok(())
    });

    s.case("iface::a_register_only_server_replies_and_receives_in_one_call", || {
        const { assert!(!CounterServer::SHAPE.pages && CounterServer::SHAPE.reply_max <= 40) };
        let counter = CounterClient::new(libsys::thread::spawn(counter_server, 0).map_err(fail)?);
        for i in 1..=100u64 {
            ensure_eq!(counter.bump(i as u32), Ok(i * (i + 1) / 2), "bump {i}");
        }
        ensure_eq!(
            StrangerClient::new(counter.tid()).nine(),
            Err(IpcError::Refused(Refusal::UnknownOperation)),
            "an unknown operation is refused on this path too"
        );
        ensure_eq!(counter.total(), Ok(5050), "and it goes on");
        Ok(())
    });

    s.case("iface::a_call_after_the_server_stopped_fails_instead_of_waiting", || {
        ensure_eq!(calc.stop(), Ok(()), "stop acknowledged");
        // Whether the server thread is still on its way out (the call is then released when
        // it exits) or gone, the call fails; `Forever` would hang if it did not.
        let after = calc.add(1, 2);
        ensure!(
            matches!(after, Err(IpcError::Sys(Error::NoSuchThread | Error::PeerDied))),
            "a call to the stopped server: {after:?}"
        );
        while STOPPED.load(Ordering::SeqCst) == 0 {
            libsys::time::yield_now();
        }
        // (The thread may still be between its last store and its exit.)
        let later = calc.whoami();
        ensure!(matches!(later, Err(IpcError::Sys(Error::NoSuchThread | Error::PeerDied))), "later: {later:?}");
        Ok(())
    });

    s.case("iface::serve_returns_the_error_it_cannot_answer", || {
        let srv = libsys::thread::spawn(serving_server, 0).map_err(fail)?;
        let calc = CalculatorClient::new(srv);
        ensure_eq!(calc.add(3, 4), Ok(7), "served");
        ensure_eq!(calc.keep(Pages::alloc(OUT + 0x30_0000, 1).map_err(fail)?), Ok(()), "kept");
        // The kept page occupies the window: the next receive fails and `serve` returns it.
        while SERVE_ENDED.load(Ordering::SeqCst) == 0 {
            libsys::time::yield_now();
        }
        ensure_eq!(SERVE_ENDED.load(Ordering::SeqCst), Error::WindowOccupied.code(), "serve's error");
        let after = calc.add(1, 1);
        ensure!(matches!(after, Err(IpcError::Sys(Error::NoSuchThread | Error::PeerDied))), "after serve: {after:?}");
        // SAFETY: the kept page is this task's, at the window, and nothing uses it any more.
        unsafe { raw::remove_pages(WINDOW as *mut u8) };
        Ok(())
    });
}
