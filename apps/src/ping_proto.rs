//! The interface of `pingserver` and `pingclient` (`cargo xtask run --app pingserver --app
//! pingclient`): two programs sharing one `#[libsys::interface]` trait from a library, as
//! a program of one's own would.

/// The name the server registers (`libsys::name`).
pub const NAME: &str = "ping";

/// A server that answers a number with the next one.
#[libsys::interface]
pub trait Ping {
    /// `n + 1` (wrapping).
    fn ping(&mut self, n: u32) -> u32;
}
