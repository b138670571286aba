// A call carries one range of pages.
use libsys::ipc::{Pages, SharedPages};

#[libsys::interface]
trait Copier {
    fn copy(&mut self, from: &SharedPages, to: Pages) -> u32;
}

fn main() {}
