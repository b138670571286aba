//! The user half of every address space, shared by the kernel's
//! checks, the loader and `libsys`.

const PAGE: u64 = crate::PAGE_SIZE as u64;

/// Lowest user address that can ever be mapped; everything below is a null-pointer guard.
pub const USER_MIN: u64 = 0x40_0000;
/// Where the loader places a position-independent program image.
pub const IMAGE_BASE: u64 = USER_MIN;
/// The program's own part of its address space, `[start, end)`: from 64 GiB
/// (`0x10_0000_0000`) up to 112 TiB (`0x7000_0000_0000`), where libsys's region begins.
///
/// A program places here the memory it asks for with `new_pages` and the receive windows
/// of long messages; the kernel, the loader and libsys never put anything here, so any
/// free, page-aligned address in the range is the program's to use.
///
/// ```
/// assert_eq!(abi::layout::PROGRAM_REGION, (0x10_0000_0000, 0x7000_0000_0000));
/// ```
pub const PROGRAM_REGION: (u64, u64) = (0x10_0000_0000, 0x7000_0000_0000);
/// libsys's region: its heap and thread stacks.
pub const LIBSYS_REGION: (u64, u64) = (0x7000_0000_0000, USER_END);
/// One past the highest user address. The last page below the canonical hole stays
/// unmapped, so no user range ends exactly at the hole.
pub const USER_END: u64 = 0x7fff_ffff_f000;

/// Pages of the initial thread's stack, mapped by the kernel at task start.
pub const MAIN_STACK_PAGES: u64 = 16;
/// The initial thread's stack: `[MAIN_STACK_TOP - MAIN_STACK_PAGES pages, MAIN_STACK_TOP)`,
/// with an unmapped guard page below. It sits at the top of libsys's region.
pub const MAIN_STACK_TOP: u64 = USER_END - PAGE;

/// Whether `[addr, addr + len)` lies entirely in user space (and does not wrap).
pub const fn is_user_range(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => addr >= USER_MIN && end <= USER_END,
        None => false,
    }
}

const _: () = assert!(USER_MIN.is_multiple_of(PAGE) && USER_END.is_multiple_of(PAGE));
const _: () = assert!(PROGRAM_REGION.1 == LIBSYS_REGION.0);
