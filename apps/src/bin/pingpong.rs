//! A small client and server in two tasks, for `cargo xtask trace` (its test step, and the
//! example diagram in docs/): the server says hello, the client makes three calls and
//! then tells the server to stop with an asynchronous message.
//!
//! Run as the first program it is the client; it starts a copy of itself as the server,
//! giving it its own tid as the argument.
#![no_std]
#![no_main]

use libsys::ipc::{self, Incoming, Timeout};
use libsys::{println, Message};

libsys::entry!(main);

/// A request, and its reply (`n + 1`). `quit` (sent asynchronously) stops the server.
#[derive(Message)]
#[repr(C)]
#[message(reply = Ping)]
struct Ping {
    n: u32,
    quit: u32,
}

/// Calls the client makes.
const CALLS: u32 = 3;

fn main() -> i32 {
    match libsys::task::arg() {
        0 => client(),
        tid => server(tid as u32),
    }
}

fn client() -> i32 {
    let me = libsys::raw::gettid();
    let server_task = match libsys::task::spawn("pingpong", me as u64) {
        Ok(t) => t,
        Err(e) => {
            println!("pingpong: cannot start the server: {e}");
            return 1;
        }
    };
    // The server introduces itself: that is how the client learns its tid.
    let server = match ipc::receive::<Ping>(Timeout::Forever) {
        Ok(hello) => hello.from(),
        Err(e) => {
            println!("pingpong: no hello from the server: {e}");
            return 1;
        }
    };
    for n in 0..CALLS {
        match ipc::call(server, &Ping { n, quit: 0 }, Timeout::Forever) {
            Ok(reply) if reply.n == n + 1 => {}
            Ok(reply) => {
                println!("pingpong: call {n} came back with {}", reply.n);
                return 1;
            }
            Err(e) => {
                println!("pingpong: call {n} failed: {e}");
                return 1;
            }
        }
    }
    if let Err(e) = ipc::send(server, &Ping { n: 0, quit: 1 }) {
        println!("pingpong: cannot stop the server: {e}");
        return 1;
    }
    match libsys::task::wait(server_task) {
        Ok(0) => {
            println!("pingpong: {CALLS} calls answered, the server stopped");
            0
        }
        other => {
            println!("pingpong: the server ended with {other:?}");
            1
        }
    }
}

fn server(client: u32) -> i32 {
    if ipc::notify(client, &Ping { n: 0, quit: 0 }, Timeout::Forever).is_err() {
        return 2;
    }
    let mut next = ipc::receive::<Ping>(Timeout::Forever);
    loop {
        next = match next {
            Ok(Incoming::Call { msg, reply, .. }) => {
                reply.reply_and_receive(&Ping { n: msg.n.wrapping_add(1), quit: 0 }, Timeout::Forever)
            }
            Ok(Incoming::Async { msg, .. }) if msg.quit != 0 => return 0,
            _ => return 3,
        }
    }
}
