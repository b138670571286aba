// A generic method has no one request type.
use libsys::Message;

#[libsys::interface]
trait Store {
    fn put<T: Message>(&mut self, value: T) -> u32;
}

fn main() {}
