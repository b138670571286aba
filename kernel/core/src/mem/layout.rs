//! The kernel's virtual address-space layout (the upper half). The user half is described
//! in `abi` because user programs and `libsys` depend on it too.
//!
//! | range                                   | use                                      |
//! |-----------------------------------------|------------------------------------------|
//! | `0xffff_8000_0000_0000` ..              | direct map of physical RAM (NX, 2 MiB pages) |
//! | `0xffff_fe00_0000_0000` ..              | kernel stacks, each under a guard page   |
//! | `0xffff_ffff_8000_0000` .. (top 2 GiB)  | the kernel image (`linker.ld`)           |

/// Where `linker.ld` puts the kernel image in physical memory (`KERNEL_PHYS` there).
pub const KERNEL_PHYS: u64 = 0x10_0000;
/// Virtual base of the kernel image: virtual = `KERNEL_VMA` + physical (`KERNEL_VMA` in
/// `linker.ld`).
pub const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// Virtual base of the direct map: physical address `p` is readable at `PHYS_OFFSET + p`.
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;
/// How much physical address space the direct map may cover (64 TiB, 128 PML4 slots).
pub const PHYS_MAP_MAX: u64 = 1 << 46;
/// Base of the kernel-stack region.
pub const KSTACKS_BASE: u64 = 0xffff_fe00_0000_0000;
/// Size of the kernel-stack region.
pub const KSTACKS_SIZE: u64 = 1 << 39;
/// The boot page tables identity-map only the first GiB; until the kernel's own tables are
/// live, physical memory above this is out of reach.
pub const BOOT_IDENTITY_LIMIT: u64 = 1 << 30;

const _: () = assert!(PHYS_OFFSET + PHYS_MAP_MAX <= KSTACKS_BASE);
const _: () = assert!(KSTACKS_BASE.checked_add(KSTACKS_SIZE).unwrap() <= KERNEL_VMA);
