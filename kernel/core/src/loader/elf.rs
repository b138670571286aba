//! Parsing, validating and loading an x86-64 ELF executable: the default output of
//! `cargo build --target x86_64-unknown-none` (a static PIE with `R_X86_64_RELATIVE`
//! relocations), or a fixed-address `ET_EXEC`.
//!
//! [`ElfImage::parse`] checks everything before anything is mapped: header fields, that
//! every segment lies inside the file and inside a bounded span, that segments do not
//! overlap, that the dynamic section and every relocation are in bounds and of a supported
//! type. [`load`] then cannot fail on the image's account, only for lack of memory.
//!
//! Pages are filled by copying, not by mapping file pages, so file offsets need not be
//! congruent to addresses. Two segments may share a page (never a byte); that page gets
//! the union of their permissions. `PT_GNU_RELRO` pages are made read-only after relocation.

use core::fmt;
use zerocopy::{FromBytes, Immutable, KnownLayout};

const PAGE: u64 = abi::PAGE_SIZE as u64;

/// Most `PT_LOAD` segments accepted.
pub const MAX_SEGMENTS: usize = 16;
/// Largest span (lowest to highest segment address) accepted.
pub const MAX_SPAN: u64 = 256 << 20;

const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_TLS: u32 = 7;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const DT_NULL: u64 = 0;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_RELAENT: u64 = 9;
const DT_REL: u64 = 17;
const DT_JMPREL: u64 = 23;
const R_X86_64_NONE: u32 = 0;
const R_X86_64_RELATIVE: u32 = 8;

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Ehdr {
    ident: [u8; 16],
    kind: u16,
    machine: u16,
    version: u32,
    entry: u64,
    phoff: u64,
    shoff: u64,
    flags: u32,
    ehsize: u16,
    phentsize: u16,
    phnum: u16,
    shentsize: u16,
    shnum: u16,
    shstrndx: u16,
}

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Phdr {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

#[derive(FromBytes, KnownLayout, Immutable)]
#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

/// Why an ELF file was refused. Each says what is wrong in words a user can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    TooShort,
    NotElf,
    Not64Bit,
    NotLittleEndian,
    WrongMachine(u16),
    WrongType(u16),
    BadProgramHeaders,
    NoLoadSegments,
    TooManySegments,
    SegmentOutsideFile(usize),
    FileSizeExceedsMemory(usize),
    AddressOverflow(usize),
    SpanTooLarge(u64),
    SegmentsOverlap(usize, usize),
    OutsideUserSpace,
    EntryNotExecutable(u64),
    NeedsInterpreter,
    ThreadLocalStorage,
    BadDynamic,
    UnsupportedRelocations(&'static str),
    UnsupportedRelocationType(u32),
    RelocationOutOfImage(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ElfError::*;
        match *self {
            TooShort => write!(f, "file too short to be an ELF executable"),
            NotElf => write!(f, "not an ELF file (bad magic number)"),
            Not64Bit => write!(f, "a 32-bit ELF file; Moroso runs 64-bit x86-64 programs"),
            NotLittleEndian => write!(f, "a big-endian ELF file; x86-64 is little-endian"),
            WrongMachine(m) => write!(f, "an ELF file for machine {m} ({}), not x86-64 (62)", machine_name(m)),
            WrongType(t) => write!(f, "ELF type {t} is not an executable (need ET_EXEC or ET_DYN)"),
            BadProgramHeaders => write!(f, "program header table is missing, truncated or malformed"),
            NoLoadSegments => write!(f, "no loadable segments"),
            TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            SegmentOutsideFile(i) => write!(f, "segment {i} extends past the end of the file"),
            FileSizeExceedsMemory(i) => write!(f, "segment {i} has more file bytes than memory bytes"),
            AddressOverflow(i) => write!(f, "segment {i} wraps around the address space"),
            SpanTooLarge(s) => write!(f, "segments span {s:#x} bytes (limit {MAX_SPAN:#x})"),
            SegmentsOverlap(a, b) => write!(f, "segments {a} and {b} overlap"),
            OutsideUserSpace => write!(f, "fixed-address segments outside user space"),
            EntryNotExecutable(e) => write!(f, "entry point {e:#x} is not in an executable segment"),
            NeedsInterpreter => write!(f, "dynamically linked (PT_INTERP); Moroso loads static executables only"),
            ThreadLocalStorage => write!(f, "uses thread-local storage (PT_TLS), which Moroso does not support"),
            BadDynamic => write!(f, "the dynamic section is malformed or outside the image"),
            UnsupportedRelocations(k) => write!(f, "has {k} relocations; only RELA R_X86_64_RELATIVE is supported"),
            UnsupportedRelocationType(t) => write!(f, "relocation type {t} (only R_X86_64_RELATIVE is supported)"),
            RelocationOutOfImage(o) => write!(f, "a relocation at {o:#x} lies outside every segment"),
        }
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "i386",
        40 => "ARM",
        183 => "AArch64",
        243 => "RISC-V",
        8 => "MIPS",
        20 => "PowerPC",
        _ => "unknown",
    }
}

/// Segment permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms {
    pub write: bool,
    pub exec: bool,
}

