//! What init answers under its name `init` (`apps/src/bin/init.rs`): how many times it
//! has restarted a program. One request per operation; the only one is `restarts(name)`.

use libsys::name::proto::Name;
use libsys::Message;

/// Init's name (`libsys::name`).
pub const NAME: &str = "init";

/// How many times has init restarted the program called `name`?
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
#[message(reply = RestartsReply)]
pub struct Restarts {
    pub name: Name,
}

#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
pub struct RestartsReply {
    pub restarts: u32,
}

/// Init's restart count of program `name` (0 if init is unreachable or does not know it).
pub fn restarts(name: &str) -> u32 {
    let Some(name) = Name::new(name) else { return 0 };
    let Ok(init) = libsys::name::lookup(NAME, libsys::ipc::Timeout::Poll) else { return 0 };
    libsys::ipc::call(init, &Restarts { name }, libsys::ipc::Timeout::Ticks(100)).map_or(0, |r| r.restarts)
}
