//! The console server: the user-level driver of COM1. It owns IRQ 4 and COM1's ports (the
//! boot image grants them), writes what programs send it, and pushes what is typed to the
//! program that subscribed. The kernel keeps writing its own messages to COM1 directly.
//!
//! Input never stalls: every interrupt drains the UART completely before it is acked (a
//! byte left behind would raise no new interrupt), typed bytes wait in a bounded buffer
//! ([`Typed`]), and while some wait the server polls its mailbox with a one-tick timeout so
//! delivery to a subscriber whose mailbox was full is retried without another interrupt.
//! Input beyond the bound is dropped, and the drop is shown on the console where it
//! happened: `[input dropped: N bytes]`.
//!
//! Programs find it under the name `console` (`libsys::name`), registered once it drives
//! COM1.
//!
//! Typed bytes are the user's commands, so they go to one subscriber only ([`subscribe`]):
//! the first thread to ask, which must be the system's shell when the image has a `shell`
//! program; everyone else is refused while it lives. No request stops the server (a
//! `Quit` anyone could send was removed): it ends with the system.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::collections::VecDeque;
use libsys::abi::image::com1::{IRQ, PORT as COM1};
use libsys::abi::Error;
use libsys::device::{self, Port};
use libsys::ipc::{self, Incoming, Timeout};
use moroso_apps::console_proto::{
    Input, Op, Refusal, Reply, Request, CHUNK, INPUT_MAX, LINE_END_RESERVE, SUBSCRIBER_PROGRAM,
};

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

