//! The name service's fixed points, shared by the name server and `libsys::name`.
//!
//! The name server is the program named [`SERVER_PROGRAM`] in the boot image, as init
//! started it. A program finds its thread through `ps` (the first thread of the live task
//! of that program whose parent is init, the task running the image's first program), so
//! nothing needs to be handed to it at start, a restarted name server is found again, and
//! a copy of the program started by anyone else is never taken for it.
//!
//! Names equal to an image program's name belong to that program: only a task running it
//! (and, for a program init starts at boot, the task init started) may register them.
//! They are kept apart from the other names, so a full table never keeps a server from
//! taking its own name back after a restart.

/// The name server's program name in the boot image.
pub const SERVER_PROGRAM: &str = "names";

/// Longest name, in bytes.
pub const NAME_MAX: usize = 32;

/// Names that are not image program names the server holds at most; past it, `register`
/// is `Error::NoSpace` (after names of dead threads have been released). Program names
/// (at most one binding per image program) are held beside these.
pub const TABLE_MAX: usize = 64;

/// Names (other than its own program's) one task may hold at most: an eighth of
/// [`TABLE_MAX`], so one living program can never fill the table (`Error::NoSpace` for
/// that task only, like the kernel's per-task shares).
pub const PER_TASK_MAX: usize = TABLE_MAX / 8;

/// How long `libsys::name` waits for the name server to answer one request, in ticks:
/// far beyond what a request takes, so that a server that hangs fails its clients'
/// requests (`Error::Timeout`) instead of holding them.
pub const CALL_TIMEOUT_TICKS: u32 = 500;
