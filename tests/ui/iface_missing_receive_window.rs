// A server of an interface that takes pages must say where they go.
use libsys::ipc::Pages;

#[libsys::interface]
trait Sink {
    fn take(&mut self, data: Pages) -> u64;
}

struct Mine;

impl Sink for Mine {
    fn take(&mut self, data: Pages) -> u64 {
        data.count()
    }
}

fn main() {}
