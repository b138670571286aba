// A request is a short message: at most 4 KiB, operation byte included.
#[libsys::interface]
trait Disk {
    fn write_block(&mut self, block: u64, data: [u8; 4096]) -> bool;
}

fn main() {}
