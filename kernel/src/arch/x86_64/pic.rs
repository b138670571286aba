//! The legacy 8259 PIC pair: IRQ 0..15 remapped to vectors 32..47, every line masked
//! except those the kernel unmasks, end-of-interrupt after each handled IRQ.
//!
//! The PIC rather than the I/O APIC: QEMU's `pc` machine has both, one CPU needs no
//! routing, and per-line masking is one port write, which is what forwarding interrupts to
//! user-level drivers (mask on delivery, unmask on acknowledge) needs.

use super::frame::VEC_IRQ_BASE;
use x86_64::instructions::port::Port;

const MASTER_CMD: u16 = 0x20;
const MASTER_DATA: u16 = 0x21;
const SLAVE_CMD: u16 = 0xa0;
const SLAVE_DATA: u16 = 0xa1;
const EOI: u8 = 0x20;
const READ_ISR: u8 = 0x0b;

/// The timer (PIT channel 0).
pub const IRQ_TIMER: u8 = 0;
const IRQ_CASCADE: u8 = 2;

fn outb(port: u16, v: u8) {
    // SAFETY: the PIC's four ports; writes have no memory effects. Callers hold the only
    // reference to the PIC (boot, or an interrupt handler with interrupts disabled).
    unsafe { Port::<u8>::new(port).write(v) }
}
fn inb(port: u16) -> u8 {
    // SAFETY: as for `outb`.
    unsafe { Port::<u8>::new(port).read() }
}

/// Remaps both PICs and masks every line but the cascade.
pub fn init() {
    outb(MASTER_CMD, 0x11); // ICW1: init, ICW4 follows
    outb(SLAVE_CMD, 0x11);
    outb(MASTER_DATA, VEC_IRQ_BASE); // ICW2: vector base
    outb(SLAVE_DATA, VEC_IRQ_BASE + 8);
    outb(MASTER_DATA, 1 << IRQ_CASCADE); // ICW3: slave on IRQ 2
    outb(SLAVE_DATA, IRQ_CASCADE);
    outb(MASTER_DATA, 0x01); // ICW4: 8086 mode
    outb(SLAVE_DATA, 0x01);
    outb(MASTER_DATA, !(1 << IRQ_CASCADE));
    outb(SLAVE_DATA, 0xff);
}

/// Lets `irq` through.
pub fn unmask(irq: u8) {
    let (port, bit) = if irq < 8 { (MASTER_DATA, irq) } else { (SLAVE_DATA, irq - 8) };
    outb(port, inb(port) & !(1 << bit));
}

/// Blocks `irq`.
pub fn mask(irq: u8) {
    let (port, bit) = if irq < 8 { (MASTER_DATA, irq) } else { (SLAVE_DATA, irq - 8) };
    outb(port, inb(port) | (1 << bit));
}

fn in_service(cmd_port: u16) -> u8 {
    outb(cmd_port, READ_ISR);
    inb(cmd_port)
}

/// Acknowledges IRQ `irq` (called from the trap dispatcher with interrupts disabled) and
/// returns it, or `None` for a spurious interrupt. The acknowledgement comes first so the
/// caller may switch threads afterwards.
pub fn handle_irq(irq: u8) -> Option<u8> {
    // IRQ 7 and 15 can be spurious (the line dropped before the PIC could say which);
    // a spurious IRQ is not in service and must not be acknowledged, except that a
    // spurious IRQ 15 still needs the master's EOI for the cascade.
    if irq == 7 && in_service(MASTER_CMD) & (1 << 7) == 0 {
        return None;
    }
    if irq == 15 && in_service(SLAVE_CMD) & (1 << 7) == 0 {
        outb(MASTER_CMD, EOI);
        return None;
    }
    if irq == IRQ_TIMER {
        crate::time::tick();
    }
    if irq >= 8 {
        outb(SLAVE_CMD, EOI);
    }
    outb(MASTER_CMD, EOI);
    Some(irq)
}

/// Programs PIT channel 0 as a rate generator at `abi::TICK_HZ` and unmasks its line.
pub fn start_timer() {
    let divisor = crate::time::TICK_DIVISOR;
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2 (rate generator)
    outb(0x40, divisor as u8);
    outb(0x40, (divisor >> 8) as u8);
    unmask(IRQ_TIMER);
}
