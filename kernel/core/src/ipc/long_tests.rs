//! Long messages: pages moved or shared between address spaces, with page-ownership rights
//! (docs/ipc.md, "Page ownership"), on the host.

use super::fixture::Outcome::{Blocked, Done};
use super::fixture::{code, long_base, window, World, NOT_TRANSFERRED, TRANSFERRED};
use crate::mem::pagemap::PageMap;
use crate::mem::regions::{Region, MAX_REGIONS};
use crate::task::State;
use crate::task::ThreadSlot;
use abi::ipc::RECV_SHARED;
use abi::Error;

const P: u64 = abi::PAGE_SIZE as u64;
const FOREVER: i32 = -1;

fn world() -> (World, ThreadSlot, ThreadSlot, ThreadSlot) {
    let w = World::new(&[1, 1, 1]);
    let (a, b, c) = (w.threads[0], w.threads[1], w.threads[2]);
    (w, a, b, c)
}

fn frame(w: &mut World, t: ThreadSlot, va: u64) -> u64 {
    w.mem(t).page(va).expect("mapped").frame
}

#[test]
fn a_move_unmaps_from_the_sender_and_maps_in_the_receiver() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 3, 10);
    let frames: Vec<u64> = (0..3).map(|i| frame(&mut w, a, long_base(a) + i * P)).collect();
    assert_eq!(w.recv_long(b, 4, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, b, 3, false, FOREVER), Ok(Blocked), "a long send is a call");
    assert_eq!(w.take_wake(b), Some((0, Some(w.tid(a) as u64))), "moved: no shared flag");
    assert_eq!(w.long_len(b), 3 * 4096);
    assert_eq!(w.tags(b, window(b), 3), [Some(10), Some(11), Some(12)], "contents arrive");
    assert_eq!(w.tags(a, long_base(a), 3), [None, None, None], "gone from the sender");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(frame(&mut w, b, window(b) + i as u64 * P), *f, "the same frames, not copies");
        assert_eq!(w.frames.map_count(*f), 1, "exclusive to the receiver");
    }
    assert_eq!(w.mem(a).regions().find(long_base(a)), None, "the sender's region went with them");
    assert_eq!(w.mem(b).regions().find(window(b)).map(|r| r.pages), Some(3), "a region of the receiver");
    assert_eq!(w.reply(b, b"ok"), Ok(Done(0, 0)));
}

#[test]
fn a_share_maps_the_same_frames_in_both() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 2, 20);
    assert_eq!(w.send_long(a, b, 2, true, FOREVER), Ok(Blocked));
    assert_eq!(w.recv_long(b, 2, 0), Ok(Done(0, w.tid(a) as u64 | RECV_SHARED)));
    assert_eq!(w.tags(a, long_base(a), 2), [Some(20), Some(21)], "still the sender's");
    assert_eq!(w.tags(b, window(b), 2), [Some(20), Some(21)]);
    let f = frame(&mut w, a, long_base(a));
    assert_eq!(frame(&mut w, b, window(b)), f);
    assert_eq!(w.frames.map_count(f), 2);
    // Writes through either mapping are seen through the other.
    use crate::umem::UserMemory;
    w.mem(b).copy_out(window(b), b"written by b").unwrap();
    let mut buf = [0u8; 12];
    w.mem(a).copy_in(long_base(a), &mut buf).unwrap();
    assert_eq!(&buf, b"written by b");
}

#[test]
fn shared_pages_cannot_be_moved_until_exclusive_again() {
    let (mut w, a, b, c) = world();
    w.map_long(a, 1, 1);
    assert_eq!(w.send_long(a, b, 1, true, FOREVER), Ok(Blocked));
    assert_eq!(w.recv_long(b, 1, 0).map(|_| ()), Ok(()));
    w.reply(b, b"").unwrap();
    assert_eq!(w.send_long(a, c, 1, false, 0), Err(Error::NotOwner), "the sender may not move a shared page");
    assert_eq!(w.send_long(a, c, 1, true, FOREVER), Ok(Blocked), "but may share it further");
    assert_eq!(w.recv_long(c, 1, 0).map(|_| ()), Ok(()));
    w.reply(c, b"").unwrap();
    let f = frame(&mut w, a, long_base(a));
    assert_eq!(w.frames.map_count(f), 3);
    assert!(w.remove_region(b, window(b)));
    assert!(w.remove_region(c, window(c)));
    let f = frame(&mut w, a, long_base(a));
    assert_eq!(w.frames.map_count(f), 1, "exclusive again");
    assert_eq!(w.recv_long(c, 1, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, c, 1, false, FOREVER), Ok(Blocked), "now it may move");
    assert_eq!(w.tags(c, window(c), 1), [Some(1)]);
}

