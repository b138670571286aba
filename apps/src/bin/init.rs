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
    // Interactive (the kernel command line says `interactive`; `cargo xtask run` does that
    // when it runs on a terminal): the user-level console and a shell on it.
    if libsys::task::arg() & libsys::abi::image::FIRST_ARG_INTERACTIVE != 0 {
        interactive();
    }
    0
}

/// Starts the console server (the driver of COM1), then a shell on it; when the shell
/// ends, stops the console.
fn interactive() {
    let me = libsys::raw::gettid() as u64;
    let Ok(console_task) = libsys::task::spawn("console", me) else {
        println!("init: no console server in the boot image");
        return;
    };
    // The console says hello once it drives COM1.
    let Ok(hello) = ipc::receive::<moroso_apps::console_proto::Request>(Timeout::Ticks(500)) else {
        println!("init: the console server did not start");
        return;
    };
    let console = hello.from();
    match libsys::task::spawn("shell", console as u64).and_then(libsys::task::wait) {
        Ok(status) => println!("init: the shell exited with status {status}"),
        Err(e) => println!("init: could not run the shell: {e}"),
    }
    let quit = moroso_apps::console_proto::Request::new(moroso_apps::console_proto::Op::Quit, b"");
    let _ = ipc::call(console, &quit, Timeout::Forever);
    let _ = libsys::task::wait(console_task);
}
