//! The 16550 UART at COM1 (I/O port 0x3F8): the kernel's console, polled.
//!
//! Output only. The kernel never takes the serial interrupt: input belongs to the
//! user-level console driver, which gets it as an interrupt message.

use x86_64::instructions::port::Port;

const COM1: u16 = abi::image::com1::PORT;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// COM1, configured 115200 8N1, FIFOs on, interrupts off.
pub struct Serial {
    _private: (),
}

impl Serial {
    /// Programs the UART.
    ///
    /// # Safety
    /// Must be the only code driving COM1's registers (the console lock guarantees it after
    /// initialisation).
    pub unsafe fn init() -> Self {
        let reg = |off: u16, val: u8| {
            // SAFETY: COM1's register block is I/O ports 0x3F8..0x3FF; the caller owns it.
            unsafe { Port::<u8>::new(COM1 + off).write(val) }
        };
        reg(1, 0x00); // no UART interrupts
        reg(3, 0x80); // DLAB: divisor follows
        reg(0, 0x01); // 115200 baud
        reg(1, 0x00);
        reg(3, 0x03); // 8N1, DLAB off
        reg(2, 0xc7); // FIFOs on and cleared, 14-byte threshold
        reg(4, 0x03); // DTR, RTS
        Serial { _private: () }
    }

    /// Writes one byte, waiting for the transmit holding register to drain.
    pub fn write_byte(&mut self, byte: u8) {
        write_byte_raw(byte)
    }
}

/// Writes a byte to COM1 without holding the console: for the last words of a dying kernel.
pub fn write_byte_raw(byte: u8) {
    // SAFETY: reading the line-status register and writing the data register of COM1 have
    // no memory effects. Racing the console lock can at worst interleave characters, which
    // is acceptable on the fatal path this exists for.
    unsafe {
        let mut lsr = Port::<u8>::new(COM1 + 5);
        while lsr.read() & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        Port::<u8>::new(COM1).write(byte);
    }
}

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