#[test]
fn long_send_argument_errors() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 2, 0);
    let tb = w.tid(b);
    w.core.switch_to(a);
    let base = w.send_args(a, tb, b"x", 1, 0);
    let with = |va: u64, len: u32| super::SendArgs { message_long: va, len_long: len, ..base };
    assert_eq!(w.ipc_send(with(long_base(a) + 8, 4096)), Err(Error::Misaligned), "unaligned message_long");
    assert_eq!(w.ipc_send(with(long_base(a), 4095)), Err(Error::Misaligned), "len_long not a page multiple");
    assert_eq!(w.ipc_send(with(long_base(a), 3 * 4096)), Err(Error::BadAddress), "the third page is not mapped");
    assert_eq!(w.ipc_send(with(0xffff_8000_0000_0000, 4096)), Err(Error::BadAddress), "kernel pages");
    assert_eq!(w.ipc_send(with(0x1000, 4096)), Err(Error::BadAddress), "the null guard");
    assert_eq!(w.ipc_send(with(long_base(a), 8192)), Err(Error::Timeout), "valid, nobody receiving, timeout 0");
    let own = super::SendArgs { id: w.tid(a), ..with(long_base(a), 4096) };
    assert_eq!(w.ipc_send(own), Err(Error::InvalidArgument), "a long send to oneself is a call to oneself");
    assert_eq!(w.tags(a, long_base(a), 2), [Some(0), Some(1)], "nothing moved");
}

#[test]
fn read_only_pages_do_not_travel() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 2, 3);
    w.mem(a).set_writable(long_base(a) + P, false); // as a program's image is
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, b, 2, true, 0), Err(Error::NotOwner), "shared");
    assert_eq!(w.send_long(a, b, 2, false, 0), Err(Error::NotOwner), "moved");
    assert_eq!(w.tags(a, long_base(a), 2), [Some(3), Some(4)], "nothing left");
    assert_eq!(w.send_long(a, b, 1, true, FOREVER), Ok(Blocked), "the writable page alone may");
    assert_eq!(w.take_wake(b), Some((0, Some(w.tid(a) as u64 | RECV_SHARED))));
}

#[test]
fn option_sync_is_ignored_for_long_messages() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 1, 5);
    let mut args = w.send_args(a, w.tid(b), b"x", 0, FOREVER); // asynchronous, or so it says
    args.message_long = long_base(a);
    args.len_long = 4096;
    w.core.switch_to(a);
    assert_eq!(w.ipc_send(args), Ok(Blocked), "blocks like a call");
    assert_eq!(w.recv_long(b, 1, 0), Ok(Done(0, w.tid(a) as u64)), "received as a call");
    w.reply(b, b"").unwrap();
    w.take_wake(a);
    // Out of range, and still ignored: the pages went to b, so send them back.
    let mut back = w.send_args(b, w.tid(a), b"y", 9, 0);
    back.message_long = window(b);
    back.len_long = 4096;
    w.core.switch_to(b);
    assert_eq!(w.ipc_send(back), Err(Error::Timeout), "a call (nobody waiting, timeout 0), not InvalidArgument");
}

#[test]
fn receive_window_errors() {
    let (mut w, _, b, _) = world();
    w.core.switch_to(b);
    let base = w.recv_args(b, 8, 0);
    let set_len = |w: &mut World, n: u32| {
        use crate::umem::UserMemory;
        w.mem(b).copy_out(super::fixture::lens(b) + 16, &n.to_le_bytes()).unwrap();
    };
    set_len(&mut w, 4096);
    assert_eq!(w.ipc_recv(super::RecvArgs { long_dest: window(b) + 8, ..base }), Err(Error::Misaligned));
    assert_eq!(w.ipc_recv(super::RecvArgs { long_dest: 0xffff_8000_0000_0000, ..base }), Err(Error::BadAddress));
    w.mem(b).map(window(b) + P, 1, true);
    set_len(&mut w, 2 * 4096);
    assert_eq!(w.ipc_recv(super::RecvArgs { long_dest: window(b), ..base }), Err(Error::WindowOccupied));
    set_len(&mut w, 100);
    assert_eq!(w.ipc_recv(super::RecvArgs { long_dest: window(b), ..base }), Err(Error::Misaligned));
}

