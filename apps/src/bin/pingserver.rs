//! A server for `cargo xtask run --app pingserver --app pingclient` (the runner's test of
//! booting several programs together): registers the name `ping` and answers one call of
//! the `Ping` interface (`moroso_apps::ping_proto`) with the number it was sent plus one.
#![no_std]
#![no_main]

use libsys::ipc::Timeout;
use moroso_apps::ping_proto::{Ping, PingServer, NAME};

libsys::entry!(main);

struct Next;

impl Ping for Next {
    fn ping(&mut self, n: u32) -> u32 {
        n.wrapping_add(1)
    }
}

fn main() -> i32 {
    if let Err(e) = libsys::name::register(NAME) {
        libsys::println!("pingserver: cannot register: {e}");
        return 1;
    }
    match PingServer::handle_one(&mut Next, Timeout::Forever) {
        Ok(()) => 0,
        Err(e) => {
            libsys::println!("pingserver: {e}");
            2
        }
    }
}
