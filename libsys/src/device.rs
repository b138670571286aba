//! For device drivers: interrupts and I/O ports. A task may bind the IRQ lines and use the
//! I/O ports its program is granted in the boot image (`abi::image::Grants`); anything
//! else is refused (`PermissionDenied`) or, for a port, ends the task with a fault.
//!
//! ```no_run
//! use libsys::abi::image::com1::{IRQ, PORT as COM1};
//! use libsys::device::{self, Port};
//! use libsys::ipc::{self, Incoming, Timeout};
//!
//! device::bind(IRQ).expect("the boot image grants COM1's line");
//! loop {
//!     if let Ok(Incoming::Interrupt { irq }) = ipc::receive::<u8>(Timeout::Forever) {
//!         // SAFETY: COM1's ports are granted to this program.
//!         while unsafe { Port::new(COM1 + 5).read() } & 1 != 0 {
//!             let byte = unsafe { Port::new(COM1).read() };
//!             let _ = byte;
//!         }
//!         device::ack(irq).expect("our line");
//!     }
//! }
//! ```

use abi::Error;

/// Receives interrupts of line `irq` on the calling thread, as `ipc::Incoming::Interrupt`.
pub fn bind(irq: u8) -> Result<(), Error> {
    crate::check(crate::raw::irq_bind(irq))
}

/// Done with the last interrupt of `irq`: lets the next one come.
pub fn ack(irq: u8) -> Result<(), Error> {
    crate::check(crate::raw::irq_ack(irq))
}

/// An 8-bit I/O port.
#[derive(Clone, Copy, Debug)]
pub struct Port(u16);

impl Port {
    /// The I/O port `port`. Using it faults unless the task's grant covers it.
    pub const fn new(port: u16) -> Port {
        Port(port)
    }

    /// # Safety
    /// Device access has device effects; the port must be granted to this program (else
    /// the task ends with a general-protection fault).
    pub unsafe fn read(self) -> u8 {
        let v: u8;
        // SAFETY: the caller vouches for the port; `in` touches no memory.
        unsafe {
            core::arch::asm!("in al, dx", in("dx") self.0, out("al") v, options(nomem, nostack, preserves_flags))
        };
        v
    }

    /// # Safety
    /// As for [`read`](Self::read).
    pub unsafe fn write(self, v: u8) {
        // SAFETY: the caller vouches for the port; `out` touches no memory.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") self.0, in("al") v, options(nomem, nostack, preserves_flags))
        };
    }
}