#[test]
fn a_message_larger_than_the_window_fails_for_its_sender_only() {
    // The receiver is waiting: the sender's call fails at once, the receiver keeps waiting.
    let (mut w, a, b, c) = world();
    w.map_long(a, 4, 0);
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, b, 4, false, FOREVER), Err(Error::TooLong));
    assert!(matches!(w.state(b), State::Receiving(_)), "the receiver keeps waiting");
    assert_eq!(w.tags(a, long_base(a), 4), [Some(0), Some(1), Some(2), Some(3)], "nothing moved");
    w.map_long(c, 2, 50);
    assert_eq!(w.send_long(c, b, 2, false, FOREVER), Ok(Blocked), "one that fits");
    assert_eq!(w.take_wake(b), Some((0, Some(w.tid(c) as u64))));
    // The sender is queued: it is failed, and the receiver takes the next one.
    let (mut w, a, b, c) = world();
    w.map_long(a, 4, 0);
    w.map_long(c, 1, 60);
    assert_eq!(w.send_long(a, b, 4, false, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(c, b, 1, false, FOREVER), Ok(Blocked));
    assert_eq!(w.recv_long(b, 2, 0), Ok(Done(0, w.tid(c) as u64)));
    assert_eq!(w.take_wake(a), Some((code(Error::TooLong), NOT_TRANSFERRED)));
    assert_eq!(w.tags(b, window(b), 1), [Some(60)]);
}

#[test]
fn out_of_memory_half_way_transfers_nothing() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 2, 7);
    assert_eq!(w.recv_long(b, 2, FOREVER), Ok(Blocked));
    // While it waits, another thread of the receiver's task fills its region table: the
    // window no longer fits at the rendezvous. The receiver's problem, so it fails and the
    // sender waits for the next receive: a sender is never failed for the receiver's limits.
    let filler: Vec<u64> = (0..).map(|i| 0x7000_0000 + 2 * i * P).take(MAX_REGIONS).collect();
    w.mem(b).map(filler[0], 1, true); // as `new_pages` does: it maps what it adds
    let taken: Vec<u64> =
        filler.iter().copied().filter(|&base| w.mem(b).regions().add(Region { base, pages: 1 }).is_ok()).collect();
    assert!(!taken.is_empty());
    assert_eq!(w.send_long(a, b, 2, false, FOREVER), Ok(Blocked));
    assert_eq!(w.take_wake(b), Some((code(Error::OutOfMemory), None)));
    assert_eq!(w.tags(a, long_base(a), 2), [Some(7), Some(8)], "the sender keeps its pages");
    assert_eq!(w.tags(b, window(b), 2), [None, None], "nothing half-mapped");
    assert!(matches!(w.state(a), State::Sending { to, .. } if to == b));
    for base in taken {
        w.mem(b).regions().remove(base);
    }
    assert_eq!(w.recv_long(b, 2, 0), Ok(Done(0, w.tid(a) as u64)), "received the next time");
    assert_eq!(w.tags(b, window(b), 2), [Some(7), Some(8)]);
}

#[test]
fn a_short_receive_buffer_failure_transfers_no_pages() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 1, 3);
    assert_eq!(w.recv_long(b, 1, FOREVER), Ok(Blocked));
    w.mem(b).unmap(super::fixture::recv_buf(b));
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked), "queued instead");
    assert_eq!(w.take_wake(b), Some((code(Error::BadAddress), None)));
    assert_eq!(w.tags(a, long_base(a), 1), [Some(3)], "pages still the sender's");
}

#[test]
fn pages_received_stay_when_the_sender_times_out_and_go_with_a_dying_receiver() {
    let (mut w, a, b, _) = world();
    w.map_long(a, 2, 9);
    let before = w.frames.live();
    assert_eq!(w.send_long(a, b, 2, false, 3), Ok(Blocked));
    assert_eq!(w.recv_long(b, 2, 0).map(|_| ()), Ok(()));
    w.tick(3);
    assert_eq!(w.take_wake(a), Some((code(Error::Timeout), TRANSFERRED)));
    assert_eq!(w.tags(b, window(b), 2), [Some(9), Some(10)], "the receiver keeps them");
    assert_eq!(w.reply(b, b""), Err(Error::Timeout));
    drop(w.core.exit_task(w.core.thread(b).task, 0));
    // The two received pages go, with the receiver's own three buffer pages.
    assert_eq!(w.frames.live(), before - 2 - 3, "freed with the receiver's address space");
}

