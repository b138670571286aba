// One argument says who called; a second would be the same thread again.
use libsys::ipc::Caller;

#[libsys::interface]
trait Registry {
    fn claim(&mut self, who: Caller, again: Caller, name: u32) -> u32;
}

fn main() {}
