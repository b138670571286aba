// The in-memory layout must be the encoding: no hidden padding bytes.
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Gappy {
    flag: u8,
    value: u32,
}

fn main() {}