#[test]
fn threads_of_one_task_move_and_share_within_it() {
    let mut w = World::new(&[2]);
    let (x, y) = (w.threads[0], w.threads[1]);
    w.map_long(x, 2, 40);
    assert_eq!(w.send_long(x, y, 2, false, FOREVER), Ok(Blocked));
    assert_eq!(w.recv_long(y, 2, 0).map(|_| ()), Ok(()));
    w.reply(y, b"").unwrap();
    assert_eq!(w.tags(x, long_base(x), 2), [None, None], "remapped within the space");
    assert_eq!(w.tags(x, window(y), 2), [Some(40), Some(41)]);
    // Share y's window back to x: the frames are now mapped twice in one space.
    let mut a = w.send_args(y, w.tid(x), b"s", 1, FOREVER);
    a.message_long = window(y);
    a.len_long = 2 * 4096;
    a.shared = true;
    w.core.switch_to(y);
    assert_eq!(w.ipc_send(a), Ok(Blocked));
    assert_eq!(w.recv_long(x, 2, 0).map(|_| ()), Ok(()));
    w.reply(x, b"").unwrap();
    let f = frame(&mut w, x, window(x));
    assert_eq!(frame(&mut w, x, window(y)), f);
    assert_eq!(w.frames.map_count(f), 2, "twice in one space is shared");
    w.core.switch_to(y);
    a.shared = false;
    assert_eq!(w.ipc_send(a), Err(Error::NotOwner));
}

/// Property test of the ownership tables: random new_pages / move / share / remove / task
/// exit; after every step, every frame's map count equals its number of mappings, every
/// live frame is mapped somewhere, and every moved page is gone from its sender. At the
/// end, when every task has exited, no frame is left.
#[test]
fn ownership_invariants_hold_under_random_operations() {
    let mut seed = 0x51u64;
    let mut rnd = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let (mut moves, mut shares, mut refused, mut exits) = (0, 0, 0, 0);
    for _ in 0..600 {
        let mut w = World::new(&[1, 1, 2]);
        let t = w.threads.clone();
        let mut next_area = [0u64; 4];
        for _ in 0..40 {
            let actor = t[rnd(4) as usize];
            if !matches!(w.state(actor), State::Runnable) {
                continue;
            }
            match rnd(20) {
                0..=3 => {
                    // new_pages in a fresh spot of the actor's long area
                    let i = t.iter().position(|&x| x == actor).unwrap();
                    if w.mem(actor).page(long_base(actor)).is_none() {
                        w.map_long(actor, 1 + rnd(3), next_area[i] as u8);
                        next_area[i] += 1;
                    }
                }
                4..=15 => {
                    // move or share the actor's long area to another thread waiting with a
                    // window; whatever the rights say is checked against the counts.
                    let to = t[rnd(4) as usize];
                    if to == actor || !matches!(w.state(to), State::Runnable) {
                        continue;
                    }
                    // From its own pages, or passing on pages it received.
                    let src = if rnd(2) == 0 { long_base(actor) } else { window(actor) };
                    let n = (0..4).take_while(|&i| w.mem(actor).page(src + i * P).is_some()).count() as u64;
                    if n == 0 || w.mem(to).page(window(to)).is_some() {
                        continue;
                    }
                    // Received pages are often shared: try to move them on, which the rights
                    // must refuse while they are.
                    let shared = if src == window(actor) { rnd(4) == 0 } else { rnd(2) == 0 };
                    let frames = w.frames.clone(); // the same table
                    let exclusive =
                        (0..n).all(|i| frames.map_count(w.mem(actor).page(src + i * P).unwrap().frame) == 1);
                    assert_eq!(w.recv_long(to, 4, FOREVER), Ok(Blocked));
                    let r = w.send_long_from(actor, src, to, n, shared, FOREVER);
                    if !shared && !exclusive {
                        assert_eq!(r, Err(Error::NotOwner));
                        refused += 1;
                        // release the waiting receiver
                        w.core.switch_to(actor);
                        let m = w.send_args(actor, w.tid(to), b"", 0, 0);
                        assert_eq!(w.ipc_send(m), Ok(Done(0, 0)));
                        w.take_wake(to);
                        continue;
                    }
                    assert_eq!(r, Ok(Blocked));
                    w.take_wake(to);
                    w.reply(to, b"").unwrap();
                    w.take_wake(actor);
                    if shared {
                        shares += 1;
                    } else {
                        moves += 1;
                        assert!(w.mem(actor).page(src).is_none(), "moved pages left the sender");
                    }
                }
                16..=18 => {
                    // remove_pages of a received window or of the long area
                    let va = if rnd(2) == 0 { window(actor) } else { long_base(actor) };
                    w.remove_region(actor, va);
                }
                _ => {
                    // task exit (not the last task)
                    let task = w.core.thread(actor).task;
                    if w.core.live_tasks() > 1 {
                        drop(w.core.exit_task(task, 0));
                        exits += 1;
                    }
                }
            }
            // Invariant: counts match mappings over all live address spaces.
            let mut counts = std::collections::BTreeMap::<u64, u32>::new();
            for task in crate::task::TaskSlot::all() {
                if let Some(space) = w.core.tasks[task].space.as_ref() {
                    for m in space.pages.values() {
                        *counts.entry(m.frame).or_default() += 1;
                    }
                }
            }
            for (f, n) in &counts {
                assert_eq!(w.frames.map_count(*f), *n, "frame {f} count");
            }
            assert_eq!(w.frames.live(), counts.len(), "every live frame is mapped somewhere");
        }
        for task in crate::task::TaskSlot::all() {
            if w.core.tasks[task].space.is_some() {
                drop(w.core.exit_task(task, 0));
            }
        }
        assert_eq!(w.frames.live(), 0, "every frame freed when all tasks exit");
    }
    for (what, n) in [("moves", moves), ("shares", shares), ("refused moves", refused), ("task exits", exits)] {
        assert!(n >= 50, "only {n} {what}: the generator lost coverage");
    }
}

