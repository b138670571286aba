//! In-guest tests of interrupts forwarded to a user-level driver and of I/O-port grants.
//! Packed twice: as `irqtest`, granted COM1 (IRQ 4, ports 0x3f8..0x400), and as
//! `irqnocap`, granted nothing.
//!
//! The serial case needs the host: once this program prints `irqtest: ready for input`,
//! `cargo xtask test` types a burst of `BURST` bytes into the guest's serial port, which
//! must all arrive, in order, through interrupt messages.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::abi::image::com1::{IRQ, PORT as COM1};
use libsys::abi::{status, Error};
use libsys::device::{self, Port};
use libsys::ipc::{self, Incoming, Timeout};
use libsys::println;
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

libsys::entry!(main);

/// Bytes the host types: `BURST` letters, `a` + i % 26.
pub const BURST: usize = 600;

const TRY_BIND: u64 = 1;
const READ_PORT_0X60: u64 = 2;
const READ_COM1: u64 = 3;
const BIND_AND_EXIT: u64 = 4;
/// Calls the port server whose id is in the argument's high half.
const CALL_PORT_SERVER: u64 = 5;

/// A server thread of this program (granted COM1) that answers one call in registers with
/// COM1's line status, read after the call arrives: `0x1_0000 | lsr`; then it waits (with
/// no deadline, so that the reply may switch straight to the caller) for ever.
fn port_server(_: usize) {
    // SAFETY: registers only.
    let (r, ..) = unsafe { libsys::raw::ipc_reply_wait(None, -1) };
    if r == 0 {
        // SAFETY: COM1's line-status register, granted to this program: reading it is
        // harmless (it faults only if this task's ports are not the ones loaded).
        let lsr = unsafe { Port::new(COM1 + 5).read() };
        // SAFETY: registers only.
        unsafe { libsys::raw::ipc_reply_wait(Some((8, [0x1_0000 | lsr as u64, 0, 0, 0, 0])), -1) };
    }
}

fn child(arg: u64) -> i32 {
    match arg {
        TRY_BIND => match device::bind(IRQ) {
            Err(Error::PermissionDenied) => 0,
            Ok(()) => 1,
            Err(_) => 2,
        },
        // SAFETY: not safe, on purpose: the port is not granted, so this faults (#GP).
        READ_PORT_0X60 => unsafe { Port::new(0x60).read() as i32 + 100 },
        // SAFETY: as above, for a program granted no ports at all.
        READ_COM1 => unsafe { Port::new(COM1 + 5).read() as i32 + 100 },
        BIND_AND_EXIT => device::bind(IRQ).map_or(3, |_| 0),
        a if a & 0xffff_ffff == CALL_PORT_SERVER => {
            // SAFETY: registers only.
            let (r, len, w) = unsafe { libsys::raw::ipc_call_fast((a >> 32) as u32, 8, [1, 0, 0, 0, 0], -1) };
            if (r, len, w[0] >> 16) != (0, 8, 1) {
                return 4;
            }
            // Back from the server, with this task's ports again (none): COM1 faults.
            // SAFETY: not safe, on purpose, as `READ_COM1`.
            unsafe { Port::new(COM1 + 5).read() as i32 + 100 }
        }
        _ => 99,
    }
}

fn run(name: &str, arg: u64) -> Result<i32, Msg> {
    let t = libsys::task::spawn(name, arg).map_err(|e| Msg::new(format_args!("spawn {name}: {e}")))?;
    libsys::task::wait(t).map_err(|e| Msg::new(format_args!("wait: {e}")))
}

