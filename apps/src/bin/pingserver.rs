//! A server for `cargo xtask run --app pingserver --app pingclient` (the runner's test of
//! booting several programs together): registers the name `ping` and answers one call
//! with the number it was sent plus one.
#![no_std]
#![no_main]

use libsys::ipc::{self, Incoming, Timeout};
use libsys::Message;

/// A number; the answer is a `Ping` too.
#[derive(Message)]
#[repr(C)]
#[message(reply = Ping)]
pub struct Ping {
    pub n: u32,
}

libsys::entry!(main);

fn main() -> i32 {
    if let Err(e) = libsys::name::register("ping") {
        libsys::println!("pingserver: cannot register: {e}");
        return 1;
    }
    match ipc::receive::<Ping>(Timeout::Forever) {
        Ok(Incoming::Call { msg, reply, .. }) => {
            let _ = reply.reply(&Ping { n: msg.n + 1 });
            0
        }
        _ => 2,
    }
}
