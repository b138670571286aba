// Each operation needs its own name.
#[libsys::interface]
trait Files {
    fn open(&mut self, id: u32) -> u32;
    fn open(&mut self, id: u64) -> u32;
}

fn main() {}
