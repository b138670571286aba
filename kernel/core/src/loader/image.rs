//! Reading the boot image (`abi::image`): the table of programs QEMU hands over as
//! `-initrd`. Every entry is checked against the image's bounds when the image is opened,
//! so a lookup never reads outside it.

use abi::image::{Boot, Grants, ImageEntry, ImageHeader, Limits, MAGIC, MAX_PROGRAMS};
use core::fmt;
use zerocopy::FromBytes;

/// A validated boot image.
#[derive(Clone, Copy, Debug)]
pub struct BootImage<'a> {
    data: &'a [u8],
    entries: &'a [ImageEntry],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    TooShort,
    BadMagic,
    TooManyPrograms(u32),
    EntryOutOfBounds(usize),
    BadName(usize),
    BadLimits(usize),
    BadBoot(usize),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => write!(f, "boot image too short"),
            Self::BadMagic => write!(f, "boot image has the wrong magic (not made by this xtask?)"),
            Self::TooManyPrograms(n) => write!(f, "boot image lists {n} programs (limit {MAX_PROGRAMS})"),
            Self::EntryOutOfBounds(i) => write!(f, "boot image entry {i} points outside the image"),
            Self::BadName(i) => write!(f, "boot image entry {i} has an invalid name"),
            Self::BadLimits(i) => write!(f, "boot image entry {i} has limits the kernel cannot honour"),
            Self::BadBoot(i) => write!(f, "boot image entry {i} has an unknown boot policy"),
        }
    }
}

/// One program in the image.
#[derive(Clone, Copy, Debug)]
pub struct Program<'a> {
    pub name: &'a str,
    pub elf: &'a [u8],
    /// The device capabilities its tasks get.
    pub grants: Grants,
    /// Its tasks' shares of the kernel's tables.
    pub limits: Limits,
    /// What init does with it (start, await, restart).
    pub boot: Boot,
}

