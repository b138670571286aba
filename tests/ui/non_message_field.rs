// Every field must itself be a message.
use libsys::Message;

struct NotAMessage {
    x: u32,
}

#[derive(Message)]
#[repr(C)]
struct Wrapper {
    inner: NotAMessage,
}

fn main() {}
