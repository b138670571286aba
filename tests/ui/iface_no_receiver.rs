// An associated function has no server to run on.
#[libsys::interface]
trait Factory {
    fn make(size: u32) -> u32;
}

fn main() {}