impl<'a> BootImage<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, ImageError> {
        let (header, rest) = ImageHeader::ref_from_prefix(data).map_err(|_| ImageError::TooShort)?;
        if header.magic != MAGIC {
            return Err(ImageError::BadMagic);
        }
        if header.count as usize > MAX_PROGRAMS {
            return Err(ImageError::TooManyPrograms(header.count));
        }
        let (entries, _) = <[ImageEntry]>::ref_from_prefix_with_elems(rest, header.count as usize)
            .map_err(|_| ImageError::TooShort)?;
        for (i, e) in entries.iter().enumerate() {
            let end = e.offset.checked_add(e.size);
            if end.is_none_or(|end| end > data.len() as u64) {
                return Err(ImageError::EntryOutOfBounds(i));
            }
            if e.name().is_none_or(str::is_empty) {
                return Err(ImageError::BadName(i));
            }
            if !e.limits.is_valid() {
                return Err(ImageError::BadLimits(i));
            }
            if !e.boot.is_valid() {
                return Err(ImageError::BadBoot(i));
            }
        }
        Ok(BootImage { data, entries })
    }

    /// The programs, in image order (program 0 starts at boot).
    pub fn programs(&self) -> impl Iterator<Item = Program<'a>> + '_ {
        self.entries.iter().map(|e| Program {
            name: e.name().unwrap_or(""),
            elf: &self.data[e.offset as usize..(e.offset + e.size) as usize],
            grants: e.grants,
            limits: e.limits,
            boot: e.boot,
        })
    }

    pub fn find(&self, name: &str) -> Option<Program<'a>> {
        self.programs().find(|p| p.name == name)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod props;
    use zerocopy::IntoBytes;

    /// Builds an image the way the xtask does.
    pub fn build(programs: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = ImageHeader { magic: MAGIC, count: programs.len() as u32, reserved: 0 }.as_bytes().to_vec();
        let mut offset = (size_of::<ImageHeader>() + programs.len() * size_of::<ImageEntry>()) as u64;
        let mut blobs = Vec::new();
        for (name, bytes) in programs {
            let mut e = ImageEntry {
                name: [0; abi::image::NAME_MAX],
                offset,
                size: bytes.len() as u64,
                grants: Grants { irqs: 1 << 4, ..Grants::NONE },
                limits: Limits { threads: 3, ..Limits::DEFAULT },
                boot: Boot { start: 1, restart: 1, restart_max: 2, ..Boot::NONE },
            };
            e.name[..name.len()].copy_from_slice(name.as_bytes());
            out.extend_from_slice(e.as_bytes());
            blobs.extend_from_slice(bytes);
            offset += bytes.len() as u64;
        }
        out.extend_from_slice(&blobs);
        out
    }

    #[test]
    fn finds_programs_by_name() {
        let data = build(&[("init", b"ELF-A"), ("echo", b"ELF-BB")]);
        let img = BootImage::parse(&data).unwrap();
        assert_eq!(img.len(), 2);
        assert_eq!(img.find("echo").unwrap().elf, b"ELF-BB");
        assert!(img.find("echo").unwrap().grants.has_irq(4), "grants read back");
        assert_eq!(img.find("echo").unwrap().limits, Limits { threads: 3, ..Limits::DEFAULT }, "limits read back");
        assert_eq!(img.programs().next().unwrap().name, "init");
        assert_eq!(img.find("echo").unwrap().boot.restart_max, 2, "boot policy read back");
        assert!(img.find("ech").is_none());
    }

    #[test]
    fn refuses_bad_images() {
        assert_eq!(BootImage::parse(b"short").unwrap_err(), ImageError::TooShort);
        let mut data = build(&[("init", b"x")]);
        data[0] = b'X';
        assert_eq!(BootImage::parse(&data).unwrap_err(), ImageError::BadMagic);
        let mut data = build(&[("init", b"xyz")]);
        data.truncate(data.len() - 1);
        assert_eq!(BootImage::parse(&data).unwrap_err(), ImageError::EntryOutOfBounds(0));
        let mut data = build(&[("init", b"x")]);
        data[8] = 200;
        assert_eq!(BootImage::parse(&data).unwrap_err(), ImageError::TooManyPrograms(200));
        let mut data = build(&[("init", b"x")]);
        data[16] = 0;
        assert_eq!(BootImage::parse(&data).unwrap_err(), ImageError::BadName(0));
        let mut data = build(&[("init", b"x")]);
        // The first entry's `offset` field follows its 32-byte name.
        data[16 + 32..16 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(BootImage::parse(&data).unwrap_err(), ImageError::EntryOutOfBounds(0));
    }

    #[test]
    fn refuses_limits_the_kernel_cannot_honour() {
        // The first entry's limits follow its name, offset, size and grants.
        let at = size_of::<ImageHeader>() + 32 + 8 + 8 + size_of::<Grants>();
        let set = |field: usize, value: u16| {
            let mut data = build(&[("init", b"x")]);
            data[at + field..at + field + 2].copy_from_slice(&value.to_le_bytes());
            BootImage::parse(&data).map(|i| i.find("init").unwrap().limits)
        };
        assert_eq!(set(0, 0).unwrap_err(), ImageError::BadLimits(0), "no first thread");
        let too_many = abi::ipc::ASYNC_QUEUE_MAX as u16 + 1;
        assert_eq!(set(4, too_many).unwrap_err(), ImageError::BadLimits(0), "share above the mailbox bound");
        assert_eq!(set(6, 1).unwrap_err(), ImageError::BadLimits(0), "reserved field set");
        assert_eq!(set(2, 0).map(|l| l.tasks), Ok(0), "a program may be allowed no children");
        // The boot policy follows the limits.
        let at = at + size_of::<Limits>();
        let mut data = build(&[("init", b"x")]);
        data[at + 2] = 9; // restart: no such policy
        assert_eq!(BootImage::parse(&data).unwrap_err(), ImageError::BadBoot(0));
        assert_eq!(set(4, 0).map(|l| l.async_per_mailbox), Ok(0), "nor any buffered message to others");
    }
}
