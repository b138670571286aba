//! Parsing the PVH boot hand-off (`hvm_start_info`, version ≥ 1) into a [`BootInfo`] the
//! kernel owns.
//!
//! QEMU leaves the start-info block, the memory map, the module list and the command line
//! somewhere in low physical memory. They are read through a [`PhysMemory`] (identity
//! mapping at boot, a byte buffer in tests) and copied out at once, so after parsing
//! nothing refers to those physical pages and the frame allocator may reuse them. Only the
//! modules' *contents* stay where they are (the caller reserves them).
//!
//! Every length and address read from the hand-off is checked: a malformed block yields a
//! [`BootInfoError`], never an out-of-bounds read.

use zerocopy::{FromBytes, Immutable, KnownLayout};

/// `hvm_start_info.magic`: "xEn3" with the high bit of "x" set.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Memory-map entry type for usable RAM (E820 numbering).
pub const MEMMAP_TYPE_RAM: u32 = 1;
/// Most memory-map entries kept; QEMU reports about half a dozen.
pub const MAX_REGIONS: usize = 64;
/// Most boot modules kept (QEMU passes one: the `-initrd` image).
pub const MAX_MODULES: usize = 8;
/// Longest command line kept, in bytes.
pub const MAX_CMDLINE: usize = 256;

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawModule {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// Read access to physical memory during boot.
pub trait PhysMemory {
    /// The `len` bytes at physical address `addr`, or `None` if they cannot be read.
    fn read(&self, addr: u64, len: usize) -> Option<&[u8]>;
}

/// One entry of the firmware memory map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemRegion {
    pub base: u64,
    pub size: u64,
    /// E820 type: 1 = usable RAM; anything else is not ours to allocate.
    pub kind: u32,
}

impl MemRegion {
    pub fn is_ram(&self) -> bool {
        self.kind == MEMMAP_TYPE_RAM
    }
    /// Exclusive end, saturating (a region that claims to reach past 2^64 is clipped).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// A boot module (the `-initrd` image): where its bytes are in physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Module {
    pub base: u64,
    pub size: u64,
}

/// Everything the kernel keeps from the boot hand-off.
#[derive(Clone, Debug)]
pub struct BootInfo {
    regions: [MemRegion; MAX_REGIONS],
    nr_regions: usize,
    modules: [Module; MAX_MODULES],
    nr_modules: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Entries that did not fit (reported at boot, never silently dropped).
    pub regions_dropped: usize,
    pub modules_dropped: usize,
    pub cmdline_truncated: bool,
}

/// Why the hand-off could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    /// Nothing readable at the start-info address.
    Unreadable,
    /// The magic number is wrong: this was not a PVH boot.
    BadMagic(u32),
    /// Version 0 has no memory map, and the kernel needs one.
    NoMemoryMap { version: u32 },
    /// The memory map or module list points at unreadable memory.
    BadTable,
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unreadable => write!(f, "the PVH start-info block is not readable"),
            Self::BadMagic(m) => write!(f, "PVH start-info magic is {m:#x}, expected {START_INFO_MAGIC:#x}"),
            Self::NoMemoryMap { version } => {
                write!(f, "PVH start-info version {version} has no memory map (need version 1)")
            }
            Self::BadTable => write!(f, "the PVH memory map or module list is not readable"),
        }
    }
}

