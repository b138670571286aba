// A short message is at most one page (abi::SHORT_MAX): bulk data goes as pages.
use libsys::Message;

#[derive(Message)]
#[repr(C)]
struct Huge {
    bytes: [u8; 5000],
}

fn main() {}