fn put_str(text: &[u8]) {
    for &b in text {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}

/// Typed bytes not yet passed to the subscriber, at most `INPUT_MAX` (plus
/// `LINE_END_RESERVE` line ends, so a line typed past the bound still ends and its
/// reader can refuse it instead of waiting for more).
///
/// Once the buffer is full, input is dropped (line ends excepted) until everything typed
/// before the drop has been passed on; then the mark is shown and input flows again. So
/// one burst gives one mark, at the place of the loss.
struct Typed {
    bytes: VecDeque<u8>,
    /// Bytes dropped in the current episode (0: none).
    dropped: u32,
    /// While `dropped > 0`: how many of `bytes` were typed before the drop.
    before_drop: usize,
}

impl Typed {
    fn new() -> Typed {
        Typed { bytes: VecDeque::with_capacity(INPUT_MAX + LINE_END_RESERVE), dropped: 0, before_drop: 0 }
    }

    /// Keeps or drops one typed byte.
    fn push(&mut self, b: u8) {
        if self.dropped == 0 && self.bytes.len() < INPUT_MAX {
            self.bytes.push_back(b);
            return;
        }
        if (b == b'\r' || b == b'\n') && self.bytes.len() < INPUT_MAX + LINE_END_RESERVE {
            self.bytes.push_back(b);
            return;
        }
        if self.dropped == 0 {
            self.before_drop = self.bytes.len();
        }
        self.dropped = self.dropped.saturating_add(1);
    }

    /// Reads everything the UART holds.
    fn drain_uart(&mut self) {
        // SAFETY: COM1 is granted to this program; reading RBR only while LSR says data
        // ready.
        while unsafe { uart(5).read() } & 1 != 0 {
            // SAFETY: as above.
            let b = unsafe { uart(0).read() };
            self.push(b);
        }
    }

    /// Passes on as much as `subscriber`'s mailbox takes, showing a drop when delivery
    /// reaches it. A subscriber that is gone is forgotten.
    fn deliver(&mut self, subscriber: &mut Option<u32>) {
        let Some(to) = *subscriber else { return };
        loop {
            if self.dropped > 0 && self.before_drop == 0 {
                let mark = alloc::format!("\n[input dropped: {} bytes]\n", self.dropped);
                put_str(mark.as_bytes());
                self.dropped = 0;
            }
            let mut n = self.bytes.len().min(CHUNK + 1);
            if self.dropped > 0 {
                n = n.min(self.before_drop);
            }
            if n == 0 {
                return;
            }
            let mut msg = Input { len: n as u8, data: [0; CHUNK + 1] };
            for (d, &b) in msg.data.iter_mut().zip(self.bytes.iter()) {
                *d = b;
            }
            match ipc::send(to, &msg) {
                Ok(_) => {
                    self.bytes.drain(..n);
                    if self.dropped > 0 {
                        self.before_drop -= n;
                    }
                }
                // Full: retried on the next message or tick.
                Err(Error::QueueFull | Error::OutOfMemory) => return,
                Err(_) => {
                    *subscriber = None;
                    return;
                }
            }
        }
    }

    /// How long the server may wait for its next message: a tick while typed bytes wait
    /// for a subscriber (to retry), otherwise until something happens.
    fn wait(&self, subscriber: Option<u32>) -> Timeout {
        if subscriber.is_some() && (!self.bytes.is_empty() || self.dropped > 0) {
            Timeout::Ticks(1)
        } else {
            Timeout::Forever
        }
    }
}

/// Whether thread `from` may become the subscriber, given the current one: the current
/// one again (always), anyone while nobody is subscribed or the subscriber's thread is
/// dead, and, when the image has a [`SUBSCRIBER_PROGRAM`], only a thread of the task init
/// started for it.
fn subscribe(subscriber: Option<u32>, from: u32) -> Result<(), Refusal> {
    if subscriber == Some(from) {
        return Ok(());
    }
    // If the kernel cannot say who is who, refuse: input must not go to a stranger.
    let Ok(who) = libsys::task::Identity::now() else { return Err(Refusal::NotTheShell) };
    if who.program(SUBSCRIBER_PROGRAM).is_some() && !who.runs_system_program(from, SUBSCRIBER_PROGRAM) {
        return Err(Refusal::NotTheShell);
    }
    match subscriber {
        Some(s) if who.thread(s).is_some() => Err(Refusal::Taken),
        _ => Ok(()),
    }
}

fn main() -> i32 {
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
    if let Err(e) = libsys::name::register(moroso_apps::console_proto::NAME) {
        libsys::println!("console: cannot register my name: {e}");
        return 1;
    }
    let mut subscriber = None;
    let mut typed = Typed::new();
    let mut next = ipc::receive::<Request>(Timeout::Forever);
    loop {
        // Whatever could not be passed on last time (the subscriber's mailbox was full)
        // goes first.
        typed.deliver(&mut subscriber);
        next = match next {
            Ok(Incoming::Interrupt { irq }) => {
                typed.drain_uart();
                let _ = device::ack(irq);
                typed.deliver(&mut subscriber);
                ipc::receive(typed.wait(subscriber))
            }
            Ok(Incoming::Call { msg, reply, from }) => match msg.op {
                Op::Write => {
                    let n = (msg.len as usize).min(CHUNK);
                    put_str(&msg.data[..n]);
                    reply.reply_and_receive(&Reply { len: n as u8, refused: Refusal::None }, typed.wait(subscriber))
                }
                Op::Subscribe => {
                    let refused = match subscribe(subscriber, from) {
                        Ok(()) => {
                            subscriber = Some(from);
                            Refusal::None
                        }
                        Err(why) => why,
                    };
                    // Bytes waiting for the new subscriber go at the top of the loop.
                    reply.reply_and_receive(&Reply { len: 0, refused }, typed.wait(subscriber))
                }
            },
            // Nothing to answer: asynchronous and no-reply messages are dropped (subscribing
            // takes a call, so that a refusal can be answered).
            Ok(Incoming::NoReply { .. } | Incoming::Async { .. }) => ipc::receive(typed.wait(subscriber)),
            // A timeout (time to retry delivery) or a malformed message.
            Err(_) => ipc::receive(typed.wait(subscriber)),
        };
    }
}
