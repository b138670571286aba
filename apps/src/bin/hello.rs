//! The smallest Moroso program: says hello, exits with the status it was asked for.
#![no_std]
#![no_main]

libsys::entry!(main);

fn main() -> i32 {
    libsys::println!("hello from task thread {} (arg {})", libsys::raw::gettid(), libsys::task::arg());
    libsys::task::arg() as i32
}