impl Perms {
    fn union(self, o: Perms) -> Perms {
        Perms { write: self.write || o.write, exec: self.exec || o.exec }
    }
}

/// A loadable segment, validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub perms: Perms,
}

impl Segment {
    fn end(&self) -> u64 {
        self.vaddr + self.mem_size
    }
    fn first_page(&self) -> u64 {
        self.vaddr & !(PAGE - 1)
    }
    fn end_page(&self) -> u64 {
        self.end().next_multiple_of(PAGE)
    }
}

/// A validated executable, borrowing the file's bytes.
#[derive(Debug)]
pub struct ElfImage<'a> {
    data: &'a [u8],
    /// Whether the program is position-independent (loaded at a base we choose).
    pub relocatable: bool,
    entry: u64,
    segments: [Segment; MAX_SEGMENTS],
    nsegments: usize,
    /// The RELA table's file range.
    rela: Option<(usize, usize)>,
    relro: Option<(u64, u64)>,
}

fn read<T: FromBytes + KnownLayout + Immutable>(data: &[u8], offset: u64) -> Option<T> {
    let start = usize::try_from(offset).ok()?;
    let bytes = data.get(start..start.checked_add(size_of::<T>())?)?;
    T::read_from_bytes(bytes).ok()
}

impl<'a> ElfImage<'a> {
    /// Parses and validates `data`.
    pub fn parse(data: &'a [u8]) -> Result<ElfImage<'a>, ElfError> {
        let h: Ehdr = read(data, 0).ok_or(if data.starts_with(b"\x7fELF") || data.len() < 4 {
            ElfError::TooShort
        } else {
            ElfError::NotElf
        })?;
        if h.ident[..4] != *b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        if h.ident[4] != 2 {
            return Err(ElfError::Not64Bit);
        }
        if h.ident[5] != 1 {
            return Err(ElfError::NotLittleEndian);
        }
        if h.machine != EM_X86_64 {
            return Err(ElfError::WrongMachine(h.machine));
        }
        if h.kind != ET_EXEC && h.kind != ET_DYN {
            return Err(ElfError::WrongType(h.kind));
        }
        if h.phentsize as usize != size_of::<Phdr>() || h.phnum == 0 {
            return Err(ElfError::BadProgramHeaders);
        }

        let mut img = ElfImage {
            data,
            relocatable: h.kind == ET_DYN,
            entry: h.entry,
            segments: [Segment::default(); MAX_SEGMENTS],
            nsegments: 0,
            rela: None,
            relro: None,
        };
        let mut dynamic = None;
        for i in 0..h.phnum as u64 {
            let off = h.phoff.checked_add(i * size_of::<Phdr>() as u64).ok_or(ElfError::BadProgramHeaders)?;
            let p: Phdr = read(data, off).ok_or(ElfError::BadProgramHeaders)?;
            match p.kind {
                PT_LOAD => {
                    let idx = img.nsegments;
                    if idx == MAX_SEGMENTS {
                        return Err(ElfError::TooManySegments);
                    }
                    if p.filesz > p.memsz {
                        return Err(ElfError::FileSizeExceedsMemory(idx));
                    }
                    let file_end = p.offset.checked_add(p.filesz);
                    if file_end.is_none_or(|e| e > data.len() as u64) {
                        return Err(ElfError::SegmentOutsideFile(idx));
                    }
                    if p.vaddr.checked_add(p.memsz).and_then(|e| e.checked_add(PAGE)).is_none() {
                        return Err(ElfError::AddressOverflow(idx));
                    }
                    if p.memsz == 0 {
                        continue;
                    }
                    img.segments[idx] = Segment {
                        vaddr: p.vaddr,
                        mem_size: p.memsz,
                        file_offset: p.offset,
                        file_size: p.filesz,
                        perms: Perms { write: p.flags & PF_W != 0, exec: p.flags & PF_X != 0 },
                    };
                    img.nsegments += 1;
                }
                PT_DYNAMIC => dynamic = Some((p.offset, p.filesz)),
                PT_INTERP => return Err(ElfError::NeedsInterpreter),
                PT_TLS if p.memsz > 0 => return Err(ElfError::ThreadLocalStorage),
                PT_GNU_RELRO => img.relro = Some((p.vaddr, p.vaddr.saturating_add(p.memsz))),
                _ => {}
            }
        }
        if img.nsegments == 0 {
            return Err(ElfError::NoLoadSegments);
        }
        img.segments[..img.nsegments].sort_unstable_by_key(|s| s.vaddr);
        let segs = img.segments();
        for (i, w) in segs.windows(2).enumerate() {
            if w[1].vaddr < w[0].end() {
                return Err(ElfError::SegmentsOverlap(i, i + 1));
            }
        }
        let (lo, hi) = img.span();
        if hi - lo > MAX_SPAN {
            return Err(ElfError::SpanTooLarge(hi - lo));
        }
        if !img.relocatable && !abi::layout::is_user_range(lo, hi - lo) {
            return Err(ElfError::OutsideUserSpace);
        }
        // A PIE is moved down to `IMAGE_BASE`: one linked above it would need a negative
        // bias (`load_bias` would underflow). Real PIEs link at 0.
        if img.relocatable && lo > abi::layout::IMAGE_BASE {
            return Err(ElfError::OutsideUserSpace);
        }
        if !segs.iter().any(|s| s.perms.exec && (s.vaddr..s.end()).contains(&img.entry)) {
            return Err(ElfError::EntryNotExecutable(img.entry));
        }
        if let Some((off, len)) = dynamic {
            img.rela = img.parse_dynamic(off, len)?;
        }
        Ok(img)
    }

    /// Finds the RELA table through the dynamic section and checks every entry.
    fn parse_dynamic(&self, off: u64, len: u64) -> Result<Option<(usize, usize)>, ElfError> {
        let (mut rela, mut relasz, mut relaent) = (None, 0u64, size_of::<Rela>() as u64);
        for i in 0..len / 16 {
            let tag: u64 = read(self.data, off + i * 16).ok_or(ElfError::BadDynamic)?;
            let val: u64 = read(self.data, off + i * 16 + 8).ok_or(ElfError::BadDynamic)?;
            match tag {
                DT_NULL => break,
                DT_RELA => rela = Some(val),
                DT_RELASZ => relasz = val,
                DT_RELAENT => relaent = val,
                DT_REL => return Err(ElfError::UnsupportedRelocations("REL")),
                DT_JMPREL => return Err(ElfError::UnsupportedRelocations("PLT")),
                _ => {}
            }
        }
        let Some(rela_vaddr) = rela else { return Ok(None) };
        if relaent != size_of::<Rela>() as u64 || relasz % relaent != 0 {
            return Err(ElfError::BadDynamic);
        }
        // The table is addressed by virtual address; find its bytes in the file.
        let seg = self
            .segments()
            .iter()
            .find(|s| s.vaddr <= rela_vaddr && rela_vaddr.saturating_add(relasz) <= s.vaddr + s.file_size)
            .ok_or(ElfError::BadDynamic)?;
        let start = (seg.file_offset + (rela_vaddr - seg.vaddr)) as usize;
        let table = (start, relasz as usize);
        for r in self.relas(table) {
            let kind = r.info as u32;
            match kind {
                R_X86_64_NONE => {}
                R_X86_64_RELATIVE => {
                    let inside = self.segments().iter().any(|s| s.vaddr <= r.offset && r.offset + 8 <= s.end());
                    if !inside || r.offset > u64::MAX - 8 {
                        return Err(ElfError::RelocationOutOfImage(r.offset));
                    }
                }
                other => return Err(ElfError::UnsupportedRelocationType(other)),
            }
        }
        Ok(Some(table))
    }

    fn relas(&self, (start, len): (usize, usize)) -> impl Iterator<Item = Rela> + '_ {
        self.data[start..start + len].chunks_exact(size_of::<Rela>()).filter_map(|c| Rela::read_from_bytes(c).ok())
    }

