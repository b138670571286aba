//! In-guest tests of Moroso IPC through the specification's raw calls, across real address
//! spaces: one or more named cases per sentence of the specification and per decision of
//! decision of docs/ipc.md (docs/spec-coverage.md maps them), and a load test.
//!
//! Copies of this program started with a non-zero argument play peers (see `peer`).
#![no_std]
#![no_main]

extern crate alloc;

mod coverage;
mod death;
mod direct;
mod fast;
mod ipc;
mod load;
mod long;
mod peer;
mod recv;
mod send;
mod shares;
mod window;

use moroso_apps::harness::Suite;

libsys::entry!(main);

fn main() -> i32 {
    let arg = libsys::task::arg();
    if arg != 0 {
        return peer::run(arg);
    }
    let mut s = Suite::new();
    send::cases(&mut s);
    recv::cases(&mut s);
    death::cases(&mut s);
    fast::cases(&mut s);
    direct::cases(&mut s);
    long::cases(&mut s);
    coverage::cases(&mut s);
    window::cases(&mut s);
    load::cases(&mut s);
    shares::cases(&mut s);
    s.finish()
}
