//! [`Error`]: every way a system call can fail, with its negative return code.
//!
//! The kernel works with `Result<_, Error>` internally and turns the error into its code
//! only at the system-call boundary; userland decodes a negative return with
//! `Error::try_from(code)`.

use crate::message::Message;
use num_enum::{IntoPrimitive, TryFromPrimitive};

/// A system-call failure. The discriminant is the value the system call returns.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash, IntoPrimitive, TryFromPrimitive)]
#[repr(i32)]
pub enum Error {
    /// A value or flag out of range (e.g. `option_sync > 2`, a synchronous send to oneself).
    InvalidArgument = -1,
    /// A pointer or range is not valid user memory of the caller.
    BadAddress = -2,
    /// A long-message address or length is not page-aligned / a multiple of 4 KiB.
    Misaligned = -3,
    /// `*len_short > SHORT_MAX`, or a long message larger than the receiver's window.
    TooLong = -4,
    /// The id names no living thread.
    NoSuchThread = -5,
    /// The timeout expired first; also `ipc_reply` to a sender that timed out.
    Timeout = -6,
    /// The other side died before the operation completed.
    PeerDied = -7,
    /// `ipc_recv` before replying to the last synchronous sender.
    ReplyPending = -8,
    /// `ipc_reply` with no synchronous sender awaiting a reply.
    NoReplyPending = -9,
    /// A long move names pages the caller does not own exclusively, or a long message
    /// names a read-only page (a program's image, which carries no transfer right).
    NotOwner = -10,
    /// The receive window is not entirely unmapped user space.
    WindowOccupied = -11,
    /// The receiver's asynchronous queue (or the sender's own budget) is at its bound.
    QueueFull = -12,
    /// The kernel could not allocate, or the task is at its memory limit.
    OutOfMemory = -13,
    /// `make_runnable` of a thread that is not descheduled.
    NotDescheduled = -14,
    /// `yield_to` a thread that is not runnable.
    NotRunnable = -15,
    /// A program name that is not in the boot image, or an image that cannot be loaded.
    NoSuchProgram = -16,
    /// The id names no task (or one whose status was already collected).
    NoSuchTask = -17,
    /// A device capability (an IRQ line, an I/O port) the task was not granted, or an
    /// IRQ line another driver holds; `make_runnable` of another task's thread;
    /// `task_wait` for a task the caller did not start.
    PermissionDenied = -18,
    /// `ipc_reply` (or the reply of `IpcReplyWait`) could not be written to its caller:
    /// the caller's own buffer had become invalid. The caller was released with
    /// `BadAddress`, and the reply is gone.
    NotDelivered = -19,
    /// A name, file or other named thing that does not exist (a name server or file
    /// server answer; no system call returns it).
    NotFound = -20,
    /// A name already bound to a living thread, or a similar clash.
    AlreadyExists = -21,
    /// A server's table (names, files, file bytes) is full; nothing was changed.
    NoSpace = -22,
}

impl Error {
    /// Every variant, in code order. Used by tests and by const checks below.
    pub const ALL: [Error; 22] = [
        Error::InvalidArgument,
        Error::BadAddress,
        Error::Misaligned,
        Error::TooLong,
        Error::NoSuchThread,
        Error::Timeout,
        Error::PeerDied,
        Error::ReplyPending,
        Error::NoReplyPending,
        Error::NotOwner,
        Error::WindowOccupied,
        Error::QueueFull,
        Error::OutOfMemory,
        Error::NotDescheduled,
        Error::NotRunnable,
        Error::NoSuchProgram,
        Error::NoSuchTask,
        Error::PermissionDenied,
        Error::NotDelivered,
        Error::NotFound,
        Error::AlreadyExists,
        Error::NoSpace,
    ];

