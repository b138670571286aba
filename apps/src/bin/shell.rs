//! A tiny interactive program on the user-level console: echoes what is typed and, at the
//! end of each line, says what the line was; `exit` ends it. `arg` is the console's tid.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use libsys::ipc::{self, Incoming, Timeout};
use moroso_apps::console_proto::{self as console, Input, Op, Request};

libsys::entry!(main);

fn main() -> i32 {
    let con = libsys::task::arg() as u32;
    if ipc::notify(con, &Request::new(Op::Subscribe, b""), Timeout::Forever).is_err() {
        return 1;
    }
    let _ = console::write(con, b"moroso shell: type a line and press Enter; 'exit' quits\n> ");
    let mut line: Vec<u8> = Vec::new();
    loop {
        let Ok(Incoming::Async { msg: Input { len, data }, .. }) = ipc::receive::<Input>(Timeout::Forever) else {
            continue;
        };
        for &b in &data[..len as usize] {
            match b {
                b'\r' | b'\n' => {
                    let _ = console::write(con, b"\n");
                    if line == b"exit" {
                        let _ = console::write(con, b"bye\n");
                        return 0;
                    }
                    let _ = console::write(con, b"you typed: ");
                    let _ = console::write(con, &line);
                    let _ = console::write(con, b"\n> ");
                    line.clear();
                }
                0x7f | 0x08 => {
                    if line.pop().is_some() {
                        let _ = console::write(con, b"\x08 \x08");
                    }
                }
                b => {
                    line.push(b);
                    let _ = console::write(con, &[b]);
                }
            }
        }
    }
}
