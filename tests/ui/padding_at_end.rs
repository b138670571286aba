// Padding after the last field is padding too, and the error counts it.
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Tail {
    value: u64,
    flag: u8,
}

fn main() {}
