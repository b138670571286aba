// Message enums are tags; data goes in a struct next to the tag.
use libsys::Message;

#[derive(Message)]
#[repr(u8)]
enum Command {
    Stop,
    Move(u32),
}

fn main() {}
