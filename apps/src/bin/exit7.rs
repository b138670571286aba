//! Exits with status 7: the runner's test that a task's status reaches the shell.
#![no_std]
#![no_main]

libsys::entry!(main);

fn main() -> i32 {
    libsys::println!("exit7: exiting with status 7");
    7
}
