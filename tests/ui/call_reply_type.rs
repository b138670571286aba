// A call returns the reply type its message declares.
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

fn main() {
    let answer: Result<Ping, _> = ipc::call(7, &Ping { n: 1 }, Timeout::Forever);
    let _ = answer;
}
