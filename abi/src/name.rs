//! The name service's fixed points, shared by the name server and `libsys::name`.
//!
//! The name server is the program named [`SERVER_PROGRAM`] in the boot image. A program
//! finds its thread through `ps` (the first thread of the live task of that name), so
//! nothing needs to be handed to it at start, and a restarted name server is found again.

/// The name server's program name in the boot image.
pub const SERVER_PROGRAM: &str = "names";

/// Longest name, in bytes.
pub const NAME_MAX: usize = 32;

/// Names the server holds at most; past it, `register` is `Error::NoSpace` (after names
/// of dead threads have been released).
pub const TABLE_MAX: usize = 64;