impl BootInfo {
    /// Parses the start-info block at physical address `start_info`.
    pub fn parse(mem: &impl PhysMemory, start_info: u64) -> Result<BootInfo, BootInfoError> {
        let raw = mem
            .read(start_info, size_of::<RawStartInfo>())
            .and_then(|b| RawStartInfo::read_from_bytes(b).ok())
            .ok_or(BootInfoError::Unreadable)?;
        if raw.magic != START_INFO_MAGIC {
            return Err(BootInfoError::BadMagic(raw.magic));
        }
        if raw.version < 1 {
            return Err(BootInfoError::NoMemoryMap { version: raw.version });
        }
        let mut info = BootInfo {
            regions: [MemRegion::default(); MAX_REGIONS],
            nr_regions: 0,
            modules: [Module::default(); MAX_MODULES],
            nr_modules: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            regions_dropped: 0,
            modules_dropped: 0,
            cmdline_truncated: false,
        };

        let entries = raw.memmap_entries as usize;
        let keep = entries.min(MAX_REGIONS);
        let table = read_table(mem, raw.memmap_paddr, keep, size_of::<RawMemmapEntry>())?;
        for chunk in table.chunks_exact(size_of::<RawMemmapEntry>()) {
            let e = RawMemmapEntry::read_from_bytes(chunk).map_err(|_| BootInfoError::BadTable)?;
            info.regions[info.nr_regions] = MemRegion { base: e.addr, size: e.size, kind: e.kind };
            info.nr_regions += 1;
        }
        info.regions_dropped = entries - keep;

        let mods = raw.nr_modules as usize;
        let keep = mods.min(MAX_MODULES);
        let table = read_table(mem, raw.modlist_paddr, keep, size_of::<RawModule>())?;
        for chunk in table.chunks_exact(size_of::<RawModule>()) {
            let m = RawModule::read_from_bytes(chunk).map_err(|_| BootInfoError::BadTable)?;
            info.modules[info.nr_modules] = Module { base: m.paddr, size: m.size };
            info.nr_modules += 1;
        }
        info.modules_dropped = mods - keep;

        if raw.cmdline_paddr != 0 {
            // Read byte by byte up to the NUL: the string's length is not given, and the
            // bytes after it may be unreadable.
            while info.cmdline_len < MAX_CMDLINE {
                match mem.read(raw.cmdline_paddr + info.cmdline_len as u64, 1) {
                    Some([0]) | None => break,
                    Some(b) => {
                        info.cmdline[info.cmdline_len] = b[0];
                        info.cmdline_len += 1;
                    }
                }
            }
            info.cmdline_truncated = info.cmdline_len == MAX_CMDLINE
                && mem.read(raw.cmdline_paddr + MAX_CMDLINE as u64, 1).is_some_and(|b| b[0] != 0);
        }
        Ok(info)
    }

    /// The firmware memory map.
    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.nr_regions]
    }

    /// Boot modules, in order (module 0 is `-initrd`).
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.nr_modules]
    }

    /// The kernel command line (`-append`); non-UTF-8 bytes make it empty.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Whether the command line contains `word` as a whitespace-separated word.
    pub fn has_flag(&self, word: &str) -> bool {
        self.cmdline().split_ascii_whitespace().any(|w| w == word)
    }

    /// The value of `key=value` on the command line, if present.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.cmdline().split_ascii_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }
}

fn read_table(mem: &impl PhysMemory, addr: u64, n: usize, entry: usize) -> Result<&[u8], BootInfoError> {
    if n == 0 {
        return Ok(&[]);
    }
    mem.read(addr, n * entry).ok_or(BootInfoError::BadTable)
}

#[cfg(test)]
mod tests {
    use super::*;

    mod props;
    use zerocopy::IntoBytes;

