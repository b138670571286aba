// The server runs a call to completion and replies: no `async`.
#[libsys::interface]
trait Clock {
    async fn now(&mut self) -> u64;
}

fn main() {}
