// A message's size is fixed where it is declared.
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Boxed<T> {
    value: T,
}

fn main() {}
