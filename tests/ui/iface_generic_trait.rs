// Both sides must agree on fixed types: the interface itself cannot be generic.
#[libsys::interface]
trait Store<T> {
    fn put(&mut self, value: u32) -> u32;
}

fn main() {}
