// A borrowed string is a reference like any other: the message says so, not "generic".
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Named<'a> {
    name: &'a str,
}

fn main() {}
