//! [`serve`]: a typed server's loop, written once so that every server gets the fast one.
//!
//! A loop written by hand (`next = match next { .. => reply.reply_and_receive(..) }`)
//! carries the received `Result<Incoming<M>, IpcError>` from one turn to the next, so the
//! compiler builds that value in registers and tests it again at the top of the loop. Here
//! what goes round the loop is the next system call's registers (the reply and its words),
//! and each message is built and handed to the handler in the turn that received it, where
//! the compiler sees both its making and its `match` and folds them away.
//!
//! Invariant: every call the handler is given is answered exactly once, as everywhere in
//! this module: by the reply of [`Next::Reply`] (with the next receive, in one system call
//! when both fit the registers), by [`ReplyToken::reply`] inside the handler, or by the
//! token's drop (an empty reply).

use super::{incoming_from_registers, receive, Incoming, IpcError, Message, ReplyToken, Timeout, FAST};
use crate::raw;
use abi::ipc::fast;
use abi::Syscall;

/// What a [`serve`] handler does after one message.
#[must_use = "`serve` answers, waits or returns as this says"]
pub enum Next<R> {
    /// Answer the call this token came with by `R`, then wait for the next message: one
    /// system call (`IpcReplyWait`) when both fit the registers. If the reply fails (its
    /// caller gave up or died), the handler is given that error next, without a wait.
    Reply(ReplyToken<R>, R),
    /// Wait for the next message: nothing to answer (an asynchronous message, an error),
    /// or answered already (with [`ReplyToken::reply`]; a token dropped unused answers
    /// with an empty reply, as always).
    Receive,
    /// Return from [`serve`].
    Stop,
}

/// Serves messages of type `M`, each wait lasting up to `timeout`, until `handle` returns
/// [`Next::Stop`]: `handle` gets each message (or the error that ended a wait) and says
/// what to do next. Replies and the wait for the next message go in one system call when
/// `M` and its reply fit the registers (`abi::ipc::fast::MAX` bytes), else as
/// [`ReplyToken::reply`] and [`receive`] would.
///
/// ```no_run
/// use libsys::ipc::{self, Incoming, Next, Timeout};
/// use libsys::Message;
///
/// #[derive(Message)]
/// #[repr(C)]
/// #[message(reply = Sum)]
/// struct Add {
///     a: u32,
///     b: u32,
/// }
///
/// #[derive(Message)]
/// #[repr(C)]
/// struct Sum {
///     value: u64,
/// }
///
/// ipc::serve::<Add, _>(Timeout::Forever, |next| match next {
///     // Answered with the wait for the next call: one system call.
///     Ok(Incoming::Call { msg, reply, .. }) => Next::Reply(reply, Sum { value: msg.a as u64 + msg.b as u64 }),
///     // Asynchronous notes, malformed messages, a caller that gave up: wait again.
///     Ok(_) | Err(_) => Next::Receive,
/// });
/// ```
pub fn serve<M: Message, F>(timeout: Timeout, mut handle: F)
where
    F: FnMut(Result<Incoming<M>, IpcError>) -> Next<M::Reply>,
{
    if M::FITS_FAST_PATH {
        // What goes round the loop is the last system call's result registers: each way
        // on has its own `IpcReplyWait`, so none waits on a choice made in another turn.
        let timeout = fast::timeout_word(timeout.to_raw());
        let mut out = reply_wait(fast::reply_word(None), [0; fast::WORDS], timeout);
        loop {
            out = match handle(incoming_from_registers(out)) {
                Next::Reply(token, reply) => {
                    core::mem::forget(token); // answered by this system call, not by the drop
                    let mut bytes = [0u8; FAST];
                    reply.encode_into(&mut bytes);
                    // Past the reply, zeros: nothing of this program's reaches the caller.
                    let words = fast::to_words(&bytes);
                    reply_wait(fast::reply_word(Some(<M::Reply as Message>::SIZE)), words, timeout)
                }
                Next::Receive => reply_wait(fast::reply_word(None), [0; fast::WORDS], timeout),
                Next::Stop => return,
            };
        }
    }
    let mut next = receive::<M>(timeout);
    loop {
        next = match handle(next) {
            Next::Reply(token, reply) => match token.reply(&reply) {
                Ok(()) => receive(timeout),
                Err(e) => Err(IpcError::from(e)),
            },
            Next::Receive => receive(timeout),
            Next::Stop => return,
        };
    }
}

/// `IpcReplyWait` with the reply word `word` and its `words`, waiting up to the timeout word
/// `timeout`: what `incoming_from_registers` decodes.
#[inline(always)]
pub(super) fn reply_wait(
    word: u64,
    words: [u64; fast::WORDS],
    timeout: u64,
) -> (i32, raw::Sender, usize, [u64; fast::WORDS]) {
    // SAFETY: registers only.
    let (r, sender, len, w) = unsafe { raw::fast_syscall(Syscall::IpcReplyWait, word, timeout, words) };
    (r as i32, raw::Sender::from_word(sender), len as usize, w)
}
