// A server serves many calls: a method cannot consume it.
#[libsys::interface]
trait Once {
    fn finish(self) -> u32;
}

fn main() {}
