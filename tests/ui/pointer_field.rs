// A pointer means nothing in another address space.
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Leaky {
    data: *const u8,
    len: u64,
}

fn main() {}