fn main() -> i32 {
    let arg = libsys::task::arg();
    if arg != 0 {
        return child(arg);
    }
    let mut s = Suite::new();

    s.case("irq::binding_needs_the_capability", || {
        ensure_eq!(run("irqnocap", TRY_BIND)?, 0, "a program without the grant gets PermissionDenied");
        ensure_eq!(device::bind(0), Err(Error::InvalidArgument), "the timer is never a driver's");
        ensure_eq!(device::bind(16), Err(Error::InvalidArgument), "no IRQ 16");
        ensure_eq!(device::bind(3), Err(Error::PermissionDenied), "IRQ 3 is not granted to us");
        ensure_eq!(device::ack(IRQ), Err(Error::PermissionDenied), "ack of a line we do not hold");
        Ok(())
    });

    s.case("io::ports_outside_the_grant_end_only_that_task", || {
        ensure_eq!(run("irqtest", READ_PORT_0X60)?, status::faulted(13), "port 0x60, outside the grant");
        ensure_eq!(run("irqnocap", READ_COM1)?, status::faulted(13), "COM1, for a program granted nothing");
        // SAFETY: COM1's line-status register, granted to this program: reading it is harmless.
        let _lsr = unsafe { Port::new(COM1 + 5).read() };
        Ok(())
    });

    s.case("io::a_call_between_tasks_with_other_ports_runs_each_with_its_own", || {
        // The caller's task has no ports loaded, the server's has COM1: the call must not
        // switch straight to the server with the caller's (none), or its read faults; nor
        // the reply back to the caller with the server's, or the caller's read succeeds.
        let srv = libsys::thread::spawn(port_server, 0).map_err(|e| Msg::new(format_args!("spawn: {e}")))?;
        while libsys::raw::yield_to(srv as i32) == 0 {}
        ensure_eq!(
            run("irqnocap", CALL_PORT_SERVER | (srv as u64) << 32)?,
            status::faulted(13),
            "answered with COM1's status, then COM1 refused to the caller"
        );
        Ok(())
    });

    s.case("irq::a_dead_drivers_line_is_released_and_lines_are_exclusive", || {
        ensure_eq!(run("irqtest", BIND_AND_EXIT)?, 0, "a driver binds IRQ 4 and exits");
        ensure_eq!(device::bind(IRQ), Ok(()), "the line went with it: we can bind it");
        ensure_eq!(run("irqtest", BIND_AND_EXIT)?, 3, "while we hold it, another driver cannot");
        Ok(())
    });

    s.case("serial::host_input_arrives_in_order_through_interrupts", || {
        // SAFETY: COM1's registers, granted to this program; the kernel writes only THR.
        unsafe {
            Port::new(COM1 + 1).write(0x01); // interrupt on received data
            Port::new(COM1 + 4).write(0x0b); // DTR, RTS, OUT2 (routes the UART's IRQ)
            while Port::new(COM1 + 5).read() & 1 != 0 {
                Port::new(COM1).read(); // drain anything old
            }
        }
        println!("irqtest: ready for input");
        let mut got: Vec<u8> = Vec::with_capacity(BURST);
        let mut interrupts = 0;
        while got.len() < BURST {
            match ipc::receive::<u8>(Timeout::Ticks(500)) {
                Ok(Incoming::Interrupt { irq }) => {
                    ensure_eq!(irq, IRQ, "the interrupt names its line");
                    interrupts += 1;
                    // SAFETY: as above. Read everything the UART holds, then acknowledge.
                    unsafe {
                        while Port::new(COM1 + 5).read() & 1 != 0 {
                            got.push(Port::new(COM1).read());
                        }
                    }
                    ensure_eq!(device::ack(IRQ), Ok(()), "ack");
                }
                Ok(_) => return Err(Msg::new(format_args!("a message that is not an interrupt"))),
                Err(e) => return Err(Msg::new(format_args!("after {} bytes: {e}", got.len()))),
            }
        }
        // SAFETY: as above: interrupts off again.
        unsafe { Port::new(COM1 + 1).write(0x00) };
        ensure_eq!(got.len(), BURST, "every byte");
        for (i, b) in got.iter().enumerate() {
            ensure_eq!(*b, b'a' + (i % 26) as u8, "byte {i}, in order");
        }
        ensure!(interrupts > 0, "the bytes came through interrupts");
        println!("irqtest: {BURST} bytes through {interrupts} interrupts");
        Ok(())
    });

    s.finish()
}
