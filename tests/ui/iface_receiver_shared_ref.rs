// The server runs every operation on its own state: `&self` is refused.
#[libsys::interface]
trait Counter {
    fn get(&self) -> u32;
}

fn main() {}