    /// Fake physical memory: one buffer starting at physical address 0.
    struct Buf(Vec<u8>);
    impl PhysMemory for Buf {
        fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
            let start = usize::try_from(addr).ok()?;
            self.0.get(start..start.checked_add(len)?)
        }
    }

    fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn put_u32(buf: &mut [u8], at: usize, v: u32) {
        put(buf, at, v.as_bytes());
    }
    fn put_u64(buf: &mut [u8], at: usize, v: u64) {
        put(buf, at, v.as_bytes());
    }

    /// A QEMU-like hand-off: start info at 0x100, memmap at 0x200, modules at 0x400,
    /// command line at 0x500.
    fn qemu_like(cmdline: &[u8]) -> Buf {
        let mut b = vec![0u8; 0x1000];
        put_u32(&mut b, 0x100, START_INFO_MAGIC);
        put_u32(&mut b, 0x104, 1);
        put_u32(&mut b, 0x10c, 1); // nr_modules
        put_u64(&mut b, 0x110, 0x400);
        put_u64(&mut b, 0x118, 0x500);
        put_u64(&mut b, 0x128, 0x200);
        put_u32(&mut b, 0x130, 3);
        let map = [(0u64, 0x9fc00u64, 1u32), (0xf0000, 0x10000, 2), (0x100000, 0x1ff00000, 1)];
        for (i, (a, s, k)) in map.iter().enumerate() {
            put_u64(&mut b, 0x200 + i * 24, *a);
            put_u64(&mut b, 0x208 + i * 24, *s);
            put_u32(&mut b, 0x210 + i * 24, *k);
        }
        put_u64(&mut b, 0x400, 0x800_0000);
        put_u64(&mut b, 0x408, 12345);
        put(&mut b, 0x500, cmdline);
        Buf(b)
    }

    #[test]
    fn parses_a_qemu_like_handoff() {
        let info = BootInfo::parse(&qemu_like(b"selftest quiet=1\0"), 0x100).unwrap();
        assert_eq!(info.regions().len(), 3);
        assert_eq!(info.regions()[2], MemRegion { base: 0x100000, size: 0x1ff00000, kind: 1 });
        assert!(!info.regions()[1].is_ram());
        assert_eq!(info.modules(), &[Module { base: 0x800_0000, size: 12345 }]);
        assert_eq!(info.cmdline(), "selftest quiet=1");
        assert!(info.has_flag("selftest"));
        assert!(!info.has_flag("self"));
        assert_eq!(info.option("quiet"), Some("1"));
        assert_eq!(info.option("selftest"), None);
        assert!(!info.cmdline_truncated);
    }

    #[test]
    fn rejects_wrong_magic_and_version_zero() {
        let mut m = qemu_like(b"\0");
        put_u32(&mut m.0, 0x100, 0xdead_beef);
        assert_eq!(BootInfo::parse(&m, 0x100).unwrap_err(), BootInfoError::BadMagic(0xdead_beef));
        let mut m = qemu_like(b"\0");
        put_u32(&mut m.0, 0x104, 0);
        assert_eq!(BootInfo::parse(&m, 0x100).unwrap_err(), BootInfoError::NoMemoryMap { version: 0 });
        assert_eq!(BootInfo::parse(&m, 0xfff0).unwrap_err(), BootInfoError::Unreadable);
    }

    #[test]
    fn tables_out_of_bounds_are_errors_not_reads() {
        let mut m = qemu_like(b"\0");
        put_u64(&mut m.0, 0x128, 0xff0); // memmap runs off the end of memory
        assert_eq!(BootInfo::parse(&m, 0x100).unwrap_err(), BootInfoError::BadTable);
        let mut m = qemu_like(b"\0");
        put_u64(&mut m.0, 0x110, u64::MAX - 8); // module list address overflows
        assert_eq!(BootInfo::parse(&m, 0x100).unwrap_err(), BootInfoError::BadTable);
    }

    #[test]
    fn oversized_tables_are_capped_and_counted() {
        let mut m = qemu_like(b"\0");
        m.0.resize(0x10000, 0);
        put_u64(&mut m.0, 0x128, 0x2000);
        put_u32(&mut m.0, 0x130, (MAX_REGIONS + 5) as u32);
        let info = BootInfo::parse(&m, 0x100).unwrap();
        assert_eq!(info.regions().len(), MAX_REGIONS);
        assert_eq!(info.regions_dropped, 5);
    }

    #[test]
    fn long_or_unterminated_command_lines_are_bounded() {
        let long = vec![b'a'; MAX_CMDLINE + 10];
        let info = BootInfo::parse(&qemu_like(&long), 0x100).unwrap();
        assert_eq!(info.cmdline().len(), MAX_CMDLINE);
        assert!(info.cmdline_truncated);
        // Unterminated at the very end of memory: stops at the end, no panic.
        let mut m = qemu_like(b"\0");
        let end = m.0.len() as u64 - 3;
        put(&mut m.0, end as usize, b"abc");
        put_u64(&mut m.0, 0x118, end);
        assert_eq!(BootInfo::parse(&m, 0x100).unwrap().cmdline(), "abc");
    }
}
