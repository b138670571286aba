//! The boot sequence, from the first Rust instruction to running the first program.
//!
//! Order matters: the console first (so everything after can report), then the boot
//! hand-off is copied out of low memory, the frame allocator is built from the memory map,
//! the kernel's own page tables replace the boot tables, and the kernel moves onto a stack
//! with a guard page. Only then are the descriptor tables, interrupts and timer set up.

use crate::arch::{cpu, entry, gdt, idt, paging, pic, power};
use crate::boot::pvh::{BootInfo, PhysMemory};
use crate::loader::image::BootImage;
use crate::mem::layout::{BOOT_IDENTITY_LIMIT, KERNEL_PHYS};
use crate::mem::{usable, PhysRange, FRAMES};
use crate::{kprintln, time};
use spin::Once;
use x86_64::VirtAddr;

/// Pages of the kernel stack the boot CPU runs on after leaving the boot stack.
const KERNEL_STACK_PAGES: u64 = 8;
/// Pages of each interrupt stack (double fault, NMI, machine check).
const IST_STACK_PAGES: u64 = 4;
/// Ticks the boot sequence waits for to show the timer works.
const TIMER_CHECK_TICKS: u64 = 5;

static BOOT_INFO: Once<BootInfo> = Once::new();

/// The boot hand-off, as copied at boot (the boot sequence's own: others are given it).
fn boot_info() -> &'static BootInfo {
    // Invariant: `start` fills BOOT_INFO before anything that can call this runs.
    BOOT_INFO.get().expect("boot info is parsed first thing")
}

/// Physical memory through the boot tables' identity map of the first GiB.
struct IdentityMapped;

impl PhysMemory for IdentityMapped {
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        if end > BOOT_IDENTITY_LIMIT || addr == 0 {
            return None;
        }
        // SAFETY: [addr, end) lies in the first GiB, which the boot tables map at the same
        // virtual addresses; nothing writes it while boot parses it.
        Some(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
    }
}

pub fn start(start_info_phys: u64) -> ! {
    crate::console::init();
    kprintln!("Moroso {}: an x86-64 microkernel built around IPC", env!("CARGO_PKG_VERSION"));
    // Boot-time: without a readable hand-off there is no memory map; refuse to boot, saying why.
    let info = BootInfo::parse(&IdentityMapped, start_info_phys).unwrap_or_else(|e| panic!("boot hand-off: {e}"));
    let info = BOOT_INFO.call_once(|| info);
    if !info.cmdline().is_empty() {
        kprintln!("command line: {}", info.cmdline());
    }
    if info.regions_dropped + info.modules_dropped > 0 || info.cmdline_truncated {
        kprintln!(
            "warning: boot hand-off truncated ({} memory regions, {} modules dropped, command line cut: {})",
            info.regions_dropped,
            info.modules_dropped,
            info.cmdline_truncated
        );
    }

    let features = cpu::init();
    let on = |b: bool| if b { "on" } else { "absent" };
    kprintln!(
        "cpu: {}, NX on, 1 GiB pages {}, SMEP {}, SMAP {}, UMIP {}, x87/MMX/SSE off",
        core::str::from_utf8(&features.vendor).unwrap_or("?"),
        if features.huge_1g { "available" } else { "absent" },
        on(features.smep),
        on(features.smap),
        on(features.umip)
    );

    init_frames(info);
    let ps = paging::init(info.regions());
    kprintln!(
        "paging: kernel W^X, direct map of {} MiB, boot identity map removed ({} table frames)",
        ps.direct_map_bytes >> 20,
        ps.table_frames
    );

    // Boot-time: no memory for this means no memory for anything; refuse to boot.
    let stack = paging::alloc_stack(KERNEL_STACK_PAGES).expect("no memory for the kernel stack");
    // SAFETY: the new stack is mapped, zeroed and unused; `continue_boot` never returns, so
    // nothing on the boot stack is needed again.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {next}",
            "ud2",
            top = in(reg) stack.top(),
            next = sym continue_boot,
            options(noreturn)
        )
    }
}

