//! The client half of `cargo xtask run --app pingserver --app pingclient`: finds the
//! server by name (waiting for it to register) and calls it once through the generated
//! `PingClient` (`moroso_apps::ping_proto`).
#![no_std]
#![no_main]

use libsys::ipc::Timeout;
use moroso_apps::ping_proto::{PingClient, NAME};

libsys::entry!(main);

fn main() -> i32 {
    let server = match libsys::name::lookup(NAME, Timeout::Ticks(1000)) {
        Ok(t) => t,
        Err(e) => {
            libsys::println!("pingclient: no ping server: {e}");
            return 1;
        }
    };
    match PingClient::new(server).with_timeout(Timeout::Ticks(1000)).ping(41) {
        Ok(n) => {
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
