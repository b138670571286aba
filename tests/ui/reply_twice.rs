// A call is answered exactly once: the reply token is consumed by replying.
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
        let _ = reply.reply(&Pong { n: 1 });
        let _ = reply.reply(&Pong { n: 2 });
    }
}