    /// The loadable segments, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.nsegments]
    }

    /// Lowest and highest (exclusive, page-rounded) address of the image before relocation.
    pub fn span(&self) -> (u64, u64) {
        let segs = self.segments();
        (segs[0].first_page(), segs[segs.len() - 1].end_page())
    }

    /// The base to load at: [`abi::layout::IMAGE_BASE`] for a PIE, 0 for a fixed image.
    /// Cannot underflow: `parse` refuses a PIE whose lowest address is above `IMAGE_BASE`.
    pub fn load_bias(&self) -> u64 {
        if self.relocatable {
            abi::layout::IMAGE_BASE - self.span().0
        } else {
            0
        }
    }
}

/// Page protections the loader asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Readable and writable, not executable (while loading, and for data).
    ReadWrite,
    ReadOnly,
    ReadExecute,
    /// A page shared by a writable and an executable segment: both (rare; reported).
    ReadWriteExecute,
}

impl From<Perms> for Protection {
    fn from(p: Perms) -> Self {
        match (p.write, p.exec) {
            (false, false) => Protection::ReadOnly,
            (true, false) => Protection::ReadWrite,
            (false, true) => Protection::ReadExecute,
            (true, true) => Protection::ReadWriteExecute,
        }
    }
}

/// Where a program is loaded: an address space, as the loader needs it.
pub trait LoadTarget {
    /// Maps `pages` fresh zeroed pages at `va`, readable and writable.
    fn map_zeroed(&mut self, va: u64, pages: u64) -> Result<(), abi::Error>;
    /// Copies `data` to `va` (mapped by `map_zeroed`).
    fn write(&mut self, va: u64, data: &[u8]) -> Result<(), abi::Error>;
    /// Sets the protection of `pages` pages at `va`.
    fn protect(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), abi::Error>;
}

