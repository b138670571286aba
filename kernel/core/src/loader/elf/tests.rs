use super::*;
use std::collections::BTreeMap;

mod props;

/// Builds ELF files for tests: a header, program headers, then raw bytes.
struct Builder {
    kind: u16,
    machine: u16,
    entry: u64,
    phdrs: Vec<[u64; 7]>, // kind|flags<<32, offset, vaddr, paddr, filesz, memsz, align
    body: Vec<u8>,
}

const BODY: u64 = 0x1000; // file offset where `body` starts

impl Builder {
    fn new() -> Self {
        Builder { kind: ET_DYN, machine: EM_X86_64, entry: 0x1000, phdrs: vec![], body: vec![] }
    }
    fn seg(mut self, kind: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Self {
        self.phdrs.push([kind as u64 | (flags as u64) << 32, offset, vaddr, vaddr, filesz, memsz, 0x1000]);
        self
    }
    fn body(mut self, bytes: &[u8]) -> Self {
        self.body = bytes.to_vec();
        self
    }
    fn build(&self) -> Vec<u8> {
        let mut f = vec![0u8; BODY as usize];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&self.kind.to_le_bytes());
        f[18..20].copy_from_slice(&self.machine.to_le_bytes());
        f[24..32].copy_from_slice(&self.entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(self.phdrs.len() as u16).to_le_bytes());
        for (i, p) in self.phdrs.iter().enumerate() {
            let at = 64 + i * 56;
            f[at..at + 4].copy_from_slice(&(p[0] as u32).to_le_bytes());
            f[at + 4..at + 8].copy_from_slice(&((p[0] >> 32) as u32).to_le_bytes());
            for (j, v) in p[1..].iter().enumerate() {
                f[at + 8 + j * 8..at + 16 + j * 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        f.extend_from_slice(&self.body);
        f
    }
}

fn rela(offset: u64, kind: u32, addend: i64) -> Vec<u8> {
    let mut v = offset.to_le_bytes().to_vec();
    v.extend_from_slice(&(kind as u64).to_le_bytes());
    v.extend_from_slice(&addend.to_le_bytes());
    v
}

fn dynamic(entries: &[(u64, u64)]) -> Vec<u8> {
    entries
        .iter()
        .chain([(DT_NULL, 0)].iter())
        .flat_map(|(t, v)| [t.to_le_bytes(), v.to_le_bytes()])
        .flatten()
        .collect()
}

/// A PIE like rustc makes: text at 0x1000 (file 0x1000), data at 0x2000 (file 0x1100) with
/// one RELATIVE relocation at 0x2008 pointing at 0x1010, RELA table and dynamic section in
/// a read-only segment at 0x3000 (file 0x1200).
fn pie_with(rela_kind: u32, reloc_at: u64) -> Vec<u8> {
    let mut body = vec![0u8; 0x300];
    body[0..4].copy_from_slice(&[0x90, 0x90, 0xeb, 0xfe]); // text
    body[0x100..0x108].copy_from_slice(&0x1122_3344u64.to_le_bytes()); // data
    let table = rela(reloc_at, rela_kind, 0x1010);
    body[0x200..0x218].copy_from_slice(&table);
    let d = dynamic(&[(DT_RELA, 0x3000), (DT_RELASZ, 24), (DT_RELAENT, 24)]);
    body[0x220..0x220 + d.len()].copy_from_slice(&d);
    Builder::new()
        .seg(PT_LOAD, PF_X | 4, 0x1000, 0x1000, 4, 4)
        .seg(PT_LOAD, PF_W | 4, 0x1100, 0x2000, 0x10, 0x800)
        .seg(PT_LOAD, 4, 0x1200, 0x3000, 0x100, 0x100)
        .seg(PT_DYNAMIC, 4, 0x1220, 0x3020, d.len() as u64, d.len() as u64)
        .body(&body)
        .build()
}

#[derive(Default)]
struct FakeSpace {
    pages: BTreeMap<u64, (Vec<u8>, Protection)>,
}

impl LoadTarget for FakeSpace {
    fn map_zeroed(&mut self, va: u64, pages: u64) -> Result<(), abi::Error> {
        for p in 0..pages {
            let old = self.pages.insert(va + p * PAGE, (vec![0; PAGE as usize], Protection::ReadWrite));
            assert!(old.is_none(), "page {:#x} mapped twice", va + p * PAGE);
        }
        Ok(())
    }
    fn write(&mut self, va: u64, data: &[u8]) -> Result<(), abi::Error> {
        for (i, b) in data.iter().enumerate() {
            let a = va + i as u64;
            let page = self.pages.get_mut(&(a & !(PAGE - 1))).ok_or(abi::Error::BadAddress)?;
            page.0[(a % PAGE) as usize] = *b;
        }
        Ok(())
    }
    fn protect(&mut self, va: u64, pages: u64, prot: Protection) -> Result<(), abi::Error> {
        for p in 0..pages {
            self.pages.get_mut(&(va + p * PAGE)).ok_or(abi::Error::BadAddress)?.1 = prot;
        }
        Ok(())
    }
}

impl FakeSpace {
    fn read_u64(&self, va: u64) -> u64 {
        let page = &self.pages[&(va & !(PAGE - 1))].0;
        let o = (va % PAGE) as usize;
        u64::from_le_bytes(page[o..o + 8].try_into().unwrap())
    }
}

#[test]
fn loads_a_pie_at_the_image_base_and_relocates_it() {
    let file = pie_with(R_X86_64_RELATIVE, 0x2008);
    let img = ElfImage::parse(&file).unwrap();
    assert!(img.relocatable);
    let mut space = FakeSpace::default();
    let entry = load(&img, &mut space).unwrap();
    let base = abi::layout::IMAGE_BASE - 0x1000;
    assert_eq!(entry, base + 0x1000);
    assert_eq!(space.pages.keys().copied().collect::<Vec<_>>(), [base + 0x1000, base + 0x2000, base + 0x3000]);
    assert_eq!(space.pages[&(base + 0x1000)].0[..4], [0x90, 0x90, 0xeb, 0xfe]);
    assert_eq!(space.read_u64(base + 0x2000), 0x1122_3344, "file bytes copied");
    assert_eq!(space.read_u64(base + 0x2008), base + 0x1010, "relocated pointer");
    assert_eq!(space.read_u64(base + 0x2010), 0, "bss zeroed");
    assert_eq!(space.pages[&(base + 0x1000)].1, Protection::ReadExecute);
    assert_eq!(space.pages[&(base + 0x2000)].1, Protection::ReadWrite);
    assert_eq!(space.pages[&(base + 0x3000)].1, Protection::ReadOnly);
}

#[test]
fn shared_boundary_pages_get_the_union_and_relro_loses_write() {
    let body = vec![0xccu8; 0x100];
    let file = Builder::new()
        .seg(PT_LOAD, PF_X | 4, 0x1000, 0x1000, 0x10, 0x10)
        .seg(PT_LOAD, 4, 0x1010, 0x1800, 0x10, 0x10) // same page as the text
        .seg(PT_LOAD, PF_W | 4, 0x1020, 0x2100, 0x10, 0x2000)
        .seg(PT_GNU_RELRO, 4, 0x1020, 0x2100, 0x10, 0xf00)
        .body(&body)
        .build();
    let img = ElfImage::parse(&file).unwrap();
    let mut space = FakeSpace::default();
    load(&img, &mut space).unwrap();
    let b = img.load_bias();
    assert_eq!(space.pages.len(), 4);
    assert_eq!(space.pages[&(b + 0x1000)].1, Protection::ReadExecute);
    assert_eq!(space.pages[&(b + 0x2000)].1, Protection::ReadOnly, "RELRO page");
    assert_eq!(space.pages[&(b + 0x3000)].1, Protection::ReadWrite);
}

#[test]
fn refuses_what_is_not_an_x86_64_executable() {
    let ok = pie_with(R_X86_64_RELATIVE, 0x2008);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = ok.clone();
        f(&mut v);
        ElfImage::parse(&v).unwrap_err()
    };
    assert_eq!(ElfImage::parse(b"").unwrap_err(), ElfError::TooShort);
    assert_eq!(ElfImage::parse(b"\x7fELF\x02").unwrap_err(), ElfError::TooShort);
    assert_eq!(ElfImage::parse(&[b'#'; 100]).unwrap_err(), ElfError::NotElf);
    assert_eq!(with(&|v| v[4] = 1), ElfError::Not64Bit);
    assert_eq!(with(&|v| v[5] = 2), ElfError::NotLittleEndian);
    assert_eq!(with(&|v| v[18..20].copy_from_slice(&183u16.to_le_bytes())), ElfError::WrongMachine(183));
    assert_eq!(with(&|v| v[16..18].copy_from_slice(&1u16.to_le_bytes())), ElfError::WrongType(1));
    assert_eq!(with(&|v| v[56..58].copy_from_slice(&0u16.to_le_bytes())), ElfError::BadProgramHeaders);
    assert_eq!(with(&|v| v[56..58].copy_from_slice(&500u16.to_le_bytes())), ElfError::BadProgramHeaders);
    assert_eq!(with(&|v| v.truncate(0x1100)), ElfError::SegmentOutsideFile(1), "truncated file");
    assert!(ElfError::WrongMachine(183).to_string().contains("AArch64"));
}

#[test]
fn refuses_malformed_segments() {
    let b = || Builder::new().body(&[0u8; 0x100]);
    let parse = |v: Vec<u8>| ElfImage::parse(&v).unwrap_err();
    assert_eq!(parse(b().build()), ElfError::BadProgramHeaders);
    assert_eq!(parse(b().seg(PT_LOAD, PF_X, 0x1000, 0x1000, 0x20, 0x10).build()), ElfError::FileSizeExceedsMemory(0));
    assert_eq!(parse(b().seg(PT_LOAD, PF_X, u64::MAX - 4, 0x1000, 8, 8).build()), ElfError::SegmentOutsideFile(0));
    assert_eq!(parse(b().seg(PT_LOAD, PF_X, 0x1000, u64::MAX - 8, 4, 4).build()), ElfError::AddressOverflow(0));
    assert_eq!(
        parse(b().seg(PT_LOAD, PF_X, 0x1000, 0x1000, 4, 0x100).seg(PT_LOAD, 4, 0x1000, 0x10f0, 4, 4).build()),
        ElfError::SegmentsOverlap(0, 1)
    );
    assert_eq!(
        parse(b().seg(PT_LOAD, PF_X, 0x1000, 0x1000, 4, 4).seg(PT_LOAD, 4, 0x1000, 0x4000_1000, 4, 4).build()),
        ElfError::SpanTooLarge(0x4000_1000)
    );
    assert_eq!(parse(b().seg(PT_LOAD, PF_W, 0x1000, 0x1000, 4, 4).build()), ElfError::EntryNotExecutable(0x1000));
    assert_eq!(
        parse(b().seg(PT_LOAD, PF_X, 0x1000, 0x1000, 4, 4).seg(PT_INTERP, 4, 0x1000, 0, 4, 4).build()),
        ElfError::NeedsInterpreter
    );
    assert_eq!(
        parse(b().seg(PT_LOAD, PF_X, 0x1000, 0x1000, 4, 4).seg(PT_TLS, 4, 0x1000, 0x1000, 4, 8).build()),
        ElfError::ThreadLocalStorage
    );
    let mut fixed_low = b().seg(PT_LOAD, PF_X, 0x1000, 0x1000, 4, 4);
    fixed_low.kind = ET_EXEC;
    assert_eq!(parse(fixed_low.build()), ElfError::OutsideUserSpace, "fixed image in the null guard");
    // Found by the mutation property test: a PIE linked above the image base made
    // `load_bias` underflow (a panic in a checked build, a wrapped bias otherwise).
    let high = abi::layout::IMAGE_BASE + 0x1000;
    let mut high_pie = b().seg(PT_LOAD, PF_X, 0x1000, high, 4, 4);
    high_pie.entry = high;
    assert_eq!(parse(high_pie.build()), ElfError::OutsideUserSpace, "PIE linked above the image base");
    let too_many = (0..17).fold(b(), |b, i| b.seg(PT_LOAD, PF_X, 0x1000, 0x1000 + i * 0x1000, 4, 4));
    assert_eq!(parse(too_many.build()), ElfError::TooManySegments);
}

#[test]
fn refuses_unsupported_or_stray_relocations() {
    assert_eq!(ElfImage::parse(&pie_with(1, 0x2008)).unwrap_err(), ElfError::UnsupportedRelocationType(1));
    assert_eq!(ElfImage::parse(&pie_with(7, 0x2008)).unwrap_err(), ElfError::UnsupportedRelocationType(7));
    assert_eq!(
        ElfImage::parse(&pie_with(R_X86_64_RELATIVE, 0x9000)).unwrap_err(),
        ElfError::RelocationOutOfImage(0x9000)
    );
    assert_eq!(
        ElfImage::parse(&pie_with(R_X86_64_RELATIVE, 0x27fc)).unwrap_err(),
        ElfError::RelocationOutOfImage(0x27fc),
        "a relocation straddling the end of its segment"
    );
}

#[test]
fn a_fixed_address_executable_loads_where_it_says() {
    let file = {
        let mut b = Builder::new().seg(PT_LOAD, PF_X | 4, 0x1000, 0x50_0000, 4, 4).body(&[0xf4; 4]);
        b.kind = ET_EXEC;
        b.entry = 0x50_0000;
        b.build()
    };
    let img = ElfImage::parse(&file).unwrap();
    let mut space = FakeSpace::default();
    assert_eq!(load(&img, &mut space).unwrap(), 0x50_0000);
    assert!(space.pages.contains_key(&0x50_0000));
}

/// Property: random byte mutations of a valid image never panic the parser, and whatever
/// it accepts loads inside the span it reported.
#[test]
fn mutated_images_never_panic() {
    let base = pie_with(R_X86_64_RELATIVE, 0x2008);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        let mut v = base.clone();
        for _ in 0..1 + seed % 4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed >> 8) as usize % v.len();
            v[at] = seed as u8;
        }
        if let Ok(img) = ElfImage::parse(&v) {
            let mut space = FakeSpace::default();
            load(&img, &mut space).expect("a validated image loads");
            let (lo, hi) = img.span();
            let bias = img.load_bias();
            assert!(space.pages.keys().all(|&p| p >= lo + bias && p < hi + bias));
        }
    }
}
