// Without repr(C) the compiler may reorder fields.
use libsys::Message;

#[derive(Message)]
struct Unordered {
    a: u32,
    b: u32,
}

fn main() {}
