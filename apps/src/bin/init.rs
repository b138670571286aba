//! The first program: starts the others, talks to one of them with typed IPC, and reports
//! how they ended.
#![no_std]
#![no_main]

use libsys::ipc::{self, Incoming, Timeout};
use libsys::{println, Message};

libsys::entry!(main);

/// A greeting for a thread of init's; its reply is a `Greeting` too.
#[derive(Message)]
#[repr(C)]
#[message(reply = Greeting)]
struct Greeting {
    count: u32,
}

fn greeter(_: usize) {
    if let Ok(Incoming::Call { msg, reply, .. }) = ipc::receive::<Greeting>(Timeout::Forever) {
        let _ = reply.reply(&Greeting { count: msg.count + 1 });
    }
}

fn main() -> i32 {
    println!("init: Moroso userland is up (thread {})", libsys::raw::gettid());
    match libsys::thread::spawn(greeter, 0)
        .map_err(ipc::IpcError::Sys)
        .and_then(|t| ipc::call(t, &Greeting { count: 41 }, Timeout::Forever))
    {
        Ok(g) => println!("init: a typed IPC call to a thread came back with {}", g.count),
        Err(e) => println!("init: typed IPC failed: {e}"),
    }
    match libsys::task::spawn("hello", 0).and_then(libsys::task::wait) {
        Ok(status) => println!("init: hello exited with status {status}"),
        Err(e) => println!("init: could not run hello: {e}"),
    }
    0
}
