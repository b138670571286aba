//! A typed interface from end to end, in one program: `cargo xtask run --app kvdemo`.
//!
//! The trait `KeyValue` is the interface; `#[libsys::interface]` generates its messages,
//! `KeyValueClient` and `KeyValueServer`. A server thread serves a table with it, the
//! program's first thread calls it through the generated client, and asks it to stop;
//! then a call to the stopped server fails (the thread is gone) instead of waiting.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use libsys::abi::Error;
use libsys::ipc::{IpcError, Text, Timeout};
use libsys::{println, Message};

libsys::entry!(main);

/// The table's own errors: values of a call, not transport errors.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum KvError {
    /// No value under that key.
    NotFound = 1,
    /// No room for another key.
    Full = 2,
}

/// A key is a short text.
pub type Key = Text<16>;

/// A table of numbers under text keys.
#[libsys::interface]
pub trait KeyValue {
    /// Stores `value` under `key`; the previous value, if any.
    fn put(&mut self, key: Key, value: u64) -> Result<u64, KvError>;
    /// The value under `key`.
    fn get(&mut self, key: Key) -> Result<u64, KvError>;
    /// How many keys hold a value.
    fn count(&mut self) -> u32;
    /// Ends the server after this call.
    fn stop(&mut self);
}

/// Keys the table holds at most.
const CAPACITY: usize = 4;

struct Table {
    entries: [(Key, u64); CAPACITY],
    used: usize,
    stopped: bool,
}

impl KeyValue for Table {
    fn put(&mut self, key: Key, value: u64) -> Result<u64, KvError> {
        if let Some(e) = self.entries[..self.used].iter_mut().find(|(k, _)| *k == key) {
            return Ok(core::mem::replace(&mut e.1, value));
        }
        if self.used == CAPACITY {
            return Err(KvError::Full);
        }
        self.entries[self.used] = (key, value);
        self.used += 1;
        Ok(0)
    }
    fn get(&mut self, key: Key) -> Result<u64, KvError> {
        self.entries[..self.used].iter().find(|(k, _)| *k == key).map(|(_, v)| *v).ok_or(KvError::NotFound)
    }
    fn count(&mut self) -> u32 {
        self.used as u32
    }
    fn stop(&mut self) {
        self.stopped = true;
    }
}

/// Set by the server thread as it ends (1), for the first thread to see.
static SERVER_DONE: AtomicU32 = AtomicU32::new(0);

/// The server thread: one call at a time until `stop`.
fn server(_: usize) {
    let mut table = Table { entries: [(Key::EMPTY, 0); CAPACITY], used: 0, stopped: false };
    while !table.stopped {
        // A reply that does not reach its caller (it gave up) ends nothing.
        let _ = KeyValueServer::handle_one(&mut table, Timeout::Forever);
    }
    println!("kvdemo: server stopped");
    SERVER_DONE.store(1, Ordering::SeqCst);
}

fn key(text: &str) -> Key {
    Key::new(text).unwrap_or(Key::EMPTY)
}

fn demo(kv: KeyValueClient) -> Result<(), IpcError> {
    let check = |ok: bool, what: &str| {
        if ok {
            println!("kvdemo: {what}: ok");
            Ok(())
        } else {
            println!("kvdemo: {what}: WRONG");
            Err(IpcError::Sys(Error::InvalidArgument))
        }
    };
    // `?` is the call (an `IpcError`); what is left is the method's own `Result`.
    check(kv.put(key("apples"), 3)? == Ok(0), "put apples = 3")?;
    check(kv.put(key("pears"), 5)? == Ok(0), "put pears = 5")?;
    check(kv.put(key("apples"), 4)? == Ok(3), "put apples = 4 returns the old 3")?;
    check(kv.get(key("apples"))? == Ok(4), "get apples is 4")?;
    check(kv.get(key("plums"))? == Err(KvError::NotFound), "get plums is NotFound")?;
    for k in ["a", "b", "c"] {
        let _ = kv.put(key(k), 1)?;
    }
    check(kv.put(key("d"), 1)? == Err(KvError::Full), "a fifth key is Full")?;
    check(kv.count()? == 4, "count is 4")?;
    kv.stop()?;
    Ok(())
}

fn main() -> i32 {
    let tid = match libsys::thread::spawn(server, 0) {
        Ok(t) => t,
        Err(e) => {
            println!("kvdemo: cannot start the server thread: {e}");
            return 1;
        }
    };
    println!("kvdemo: server thread {tid} serves KeyValue");
    let kv = KeyValueClient::new(tid);
    if let Err(e) = demo(kv) {
        println!("kvdemo: call failed: {e}");
        return 1;
    }
    // Wait for the server thread to end (an event, not a time).
    while SERVER_DONE.load(Ordering::SeqCst) == 0 {
        libsys::time::yield_now();
    }
    // The thread may still be on its way out: a call now either finds it gone
    // (`NoSuchThread`) or waits until its death ends the wait (`PeerDied`). Never a hang:
    // with no timeout at all, the call still returns.
    match kv.count() {
        Err(e @ IpcError::Sys(Error::NoSuchThread | Error::PeerDied)) => {
            println!("kvdemo: a call after the server stopped failed: {e}");
            0
        }
        other => {
            println!("kvdemo: a call after the server stopped returned {other:?}");
            1
        }
    }
}
