//! The first program: starts the others and reports how they ended.
#![no_std]
#![no_main]

use libsys::println;

libsys::entry!(main);

fn main() -> i32 {
    println!("init: Moroso userland is up (thread {})", libsys::raw::gettid());
    match libsys::task::spawn("hello", 0).and_then(libsys::task::wait) {
        Ok(status) => println!("init: hello exited with status {status}"),
        Err(e) => println!("init: could not run hello: {e}"),
    }
    0
}
