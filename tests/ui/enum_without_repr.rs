// A tag needs a fixed size.
use libsys::Message;

#[derive(Message)]
enum Mode {
    Fast,
    Slow,
}

fn main() {}