fn init_frames(info: &BootInfo) {
    let mut reserved = [PhysRange::default(); 2 + crate::boot::pvh::MAX_MODULES];
    reserved[0] = PhysRange::new(0, KERNEL_PHYS); // firmware, legacy devices, boot hand-off
    reserved[1] = PhysRange::new(KERNEL_PHYS, paging::kernel_phys_end());
    for (slot, m) in reserved[2..].iter_mut().zip(info.modules()) {
        *slot = PhysRange::new(m.base, m.base.saturating_add(m.size));
    }
    let usable = usable::usable_ranges(info.regions(), &reserved);
    let mut frames = FRAMES.lock();
    let mut out_of_reach = 0;
    for r in usable.ranges() {
        let added = frames.add_free(*r) as u64;
        out_of_reach += r.len() / abi::PAGE_SIZE as u64 - added;
    }
    let ram: u64 = info.regions().iter().filter(|r| r.is_ram()).map(|r| r.size).sum();
    kprintln!(
        "memory: {} MiB RAM, {} frames free ({} MiB), kernel image {:#x}..{:#x}, {} boot module(s)",
        ram >> 20,
        frames.free_count(),
        (frames.free_count() * abi::PAGE_SIZE) >> 20,
        KERNEL_PHYS,
        paging::kernel_phys_end(),
        info.modules().len()
    );
    if out_of_reach > 0 || usable.dropped > 0 {
        kprintln!("warning: {out_of_reach} frames above 4 GiB and {} ranges left unused", usable.dropped);
    }
}

extern "C" fn continue_boot() -> ! {
    let ist = [0; 3].map(|_| {
        // Boot-time, as the kernel stack above.
        let s = paging::alloc_stack(IST_STACK_PAGES).expect("no memory for interrupt stacks");
        VirtAddr::new(s.top())
    });
    let selectors = gdt::init(ist);
    idt::init(&selectors);
    entry::init();
    pic::init();
    pic::start_timer();
    x86_64::instructions::interrupts::enable();
    report_timer();

    let info = boot_info();
    if let Some(what) = info.option("crash") {
        crate::crash::deliberately(what);
    }
    if info.has_flag("selftest") {
        let failed = crate::selftest::run_all(info);
        power::power_off(if failed == 0 { 0 } else { 1 });
    }
    // `arg=N` (decimal or 0x-hex) is the first program's argument, for runs that hand it
    // parameters (`cargo xtask fuzz`: its seed and call count); `interactive` sets a bit.
    let given = info.option("arg").and_then(parse_u64).unwrap_or(0);
    let first_arg = given | if info.has_flag("interactive") { abi::image::FIRST_ARG_INTERACTIVE } else { 0 };
    crate::run::start(boot_image(info), !info.has_flag("nohandoff"), first_arg)
}

/// A command-line number: decimal, or hexadecimal after `0x`.
fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The boot image (module 0, QEMU's `-initrd`), if there is one and it is well-formed.
fn boot_image(info: &BootInfo) -> Option<BootImage<'static>> {
    let m = info.modules().first()?;
    // SAFETY: the module's frames are reserved from the allocator (see `init_frames`), so
    // nothing ever writes them; the direct map covers all RAM.
    let bytes = unsafe { core::slice::from_raw_parts(paging::phys_to_virt(m.base) as *const u8, m.size as usize) };
    match BootImage::parse(bytes) {
        Ok(image) => {
            let names = image.programs().map(|p| p.name);
            crate::kprint!("boot image: {} program(s):", image.len());
            for n in names {
                crate::kprint!(" {n}");
            }
            kprintln!();
            Some(image)
        }
        Err(e) => {
            kprintln!("the boot image is unusable: {e}");
            None
        }
    }
}

/// Waits for a few ticks (halting between them) and reports the timer's rate and cost.
fn report_timer() {
    let t0 = time::ticks();
    while time::ticks() == t0 {
        x86_64::instructions::hlt();
    }
    let (start_tick, start_tsc) = (time::ticks(), cpu::rdtsc());
    while time::ticks() < start_tick + TIMER_CHECK_TICKS {
        x86_64::instructions::hlt();
    }
    let per_tick = (cpu::rdtsc() - start_tsc) / TIMER_CHECK_TICKS;
    kprintln!(
        "timer: PIT at {} Hz (divisor {}), {} ticks seen, ~{} TSC cycles per tick",
        abi::TICK_HZ,
        time::TICK_DIVISOR,
        time::ticks(),
        per_tick
    );
}
