// The caller is a value the server fills in, not a reference.
use libsys::ipc::Caller;

#[libsys::interface]
trait Registry {
    fn claim(&mut self, who: &Caller, name: u32) -> u32;
}

fn main() {}
