// A reference would dangle in the server's address space.
#[libsys::interface]
trait Store {
    fn put(&mut self, name: &[u8; 16]) -> bool;
}

fn main() {}
