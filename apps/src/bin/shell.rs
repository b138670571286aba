//! A tiny interactive program on the user-level console: echoes what is typed and, at the
//! end of each line, says what the line was; `exit` ends it. `arg` is the console's tid.
//!
//! A line holds at most `LINE_MAX` bytes: past that, typing is no longer echoed or kept,
//! and at its end the line is refused with a message saying how long it was.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::ipc::{self, Incoming, Timeout};
use moroso_apps::console_proto::{self as console, Input, Op, Request, LINE_MAX};

libsys::entry!(main);

fn main() -> i32 {
    let con = libsys::task::arg() as u32;
    if ipc::notify(con, &Request::new(Op::Subscribe, b""), Timeout::Forever).is_err() {
        return 1;
    }
    let _ = console::write(con, b"moroso shell: type a line and press Enter; 'exit' quits\n> ");
    let mut line: Vec<u8> = Vec::with_capacity(LINE_MAX);
    // Bytes typed past `LINE_MAX` on this line (then the line is refused).
    let mut over = 0usize;
    loop {
        let Ok(Incoming::Async { msg: Input { len, data }, .. }) = ipc::receive::<Input>(Timeout::Forever) else {
            continue;
        };
        let len = (len as usize).min(data.len());
        for &b in &data[..len] {
            match b {
                b'\r' | b'\n' => {
                    let _ = console::write(con, b"\n");
                    if over > 0 {
                        let msg = alloc::format!(
                            "line too long: {} bytes, a line holds at most {LINE_MAX}; refused\n> ",
                            line.len() + over
                        );
                        let _ = console::write(con, msg.as_bytes());
                    } else if line == b"exit" {
                        let _ = console::write(con, b"bye\n");
                        return 0;
                    } else {
                        let _ = console::write(con, b"you typed: ");
                        let _ = console::write(con, &line);
                        let _ = console::write(con, b"\n> ");
                    }
                    line.clear();
                    over = 0;
                }
                0x7f | 0x08 => {
                    if over > 0 {
                        over -= 1;
                    } else if line.pop().is_some() {
                        let _ = console::write(con, b"\x08 \x08");
                    }
                }
                _ if line.len() >= LINE_MAX => over += 1,
                b => {
                    line.push(b);
                    let _ = console::write(con, &[b]);
                }
            }
        }
    }
}
