// A reply is a short message: at most 4 KiB.
#[libsys::interface]
trait Disk {
    fn read_block(&mut self, block: u64) -> [u8; 4096];
}

fn main() {}
