// Pages moved to another thread are gone: the value was moved into the call.
#![allow(unused_imports)]
use libsys::ipc::{self, Incoming, Timeout};
use libsys::Message;

#[derive(Message)]
#[repr(C)]
#[message(reply = Pong)]
struct Ping {
    n: u32,
}

#[derive(Message)]
#[repr(C)]
struct Pong {
    n: u32,
}

use libsys::ipc::Pages;

fn main() {
    let pages = Pages::alloc(0x10_0000_0000, 4).unwrap();
    let _ = ipc::call_moving(7, &Ping { n: 1 }, pages, Timeout::Forever);
    let _first = pages.as_bytes()[0];
}
