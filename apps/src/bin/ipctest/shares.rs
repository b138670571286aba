//! A sender's share of another task's mailbox (`abi::image::Limits::async_per_mailbox`):
//! one task flooding a mailbox with asynchronous messages is refused at its share, and a
//! second sender still gets its messages into the same mailbox.

use crate::ipc::{self, wait_blocked, ASYNC};
use crate::peer;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use libsys::abi::image::Limits;
use libsys::abi::Error;
use libsys::raw;
use moroso_apps::harness::{Msg, Suite};
use moroso_apps::{ensure, ensure_eq};

/// Most messages a flooder tries (a kernel without shares would take a whole queue).
const FLOOD_MAX: i32 = 100;

/// Sends one-byte messages `[tag]` to thread `to` until refused; returns how many were
/// accepted if the refusal was `QueueFull`, else 1000 plus the refusal's code negated.
pub fn flood(to: u32, tag: u8) -> i32 {
    for sent in 0..FLOOD_MAX {
        match ipc::send_msg(to, &[tag], ASYNC, 0) {
            Ok(_) => {}
            Err(Error::QueueFull) => return sent,
            Err(e) => return 1000 - e.code(),
        }
    }
    FLOOD_MAX
}

/// Messages the mailbox's owner found, by tag (0: anything else).
static FOUND: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];
static DRAINED: AtomicBool = AtomicBool::new(false);

/// The flooded mailbox's owner: receives nothing until woken, then takes every message.
fn owner(_: usize) {
    let zero = 0i32;
    // SAFETY: a valid i32.
    unsafe { raw::deschedule(&zero) };
    let mut buf = [0u8; 8];
    while let Ok(r) = ipc::recv(&mut buf, 0) {
        let tag = if r.len == 1 && (1..=2).contains(&buf[0]) { buf[0] as usize } else { 0 };
        FOUND[tag].fetch_add(1, Ordering::SeqCst);
    }
    DRAINED.store(true, Ordering::SeqCst);
}

fn flooder(target: u32, tag: u8) -> Result<i32, Msg> {
    let arg = peer::arg(peer::FLOOD, target) | (tag as u64) << 40;
    let task = libsys::task::spawn("ipctest", arg).map_err(|e| Msg::new(format_args!("spawn: {e}")))?;
    libsys::task::wait(task).map_err(|e| Msg::new(format_args!("wait: {e}")))
}

pub fn cases(s: &mut Suite) {
    s.case("shares::a_flooder_is_refused_at_its_share_and_another_sender_gets_in", || {
        let share = Limits::DEFAULT.async_per_mailbox as i32;
        ensure!((share as usize) < libsys::abi::ipc::ASYNC_QUEUE_MAX, "the default share leaves room");
        let t = libsys::thread::spawn(owner, 0).map_err(|e| Msg::new(format_args!("spawn: {e}")))?;
        wait_blocked(t);
        ensure_eq!(flooder(t, 1)?, share, "messages the first flooder got in");
        ensure_eq!(flooder(t, 2)?, share, "messages a second sender got in");
        while raw::make_runnable(t) != 0 {
            libsys::time::yield_now();
        }
        crate::load::wait_for(|| DRAINED.load(Ordering::SeqCst));
        let found = [0, 1, 2].map(|i| FOUND[i].load(Ordering::SeqCst) as i32);
        ensure_eq!(found, [0, share, share], "messages in the mailbox (other, first, second)");
        Ok(())
    });
}
