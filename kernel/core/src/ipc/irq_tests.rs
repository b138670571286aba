//! Interrupts delivered as messages from the kernel (docs/ipc.md decision 9), on the host.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::World;
use abi::ipc::{RecvFlags, KERNEL_TID};

const FOREVER: i32 = -1;
const WORD: u64 = KERNEL_TID as u64 | (RecvFlags::INTERRUPT.bits() as u64) << 32;

#[test]
fn a_waiting_driver_gets_the_interrupt_at_once() {
    let mut w = World::new(&[1]);
    let d = w.threads[0];
    assert_eq!(w.recv(d, 8, FOREVER), Ok(Blocked));
    w.core.post_interrupt(d, 4);
    assert_eq!(w.take_wake(d), Some((1, Some(WORD))), "an async message from the kernel, flagged");
    assert_eq!(w.received(d), [4], "one byte: the IRQ number");
}

#[test]
fn interrupts_wait_coalesced_and_come_before_clients() {
    let mut w = World::new(&[1, 1]);
    let (d, client) = (w.threads[0], w.threads[1]);
    assert_eq!(w.send(client, d, b"request", 0, 0), Ok(Done(1, 0)));
    w.core.post_interrupt(d, 4);
    w.core.post_interrupt(d, 4); // the same line again before the driver looked: one pending
    w.core.post_interrupt(d, 3);
    assert_eq!(w.recv(d, 8, 0), Ok(Done(1, WORD)));
    assert_eq!(w.received(d), [3], "lowest line first");
    assert_eq!(w.recv(d, 8, 0), Ok(Done(1, WORD)));
    assert_eq!(w.received(d), [4]);
    assert_eq!(w.recv(d, 8, 0), Ok(Done(1, w.tid(client) as u64)), "then the client");
    assert_eq!(w.recv(d, 8, 0), Err(abi::Error::Timeout), "nothing duplicated");
}

#[test]
fn a_fast_path_driver_gets_it_in_registers() {
    let mut w = World::new(&[1]);
    let d = w.threads[0];
    assert_eq!(w.reply_wait(d, None, FOREVER), Ok(Blocked));
    w.core.post_interrupt(d, 1);
    assert_eq!(w.take_wake(d), Some((1, None)));
    assert_eq!(w.fast_out(d), Some((vec![1], WORD)));
}
