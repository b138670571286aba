// A reference would dangle in the receiver.
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Borrowing {
    value: &'static u32,
}

fn main() {}
