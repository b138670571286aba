// The generated client has `new`, `with_timeout` and `tid` of its own.
#[libsys::interface]
trait Factory {
    fn new(&mut self, size: u32) -> u32;
}

fn main() {}