/// Loads `img` into `target`; returns the entry point. On error the caller discards the
/// whole address space, so partial work is not undone here.
pub fn load(img: &ElfImage, target: &mut impl LoadTarget) -> Result<u64, abi::Error> {
    let bias = img.load_bias();
    let segs = img.segments();
    // Map every page once, writable for loading. Sorted, non-overlapping segments can only
    // share a boundary page with the previous one.
    let mut mapped_until = 0;
    for s in segs {
        let first = (s.first_page() + bias).max(mapped_until);
        let end = s.end_page() + bias;
        if first < end {
            target.map_zeroed(first, (end - first) / PAGE)?;
            mapped_until = end;
        }
        let bytes = &img.data[s.file_offset as usize..(s.file_offset + s.file_size) as usize];
        target.write(s.vaddr + bias, bytes)?;
    }
    if let Some(table) = img.rela {
        for r in img.relas(table).filter(|r| r.info as u32 == R_X86_64_RELATIVE) {
            let value = bias.wrapping_add_signed(r.addend);
            target.write(r.offset + bias, &value.to_le_bytes())?;
        }
    }
    // Final protections: each segment's own, then boundary pages shared with a neighbour
    // get the union, then RELRO pages lose write.
    for s in segs {
        let first = s.first_page() + bias;
        target.protect(first, (s.end_page() + bias - first) / PAGE, s.perms.into())?;
    }
    for w in segs.windows(2) {
        if w[1].first_page() < w[0].end_page() {
            target.protect(w[1].first_page() + bias, 1, w[0].perms.union(w[1].perms).into())?;
        }
    }
    if let Some((start, end)) = img.relro {
        let (first, last) = ((start + bias) & !(PAGE - 1), (end + bias) & !(PAGE - 1));
        if first < last {
            target.protect(first, (last - first) / PAGE, Protection::ReadOnly)?;
        }
    }
    Ok(img.entry + bias)
}

#[cfg(test)]
mod tests;
