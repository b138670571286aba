//! Deliberate kernel crashes, selected with `crash=WHAT` on the kernel command line.
//!
//! They exist so the test suite can check that the fault reporter says what happened
//! (exception, address, registers) and that the runner reports a crashed kernel as a
//! failure. Nothing a user program does can select them.

use crate::kprintln;

/// Crashes the kernel the way `what` names. Unknown names are reported and ignored.
pub fn deliberately(what: &str) {
    kprintln!("crash test: {what}");
    match what {
        "panic" => panic!("deliberate panic (crash=panic)"),
        "pagefault" => {
            // SAFETY: not safe, on purpose: this address is unmapped and the write faults.
            // The page-fault report powers the machine off; nothing runs after it.
            unsafe { core::ptr::write_volatile(0xdead_b000 as *mut u64, 1) };
        }
        "overflow" => {
            recurse(0);
        }
        // The runner must call these failures too: a hang (killed at its timeout) and a
        // triple fault (QEMU exits 0 under -no-reboot, which must not read as success).
        "hang" => loop {
            x86_64::instructions::interrupts::disable();
            core::hint::spin_loop();
        },
        "triple" => {
            let empty = x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::zero() };
            // SAFETY: not safe, on purpose: with an empty IDT the next exception cannot be
            // delivered, which escalates to a triple fault and resets the machine.
            unsafe {
                x86_64::instructions::tables::lidt(&empty);
                core::arch::asm!("int3");
            }
        }
        other => kprintln!("unknown crash test {other:?} (known: panic, pagefault, overflow, hang, triple)"),
    }
}

#[inline(never)]
#[allow(unconditional_recursion, reason = "overflowing the stack is the point")]
fn recurse(depth: u64) -> u64 {
    let buf = core::hint::black_box([depth; 64]);
    recurse(buf[7] + 1) + buf[3]
}
