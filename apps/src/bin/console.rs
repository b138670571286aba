//! The console server: the user-level driver of COM1. It owns IRQ 4 and COM1's ports (the
//! boot image grants them), writes what programs send it, and pushes what is typed to the
//! program that subscribed. The kernel keeps writing its own messages to COM1 directly.
//!
//! Started with `arg = parent tid`; it tells the parent its tid with an async message.
#![no_std]
#![no_main]

use libsys::abi::image::com1::{IRQ, PORT as COM1};
use libsys::device::{self, Port};
use libsys::ipc::{self, Incoming, Timeout};
use moroso_apps::console_proto::{Input, Op, Reply, Request, CHUNK};

libsys::entry!(main);

fn uart(off: u16) -> Port {
    Port::new(COM1 + off)
}

fn put(b: u8) {
    // SAFETY: COM1 is granted to this program; polling THR-empty, then writing THR.
    unsafe {
        while uart(5).read() & 0x20 == 0 {}
        uart(0).write(b);
    }
}

/// Moves what the UART holds into `pending` and, if someone subscribed, sends it on. The
/// send is asynchronous: a blocking one could deadlock against a subscriber that is
/// itself calling us to write.
fn pump(pending: &mut Input, subscriber: Option<u32>) {
    // SAFETY: COM1 is granted to this program; reading RBR only while LSR says data ready.
    unsafe {
        while (pending.len as usize) < pending.data.len() && uart(5).read() & 1 != 0 {
            pending.data[pending.len as usize] = uart(0).read();
            pending.len += 1;
        }
    }
    if let Some(s) = subscriber {
        if pending.len > 0 && ipc::send(s, pending).is_ok() {
            pending.len = 0;
        }
    }
}

fn main() -> i32 {
    let parent = libsys::task::arg() as u32;
    if device::bind(IRQ).is_err() {
        return 1;
    }
    // SAFETY: COM1's registers, granted to this program.
    unsafe {
        uart(1).write(0x01); // interrupt on received data
        uart(4).write(0x0b); // DTR, RTS, OUT2
        while uart(5).read() & 1 != 0 {
            uart(0).read();
        }
    }
    let _ = ipc::send(parent, &Request::new(Op::Subscribe, b"console"));
    let mut subscriber = None;
    let mut pending = Input { len: 0, data: [0; CHUNK + 1] };
    let mut next = ipc::receive::<Request>(Timeout::Forever);
    loop {
        // Whatever could not be passed on last time (the subscriber's mailbox was full)
        // goes first; nothing typed is dropped while `pending` has room.
        if pending.len > 0 {
            pump(&mut pending, subscriber);
        }
        next = match next {
            Ok(Incoming::Interrupt { irq }) => {
                pump(&mut pending, subscriber);
                let _ = device::ack(irq);
                ipc::receive(Timeout::Forever)
            }
            Ok(Incoming::Call { msg, reply, .. }) => match msg.op {
                Op::Write => {
                    let n = (msg.len as usize).min(CHUNK);
                    for &b in &msg.data[..n] {
                        if b == b'\n' {
                            put(b'\r');
                        }
                        put(b);
                    }
                    reply.reply_and_receive(&Reply { len: n as u8 }, Timeout::Forever)
                }
                Op::Quit => {
                    // SAFETY: as above: interrupts off again.
                    unsafe { uart(1).write(0x00) };
                    let _ = reply.reply(&Reply { len: 0 });
                    return 0;
                }
                Op::Subscribe => reply.reply_and_receive(&Reply { len: 0 }, Timeout::Forever),
            },
            Ok(Incoming::NoReply { msg, from } | Incoming::Async { msg, from }) => {
                if msg.op == Op::Subscribe {
                    subscriber = Some(from);
                }
                ipc::receive(Timeout::Forever)
            }
            Err(_) => ipc::receive(Timeout::Forever),
        };
    }
}
