// The kernel answers the replying thread's last call: a token stays on its thread.
use libsys::ipc::ReplyToken;

fn needs_send<T: Send>(_: T) {}

fn pass_on(token: ReplyToken<u32>) {
    needs_send(token);
}

fn main() {}
