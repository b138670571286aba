// The attribute goes on a trait.
#[libsys::interface]
struct Server {
    count: u32,
}

fn main() {}
