// Every argument travels as a message.
struct Plain {
    value: u32,
}

#[libsys::interface]
trait Store {
    fn put(&mut self, key: u32, value: Plain) -> bool;
}

fn main() {}
