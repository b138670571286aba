//! A small world for IPC tests on the host: tasks with fake address spaces, threads with
//! their own send and receive buffers, and helpers that make a thread current and call
//! into the core as the system-call layer would.

use super::mailbox::VecBuffers;
use super::{Outcome, RecvArgs, SendArgs};
use crate::mem::KernelStack;
use crate::task::{Core, State};
use crate::umem::UserMemory;
use abi::Error;
use std::collections::BTreeMap;

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// A fake address space: pages that exist, each writable or not.
#[derive(Default)]
pub struct Mem {
    pub pages: BTreeMap<u64, (Vec<u8>, bool)>,
}

impl Mem {
    pub fn map(&mut self, addr: u64, pages: u64, writable: bool) {
        for p in 0..pages {
            self.pages.insert(addr + p * PAGE, (vec![0; PAGE as usize], writable));
        }
    }
    pub fn unmap(&mut self, addr: u64) {
        self.pages.remove(&addr);
    }
    fn page(&self, a: u64) -> Option<&(Vec<u8>, bool)> {
        self.pages.get(&(a & !(PAGE - 1)))
    }
}

impl UserMemory for Mem {
    fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error> {
        let mut p = addr & !(PAGE - 1);
        while p < addr + len {
            match self.page(p) {
                Some((_, w)) if *w || !write => p += PAGE,
                _ => return Err(Error::BadAddress),
            }
        }
        Ok(())
    }
    fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = addr + i as u64;
            *b = self.page(a).ok_or(Error::BadAddress)?.0[(a % PAGE) as usize];
        }
        Ok(())
    }
    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error> {
        for (i, b) in data.iter().enumerate() {
            let a = addr + i as u64;
            let (page, w) = self.pages.get_mut(&(a & !(PAGE - 1))).ok_or(Error::BadAddress)?;
            if !*w {
                return Err(Error::BadAddress);
            }
            page[(a % PAGE) as usize] = *b;
        }
        Ok(())
    }
}

/// Each thread's buffers, by thread slot: send buffer, receive buffer, then a page of
/// lengths (`len_short` for sending at +0, for receiving at +8, `len_long` at +16).
pub const BASE: u64 = 0x100_0000;
pub fn send_buf(t: usize) -> u64 {
    BASE + t as u64 * 3 * PAGE
}
pub fn recv_buf(t: usize) -> u64 {
    send_buf(t) + PAGE
}
pub fn lens(t: usize) -> u64 {
    send_buf(t) + 2 * PAGE
}

pub struct World {
    pub core: Core<Mem, VecBuffers>,
    /// Thread slots, in creation order.
    pub threads: Vec<usize>,
}

impl World {
    /// `layout[i]` threads in task `i`.
    pub fn new(layout: &[usize]) -> World {
        let mut core = Core::new(VecBuffers::default());
        let mut threads = Vec::new();
        for (i, &n) in layout.iter().enumerate() {
            let task = core.create_task("t", Mem::default()).unwrap();
            for _ in 0..n {
                let slot = core.create_thread(task, KernelStack { bottom: 0, top: 0 }).unwrap();
                let mem = core.tasks[task].space.as_mut().unwrap();
                mem.map(send_buf(slot), 3, true);
                threads.push(slot);
            }
            let _ = i;
        }
        World { core, threads }
    }

    pub fn tid(&self, t: usize) -> u32 {
        self.core.thread(t).tid
    }

    pub fn mem(&mut self, t: usize) -> &mut Mem {
        let task = self.core.thread(t).task;
        self.core.tasks[task].space.as_mut().unwrap()
    }

    fn put_u32(&mut self, t: usize, at: u64, v: u32) {
        self.mem(t).copy_out(at, &v.to_le_bytes()).unwrap();
    }

    pub fn get_u32(&mut self, t: usize, at: u64) -> u32 {
        let mut b = [0; 4];
        self.mem(t).copy_in(at, &mut b).unwrap();
        u32::from_le_bytes(b)
    }

