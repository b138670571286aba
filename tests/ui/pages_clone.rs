// Pages cannot be duplicated: only one owner may move them.
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
    let copy = pages.clone();
    let _ = (pages, copy);
}