/// Thread `t`'s long area becomes `pages` pages (one region) all naming one frame, as a
/// task doubling a page by sharing it to itself would make it. Returns the frame.
fn one_frame_range(w: &mut World, t: ThreadSlot, pages: u64) -> u64 {
    w.map_long(t, 1, 1);
    let f = frame(w, t, long_base(t));
    let mem = w.mem(t);
    mem.alias(long_base(t) + P, f, pages - 1);
    let r = mem.regions().remove(long_base(t)).expect("the region map_long made");
    mem.regions().add(crate::mem::regions::Region { base: r.base, pages }).unwrap();
    f
}

#[test]
fn a_share_naming_one_frame_many_times_counts_every_repeat() {
    // 600 mappings, shared on as a 600-page range: 1,200 would pass the fixture's 1,000.
    // Each page alone has room (600 < 1,000): only counting repeats sees that the range
    // does not.
    let (mut w, a, b, _) = world();
    let f = one_frame_range(&mut w, a, 600);
    assert_eq!(w.frames.map_count(f), 600);
    assert_eq!(w.recv_long(b, 600, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, b, 600, true, FOREVER), Err(Error::OutOfMemory), "a clean error, at once");
    assert_eq!(w.frames.map_count(f), 600, "nothing reserved or mapped");
    assert!(matches!(w.state(b), State::Receiving(_)), "the receiver keeps waiting");
    assert_eq!(w.tags(b, window(b), 1), [None]);
    // Up to exactly the maximum is fine: 600 + 400 = 1,000.
    assert_eq!(w.send_long(a, b, 400, true, FOREVER), Ok(Blocked));
    assert_eq!(w.frames.map_count(f), 1000);
    assert_eq!(w.tags(b, window(b), 400).iter().flatten().count(), 400, "all 400 mapped");
    assert_eq!(w.reply(b, b""), Ok(Done(0, 0)));
    // The count is full: not one more mapping.
    let c = w.threads[2];
    assert_eq!(w.recv_long(c, 1, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, c, 1, true, FOREVER), Err(Error::OutOfMemory));
    assert_eq!(w.frames.map_count(f), 1000);
}