    pub fn send_args(&mut self, from: usize, to_tid: u32, msg: &[u8], option_sync: u32, timeout: i32) -> SendArgs {
        self.mem(from).copy_out(send_buf(from), msg).unwrap();
        self.put_u32(from, lens(from), msg.len() as u32);
        SendArgs {
            id: to_tid,
            message_long: 0,
            message_short: send_buf(from),
            len_long: 0,
            len_short: lens(from),
            timeout,
            shared: false,
            option_sync,
        }
    }

    /// Send arguments for an `n`-byte message already in `from`'s (read-only) buffer:
    /// (asynchronous, synchronous).
    pub fn send_args_ro(&mut self, from: usize, to_tid: u32, n: u32) -> (SendArgs, SendArgs) {
        self.put_u32(from, lens(from), n);
        let a = SendArgs {
            id: to_tid,
            message_long: 0,
            message_short: send_buf(from),
            len_long: 0,
            len_short: lens(from),
            timeout: 0,
            shared: false,
            option_sync: 0,
        };
        (a, SendArgs { option_sync: 1, timeout: -1, ..a })
    }

    /// Sends `msg` from thread `from` to thread `to` (making `from` current).
    pub fn send(
        &mut self,
        from: usize,
        to: usize,
        msg: &[u8],
        option_sync: u32,
        timeout: i32,
    ) -> Result<Outcome, Error> {
        let a = self.send_args(from, self.tid(to), msg, option_sync, timeout);
        self.core.switch_to(from);
        self.core.ipc_send(a)
    }

    pub fn recv_args(&mut self, t: usize, cap: u32, timeout: i32) -> RecvArgs {
        self.put_u32(t, lens(t) + 8, cap);
        self.put_u32(t, lens(t) + 16, 0);
        RecvArgs { long_dest: 0, short_dest: recv_buf(t), len_long: lens(t) + 16, len_short: lens(t) + 8, timeout }
    }

    /// Receives on thread `t` with a buffer of `cap` bytes.
    pub fn recv(&mut self, t: usize, cap: u32, timeout: i32) -> Result<Outcome, Error> {
        let a = self.recv_args(t, cap, timeout);
        self.core.switch_to(t);
        self.core.ipc_recv(a)
    }

    /// What thread `t` last received: `*len_short` bytes of its receive buffer.
    pub fn received(&mut self, t: usize) -> Vec<u8> {
        let n = self.get_u32(t, lens(t) + 8) as usize;
        let mut v = vec![0; n];
        self.mem(t).copy_in(recv_buf(t), &mut v).unwrap();
        v
    }

    /// Replies `msg` from thread `t`.
    pub fn reply(&mut self, t: usize, msg: &[u8]) -> Result<Outcome, Error> {
        self.mem(t).copy_out(recv_buf(t), msg).unwrap();
        self.core.switch_to(t);
        self.core.ipc_reply(recv_buf(t), msg.len() as u32)
    }

    /// The reply a sync sender got: `*len_short` bytes of its send buffer.
    pub fn reply_of(&mut self, t: usize) -> Vec<u8> {
        let n = self.get_u32(t, lens(t)) as usize;
        let mut v = vec![0; n];
        self.mem(t).copy_in(send_buf(t), &mut v).unwrap();
        v
    }

    pub fn state(&self, t: usize) -> State {
        self.core.thread(t).state
    }

    /// Takes the result a woken thread's system call returns (rax, rdx).
    pub fn take_wake(&mut self, t: usize) -> Option<(i64, Option<u64>)> {
        let th = self.core.thread_mut(t);
        let v = th.wake_value.take()?;
        Some((v, th.wake_aux.take()))
    }

    pub fn tick(&mut self, n: u64) {
        for _ in 0..n {
            self.core.tick();
        }
    }
}

/// The error code as a wake value.
pub fn code(e: Error) -> i64 {
    e.code() as i64
}
