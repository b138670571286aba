// A reply token cannot be copied: one call, one reply.
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
        let spare = reply.clone();
        let _ = reply.reply(&Pong { n: 1 });
        let _ = spare.reply(&Pong { n: 2 });
    }
}
