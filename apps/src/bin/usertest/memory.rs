//! new_pages / remove_pages, the heap, and pointer validation of print.

use crate::err;
use alloc::vec::Vec;
use libsys::abi::{layout, Error, Syscall};
use libsys::raw;
use moroso_apps::harness::Suite;
use moroso_apps::{ensure, ensure_eq};

const PAGE: u64 = libsys::abi::PAGE_SIZE as u64;
/// A part of the program's own region these cases use.
const BASE: u64 = layout::PROGRAM_REGION.0 + 0x1000_0000;

fn new_pages(base: u64, len: u64) -> Option<Error> {
    // SAFETY: BASE.. is used by these cases only; the kernel refuses mapped ranges.
    err(unsafe { raw::new_pages(base as *mut u8, len as u32) } as i64)
}

fn remove_pages(base: u64) -> Option<Error> {
    // SAFETY: the cases remove only regions they made and no longer use.
    err(unsafe { raw::remove_pages(base as *mut u8) } as i64)
}

pub fn cases(s: &mut Suite) {
    s.case("new_pages::zeroed_and_writable", || {
        ensure_eq!(new_pages(BASE, 3 * PAGE), None, "new_pages");
        let p = BASE as *mut u64;
        for i in 0..(3 * PAGE as usize / 8) {
            // SAFETY: inside the three pages just mapped.
            let v = unsafe { p.add(i).read_volatile() };
            ensure!(v == 0, "word {i} is {v:#x}, not zero");
            // SAFETY: as above.
            unsafe { p.add(i).write_volatile(i as u64 ^ 0xabcd) };
        }
        for i in 0..(3 * PAGE as usize / 8) {
            // SAFETY: as above.
            ensure_eq!(unsafe { p.add(i).read_volatile() }, i as u64 ^ 0xabcd, "read back");
        }
        ensure_eq!(remove_pages(BASE), None, "remove_pages");
        Ok(())
    });

    s.case("new_pages::argument_errors", || {
        ensure_eq!(new_pages(BASE + 1, PAGE), Some(Error::Misaligned), "unaligned base");
        ensure_eq!(new_pages(BASE, PAGE + 1), Some(Error::Misaligned), "length not a page multiple");
        ensure_eq!(new_pages(BASE, 0), Some(Error::InvalidArgument), "zero length");
        ensure_eq!(new_pages(0, PAGE), Some(Error::BadAddress), "null page");
        ensure_eq!(new_pages(layout::USER_MIN - PAGE, PAGE), Some(Error::BadAddress), "below USER_MIN");
        ensure_eq!(new_pages(0xffff_8000_0000_0000, PAGE), Some(Error::BadAddress), "kernel address");
        ensure_eq!(new_pages(layout::USER_END - PAGE, 2 * PAGE), Some(Error::BadAddress), "runs past user space");
        ensure_eq!(new_pages(0x0000_8000_0000_0000, PAGE), Some(Error::BadAddress), "non-canonical");
        Ok(())
    });

    s.case("new_pages::overlap_fails", || {
        ensure_eq!(new_pages(BASE, 2 * PAGE), None, "first");
        ensure_eq!(new_pages(BASE + PAGE, 2 * PAGE), Some(Error::WindowOccupied), "overlapping a region");
        ensure_eq!(new_pages(BASE - PAGE, 2 * PAGE), Some(Error::WindowOccupied), "overlapping from below");
        let text = main_address();
        ensure_eq!(new_pages(text & !(PAGE - 1), PAGE), Some(Error::WindowOccupied), "over the program image");
        let stack = layout::MAIN_STACK_TOP - PAGE;
        ensure_eq!(new_pages(stack, PAGE), Some(Error::WindowOccupied), "over the main stack");
        ensure_eq!(remove_pages(BASE), None, "cleanup");
        Ok(())
    });

    s.case("new_pages::quota_is_out_of_memory", || {
        ensure_eq!(new_pages(BASE, 0x2000_0000), Some(Error::OutOfMemory), "512 MiB");
        Ok(())
    });

    s.case("remove_pages::only_whole_regions", || {
        ensure_eq!(new_pages(BASE, 2 * PAGE), None, "new_pages");
        ensure_eq!(remove_pages(BASE + PAGE), Some(Error::InvalidArgument), "middle of a region");
        ensure_eq!(remove_pages(BASE + 0x10_0000), Some(Error::InvalidArgument), "nothing there");
        ensure_eq!(remove_pages(main_address() & !(PAGE - 1)), Some(Error::InvalidArgument), "program image");
        ensure_eq!(remove_pages(BASE), None, "the region");
        ensure_eq!(remove_pages(BASE), Some(Error::InvalidArgument), "twice");
        ensure_eq!(new_pages(BASE, PAGE), None, "the address is free again");
        // SAFETY: just mapped; a fresh mapping is zeroed even where old data was.
        ensure_eq!(unsafe { (BASE as *const u64).read_volatile() }, 0, "fresh page zeroed");
        ensure_eq!(remove_pages(BASE), None, "cleanup");
        Ok(())
    });

    s.case("new_pages::frames_come_back", || {
        let before = raw::free_frames();
        ensure_eq!(new_pages(BASE, 64 * PAGE), None, "new_pages");
        let during = raw::free_frames();
        ensure!(before - during >= 64, "64 pages took only {} frames", before - during);
        ensure_eq!(remove_pages(BASE), None, "remove");
        ensure_eq!(raw::free_frames(), before, "free frames after remove_pages");
        Ok(())
    });

    s.case("heap::vec_grows_and_frees", || {
        let mut v: Vec<u32> = Vec::new();
        for i in 0..100_000u32 {
            v.push(i.wrapping_mul(2654435761));
        }
        for (i, x) in v.iter().enumerate() {
            ensure_eq!(*x, (i as u32).wrapping_mul(2654435761), "element {i}");
        }
        drop(v);
        let b = alloc::boxed::Box::new([7u8; 10000]);
        ensure!(b.iter().all(|&x| x == 7), "box contents");
        Ok(())
    });

    s.case("print::validates_its_buffer", || {
        ensure_eq!(raw::print(&[]), 0, "empty");
        let bad = [0u64, 0xffff_ffff_8010_0000, BASE];
        for p in bad {
            // Through the raw call: a slice at these addresses could not even be made (one
            // at 0 is undefined behaviour, whether read or not).
            // SAFETY: the kernel must refuse each buffer; nothing here reads it.
            let (r, _) = unsafe { raw::syscall_number(Syscall::Print as u64, [p, 16, 0, 0, 0, 0]) };
            ensure_eq!(err(r), Some(Error::BadAddress), "print from {p:#x}");
        }
        Ok(())
    });
}

/// An address inside this program's text.
fn main_address() -> u64 {
    cases as *const () as u64
}
