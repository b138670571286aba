// The reply to a Ping is a Pong: replying with anything else does not compile.
use libsys::ipc::{self, Incoming, Timeout};
use libsys::Message;

#[derive(Message)]
#[repr(C)]
#[message(reply = Pong)]
struct Ping {
    n: u32,
}

#[derive(Message)]
#[repr(C)]
struct Pong {
    n: u32,
}

fn main() {
    if let Ok(Incoming::Call { reply, .. }) = ipc::receive::<Ping>(Timeout::Forever) {
        let _ = reply.reply(&Ping { n: 1 });
    }
}