#[test]
fn a_queued_share_is_counted_again_at_the_rendezvous() {
    // The send-time check passes (300 + 300 <= 1,000); while the sender waits, the frame
    // gains 500 mappings elsewhere; at the rendezvous 800 + 300 would overflow. The sender
    // fails cleanly and the receiver takes the next sender.
    let (mut w, a, b, c) = world();
    let f = one_frame_range(&mut w, a, 300);
    assert_eq!(w.send_long(a, b, 300, true, FOREVER), Ok(Blocked), "queued");
    w.mem(c).alias(window(c) + 0x10_0000, f, 500);
    assert_eq!(w.frames.map_count(f), 800);
    w.map_long(c, 1, 70);
    assert_eq!(w.send_long(c, b, 1, false, FOREVER), Ok(Blocked), "a second sender, queued behind");
    assert_eq!(w.recv_long(b, 300, FOREVER), Ok(Done(0, w.tid(c) as u64)), "received the next sender");
    assert_eq!(w.take_wake(a), Some((code(Error::OutOfMemory), NOT_TRANSFERRED)), "the share failed cleanly");
    assert_eq!(w.frames.map_count(f), 800, "nothing reserved is left behind");
    assert_eq!(w.tags(b, window(b), 2), [Some(70), None]);
}

#[test]
fn a_reservation_is_given_back_when_the_rendezvous_fails_afterwards() {
    // The short copy fails on the receiver's side after the counts were reserved.
    let (mut w, a, b, _) = world();
    let f = one_frame_range(&mut w, a, 5);
    assert_eq!(w.recv_long(b, 5, FOREVER), Ok(Blocked));
    w.mem(b).unmap(super::fixture::recv_buf(b));
    assert_eq!(w.send_long(a, b, 5, true, FOREVER), Ok(Blocked), "queued instead");
    assert_eq!(w.take_wake(b), Some((code(Error::BadAddress), None)));
    assert_eq!(w.frames.map_count(f), 5, "the five reserved mappings were given back");
    assert_eq!(w.tags(b, window(b), 1), [None]);
    // The sender's own short buffer fails: the same.
    w.mem(b).map(super::fixture::recv_buf(b), 1, true);
    let c = w.threads[2];
    let g = one_frame_range(&mut w, c, 4);
    let mut args = w.send_args(c, w.tid(b), b"xyz", 1, FOREVER);
    args.message_long = long_base(c);
    args.len_long = (4 * P) as u32;
    args.shared = true;
    w.core.switch_to(c);
    assert_eq!(w.ipc_send(args), Ok(Blocked), "queued behind a");
    w.mem(c).unmap(super::fixture::send_buf(c));
    assert_eq!(w.recv_long(b, 5, 0).map(|_| ()), Ok(()), "a, still queued, is received");
    assert_eq!(w.frames.map_count(f), 10);
    w.reply(b, b"").unwrap();
    w.remove_region(b, window(b));
    assert_eq!(w.recv_long(b, 5, 0), Err(Error::Timeout), "c failed at the rendezvous: nobody left");
    assert_eq!(w.take_wake(c), Some((code(Error::BadAddress), NOT_TRANSFERRED)));
    assert_eq!(w.frames.map_count(g), 4, "c's reservation was given back too");
}