    /// The system-call return value for this error.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// A short, stable, human-readable name (the variant name).
    pub const fn name(self) -> &'static str {
        match self {
            Error::InvalidArgument => "InvalidArgument",
            Error::BadAddress => "BadAddress",
            Error::Misaligned => "Misaligned",
            Error::TooLong => "TooLong",
            Error::NoSuchThread => "NoSuchThread",
            Error::Timeout => "Timeout",
            Error::PeerDied => "PeerDied",
            Error::ReplyPending => "ReplyPending",
            Error::NoReplyPending => "NoReplyPending",
            Error::NotOwner => "NotOwner",
            Error::WindowOccupied => "WindowOccupied",
            Error::QueueFull => "QueueFull",
            Error::OutOfMemory => "OutOfMemory",
            Error::NotDescheduled => "NotDescheduled",
            Error::NotRunnable => "NotRunnable",
            Error::NoSuchProgram => "NoSuchProgram",
            Error::NoSuchTask => "NoSuchTask",
            Error::PermissionDenied => "PermissionDenied",
            Error::NotDelivered => "NotDelivered",
            Error::NotFound => "NotFound",
            Error::AlreadyExists => "AlreadyExists",
            Error::NoSpace => "NoSpace",
        }
    }
}

/// An error is a message (its `i32` code), so that servers can answer with `abi::Error`
/// values: `fn op(&mut self, ..) -> Result<T, abi::Error>` in an interface.
impl Message for Error {
    const SIZE: usize = 4;
    type Reply = crate::message::NoReply;

    fn encode_into(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.code().to_le_bytes());
    }

    fn decode(bytes: &[u8]) -> Result<Self, crate::message::DecodeError> {
        let code = i32::decode(bytes)?;
        Error::try_from(code).map_err(|_| crate::message::DecodeError::Invalid { type_name: "abi::Error", offset: 0 })
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

// Every code negative and distinct: a non-negative return is never mistaken for an error,
// and decoding is unambiguous. `ALL` covering every variant is checked by the exhaustive
// `match` in `name` plus the host test that round-trips each code.
const _: () = {
    let mut i = 0;
    while i < Error::ALL.len() {
        assert!(Error::ALL[i].code() < 0);
        let mut j = i + 1;
        while j < Error::ALL.len() {
            assert!(Error::ALL[i].code() != Error::ALL[j].code());
            j += 1;
        }
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::Error;
    use crate::message::{DecodeError, Message};

    #[test]
    fn errors_travel_as_messages() {
        for e in Error::ALL {
            let wire: [u8; 4] = crate::message::encode_array(&e);
            assert_eq!(Error::decode(&wire), Ok(e));
        }
        let bad = DecodeError::Invalid { type_name: "abi::Error", offset: 0 };
        assert_eq!(Error::decode(&0i32.to_le_bytes()), Err(bad), "0 is no error");
        assert_eq!(Error::decode(&(-1000i32).to_le_bytes()), Err(bad));
    }

    #[test]
    fn every_code_round_trips() {
        for e in Error::ALL {
            assert_eq!(Error::try_from(e.code()), Ok(e));
            assert_eq!(i32::from(e), e.code());
        }
    }

    #[test]
    fn all_lists_every_code_once_and_nothing_else_decodes() {
        // Codes are dense from -1 down; anything outside that range is not an error code.
        let n = Error::ALL.len() as i32;
        for code in -(n + 5)..=5 {
            let decoded = Error::try_from(code).ok();
            assert_eq!(decoded.is_some(), (-n..=-1).contains(&code), "code {code}");
        }
    }

    #[test]
    fn contract_values_match_design() {
        // External programs match on these variants: they are a public contract.
        assert_eq!(Error::InvalidArgument.code(), -1);
        assert_eq!(Error::OutOfMemory.code(), -13);
        assert_eq!(Error::Timeout.name(), "Timeout");
    }

    #[test]
    fn a_reply_not_delivered_has_its_own_code() {
        // Not BadAddress (the replier's own arguments) nor PeerDied (nobody to answer):
        // the caller was there, its buffer was not.
        assert_eq!(Error::NotDelivered.code(), -19);
        assert_eq!(Error::try_from(-19), Ok(Error::NotDelivered));
        assert_eq!(Error::NotDelivered.name(), "NotDelivered");
        assert!(Error::ALL.iter().filter(|e| e.code() == -19).count() == 1);
    }
}
