// Pages are moved (`Pages`) or shared (`&SharedPages`); `&Pages` is neither.
use libsys::ipc::Pages;

#[libsys::interface]
trait Sink {
    fn take(&mut self, data: &Pages) -> u32;
}

fn main() {}