#[test]
fn a_woken_long_sender_learns_whether_its_pages_left() {
    // Failed before the transfer: the receiver never took it. The pages are still here.
    let (mut w, a, b, c) = world();
    w.map_long(a, 2, 30);
    assert_eq!(w.send_long(a, b, 2, false, 2), Ok(Blocked));
    w.tick(2);
    assert_eq!(w.take_wake(a), Some((code(Error::Timeout), NOT_TRANSFERRED)));
    assert_eq!(w.tags(a, long_base(a), 2), [Some(30), Some(31)]);
    // Failed after the transfer: the receiver took the pages, then died before replying.
    assert_eq!(w.send_long(a, b, 2, false, FOREVER), Ok(Blocked));
    assert_eq!(w.recv_long(b, 2, 0).map(|_| ()), Ok(()));
    drop(w.core.exit_task(w.core.thread(b).task, 0));
    assert_eq!(w.take_wake(a), Some((code(Error::PeerDied), TRANSFERRED)));
    assert_eq!(w.tags(a, long_base(a), 2), [None, None], "gone, as the flag says");
    // Succeeded: transferred too; a short call transfers nothing.
    w.map_long(a, 1, 40);
    assert_eq!(w.recv_long(c, 1, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(a, c, 1, true, FOREVER), Ok(Blocked));
    assert_eq!(w.reply(c, b""), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(a), Some((0, TRANSFERRED)));
    assert_eq!(w.send(a, c, b"short", 1, FOREVER), Ok(Blocked));
    assert_eq!(w.recv(c, 8, 0).map(|_| ()), Ok(()));
    assert_eq!(w.reply(c, b""), Ok(Done(0, 0)));
    assert_eq!(w.take_wake(a), Some((0, NOT_TRANSFERRED)));
}

/// Two threads of one task (`a`, `a2`) and two receivers in other tasks.
fn world_with_sibling() -> (World, ThreadSlot, ThreadSlot, ThreadSlot, ThreadSlot) {
    let w = World::new(&[2, 1, 1]);
    let (a, a2, b, c) = (w.threads[0], w.threads[1], w.threads[2], w.threads[3]);
    (w, a, a2, b, c)
}

#[test]
fn a_queued_move_whose_space_is_unchanged_is_not_checked_again() {
    let (mut w, a, _, b, _) = world_with_sibling();
    w.map_long(a, 3, 10);
    assert_eq!(w.send_long(a, b, 3, false, FOREVER), Ok(Blocked), "queued");
    // Mapping more pages does not change what was checked.
    w.mem(a).map(0x6000_0000, 1, true);
    let walks = w.mem(a).walks.get();
    assert_eq!(w.recv_long(b, 3, 0), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.mem(a).walks.get(), walks, "the sender's pages were not walked again");
    assert_eq!(w.tags(b, window(b), 3), [Some(10), Some(11), Some(12)]);
    // Unmapping an unrelated page changes the generation: checked again, and still fine.
    w.reply(b, b"").unwrap();
    w.map_long(a, 1, 20);
    assert_eq!(w.send_long(a, b, 1, false, FOREVER), Ok(Blocked), "queued");
    w.mem(a).unmap(0x6000_0000);
    assert!(w.remove_region(b, window(b)));
    let walks = w.mem(a).walks.get();
    assert_eq!(w.recv_long(b, 1, 0), Ok(Done(0, w.tid(a) as u64)));
    assert_eq!(w.mem(a).walks.get(), walks + 1, "checked again once");
    assert_eq!(w.tags(b, window(b), 1), [Some(20)]);
}

#[test]
fn a_queued_move_of_pages_shared_meanwhile_is_refused_at_the_rendezvous() {
    // The move is checked (exclusive pages) and queued; then a sibling thread shares the
    // same pages out, which makes them shared: the rendezvous must see that.
    let (mut w, a, a2, b, c) = world_with_sibling();
    w.map_long(a, 2, 5);
    let f = frame(&mut w, a, long_base(a));
    assert_eq!(w.send_long(a, b, 2, false, FOREVER), Ok(Blocked), "queued");
    assert_eq!(w.recv_long(c, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long_from(a2, long_base(a), c, 2, true, FOREVER), Ok(Blocked), "shared by the sibling");
    assert_eq!(w.reply(c, b""), Ok(Done(0, 0)));
    assert_eq!(w.frames.map_count(f), 2);
    assert_eq!(w.recv_long(b, 2, 0), Err(Error::Timeout), "the move was failed; nobody else is queued");
    assert_eq!(w.take_wake(a), Some((code(Error::NotOwner), NOT_TRANSFERRED)));
    assert_eq!(w.tags(a, long_base(a), 2), [Some(5), Some(6)], "still the sender's");
    assert_eq!(w.tags(c, window(c), 2), [Some(5), Some(6)], "and the share's");
    assert_eq!(w.tags(b, window(b), 2), [None, None], "nothing moved");
    assert_eq!(w.frames.map_count(f), 2);
}

#[test]
fn a_queued_move_of_pages_removed_meanwhile_is_refused_at_the_rendezvous() {
    let (mut w, a, a2, b, _) = world_with_sibling();
    w.map_long(a, 2, 5);
    assert_eq!(w.send_long(a, b, 2, false, FOREVER), Ok(Blocked), "queued");
    assert!(w.remove_region(a2, long_base(a)), "removed by the sibling");
    assert_eq!(w.recv_long(b, 2, 0), Err(Error::Timeout), "the move was failed");
    assert_eq!(w.take_wake(a), Some((code(Error::BadAddress), NOT_TRANSFERRED)));
    assert_eq!(w.tags(b, window(b), 2), [None, None]);
}

// Pages a move put into a window are moved on without a check while nothing has changed
// the receiver's space since (`ThreadIpc::received`); any change brings the check back.

/// `from` moves `pages` pages (tagged from `tag`) into `to`'s window, and `to` replies.
fn moved_in(w: &mut World, from: ThreadSlot, to: ThreadSlot, pages: u64, tag: u8) {
    w.map_long(from, pages, tag);
    assert_eq!(w.recv_long(to, pages, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long(from, to, pages, false, FOREVER), Ok(Blocked));
    assert_eq!(w.take_wake(to), Some((0, Some(w.tid(from) as u64))));
    assert_eq!(w.reply(to, b""), Ok(Done(0, 0)));
}

#[test]
fn pages_received_by_a_move_are_moved_on_without_a_check() {
    let (mut w, a, b, c) = world();
    moved_in(&mut w, a, b, 3, 10);
    let frames: Vec<u64> = (1..3).map(|i| frame(&mut w, b, window(b) + i * P)).collect();
    // b moves two of them on, from the middle of what it received, to c, which waits.
    assert_eq!(w.recv_long(c, 2, FOREVER), Ok(Blocked));
    let walks = w.mem(b).walks.get();
    assert_eq!(w.send_long_from(b, window(b) + P, c, 2, false, FOREVER), Ok(Blocked));
    assert_eq!(w.mem(b).walks.get(), walks, "not walked for a check");
    assert_eq!(w.take_wake(c), Some((0, Some(w.tid(b) as u64))));
    assert_eq!(w.tags(c, window(c), 2), [Some(11), Some(12)]);
    assert_eq!(w.tags(b, window(b), 3), [Some(10), None, None]);
    for f in frames {
        assert_eq!(w.frames.map_count(f), 1, "still exclusive, now c's");
    }
    // Queued the same way: c sends them back to b, which is not receiving.
    assert_eq!(w.reply(c, b""), Ok(Done(0, 0)));
    assert!(w.remove_region(b, window(b)));
    let walks = w.mem(c).walks.get();
    assert_eq!(w.send_long_from(c, window(c), b, 2, false, FOREVER), Ok(Blocked), "queued");
    assert_eq!(w.recv_long(b, 2, 0), Ok(Done(0, w.tid(c) as u64)));
    assert_eq!(w.mem(c).walks.get(), walks, "checked neither at the send nor at the rendezvous");
    assert_eq!(w.tags(b, window(b), 2), [Some(11), Some(12)]);
}

#[test]
fn received_pages_changed_since_are_checked_again() {
    // Made read-only since: not movable.
    let (mut w, a, b, c) = world();
    moved_in(&mut w, a, b, 2, 10);
    w.mem(b).set_writable(window(b) + P, false);
    assert_eq!(w.send_long_from(b, window(b), c, 2, false, FOREVER), Err(Error::NotOwner));
    // Shared out since (by b itself, to c): no longer exclusive.
    let (mut w, a, b, c) = world();
    moved_in(&mut w, a, b, 2, 20);
    assert_eq!(w.recv_long(c, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long_from(b, window(b), c, 2, true, FOREVER), Ok(Blocked), "shared");
    assert_eq!(w.reply(c, b""), Ok(Done(0, 0)));
    assert_eq!(w.send_long_from(b, window(b), a, 2, false, FOREVER), Err(Error::NotOwner));
    assert_eq!(w.tags(b, window(b), 2), [Some(20), Some(21)], "nothing moved");
    // Removed since: not mapped.
    let (mut w, a, b, c) = world();
    moved_in(&mut w, a, b, 2, 30);
    w.mem(b).unmap(window(b));
    assert_eq!(w.send_long_from(b, window(b), c, 2, false, FOREVER), Err(Error::BadAddress));
    // Reaching past what was received: the rest is checked like any other page.
    let (mut w, a, b, c) = world();
    moved_in(&mut w, a, b, 1, 40);
    assert_eq!(w.recv_long(c, 2, FOREVER), Ok(Blocked));
    assert_eq!(w.send_long_from(b, window(b), c, 2, false, FOREVER), Err(Error::BadAddress));
    assert_eq!(w.tags(b, window(b), 1), [Some(40)]);
    assert!(matches!(w.state(c), State::Receiving(_)), "the receiver waits on");
}
