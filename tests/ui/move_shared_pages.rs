// Shared pages may be shared further but never moved.
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
    let shared = Pages::alloc(0x10_0000_0000, 4).unwrap().into_shared();
    let _ = ipc::call_moving(7, &Ping { n: 1 }, shared, Timeout::Forever);
}
