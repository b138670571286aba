//! The client half of `cargo xtask run --app pingserver --app pingclient`: finds the
//! server by name (waiting for it to register) and calls it once.
#![no_std]
#![no_main]

use libsys::ipc::{self, Timeout};
use libsys::Message;

/// The server's message (a program of one's own would share this type from a library).
#[derive(Message)]
#[repr(C)]
#[message(reply = Ping)]
pub struct Ping {
    pub n: u32,
}

libsys::entry!(main);

fn main() -> i32 {
    let server = match libsys::name::lookup("ping", Timeout::Ticks(1000)) {
        Ok(t) => t,
        Err(e) => {
            libsys::println!("pingclient: no ping server: {e}");
            return 1;
        }
    };
    match ipc::call(server, &Ping { n: 41 }, Timeout::Forever) {
        Ok(Ping { n }) => {
            libsys::println!("pingclient: found ping (thread {server}) by name; it answered {n}");
            if n == 42 {
                0
            } else {
                3
            }
        }
        Err(e) => {
            libsys::println!("pingclient: call failed: {e}");
            1
        }
    }
}
