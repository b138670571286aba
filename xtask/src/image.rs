//! Writing the boot image (`abi::image`) that QEMU hands the kernel as `-initrd`.

use abi::image::{Boot, Grants, ImageEntry, ImageHeader, Limits, MAGIC, MAX_PROGRAMS, NAME_MAX};
use moroso_kernel::loader::elf::{ElfError, ElfImage};
use std::path::{Path, PathBuf};
use zerocopy::IntoBytes;

/// One program to pack: its name in the image and its ELF file.
pub struct Program {
    pub name: String,
    pub path: PathBuf,
    /// Device capabilities its tasks get.
    pub grants: Grants,
    /// Its tasks' shares of the kernel's tables.
    pub limits: Limits,
    /// What init does with it.
    pub boot: Boot,
}

/// Checks that `path` is an ELF executable the kernel will load; a one-line reason if not.
pub fn validate(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    ElfImage::parse(&bytes).map_err(|e| match e {
        // What the linker leaves when nothing defines `_start`: a program without `entry!`.
        ElfError::EntryNotExecutable(0) => format!(
            "{}: the program has no entry point: add `libsys::entry!(main);` next to `fn main() -> i32`",
            path.display()
        ),
        e => format!("{}: {e}", path.display()),
    })?;
    Ok(bytes)
}

/// Packs `programs` (program 0 starts at boot) into `out`.
pub fn pack(programs: &[Program], out: &Path) -> Result<(), String> {
    if programs.is_empty() || programs.len() > MAX_PROGRAMS {
        return Err(format!("a boot image holds 1 to {MAX_PROGRAMS} programs, not {}", programs.len()));
    }
    let header = ImageHeader { magic: MAGIC, count: programs.len() as u32, reserved: 0 };
    let mut table = header.as_bytes().to_vec();
    let mut blobs = Vec::new();
    let mut offset = (size_of::<ImageHeader>() + programs.len() * size_of::<ImageEntry>()) as u64;
    for p in programs {
        if p.name.is_empty() || p.name.len() > NAME_MAX {
            return Err(format!("program name {:?} must be 1 to {NAME_MAX} bytes", p.name));
        }
        if !p.limits.is_valid() {
            return Err(format!("program {:?}: the kernel cannot honour limits {:?}", p.name, p.limits));
        }
        let bytes = validate(&p.path)?;
        let mut e = ImageEntry {
            name: [0; NAME_MAX],
            offset,
            size: bytes.len() as u64,
            grants: p.grants,
            limits: p.limits,
            boot: p.boot,
        };
        e.name[..p.name.len()].copy_from_slice(p.name.as_bytes());
        table.extend_from_slice(e.as_bytes());
        blobs.extend_from_slice(&bytes);
        let pad = bytes.len().next_multiple_of(8) - bytes.len();
        blobs.extend(std::iter::repeat_n(0, pad));
        offset += (bytes.len() + pad) as u64;
    }
    table.extend_from_slice(&blobs);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(out, table).map_err(|e| format!("{}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use moroso_kernel::loader::image::BootImage;

    /// The smallest executable the kernel accepts: one read-execute segment holding the
    /// headers and a `jmp .` at the entry point.
    fn tiny_elf() -> Vec<u8> {
        let mut f = vec![0u8; 0x80];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little-endian
        f[6] = 1;
        f[16] = 3; // ET_DYN
        f[18] = 62; // x86-64
        f[24..32].copy_from_slice(&0x78u64.to_le_bytes()); // entry
        f[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        f[54] = 56; // phentsize
        f[56] = 1; // phnum
        f[64] = 1; // PT_LOAD
        f[68] = 5; // R+X
        f[96..104].copy_from_slice(&0x80u64.to_le_bytes()); // filesz
        f[104..112].copy_from_slice(&0x80u64.to_le_bytes()); // memsz
        f[0x78..0x7a].copy_from_slice(&[0xeb, 0xfe]);
        f
    }

    #[test]
    fn packed_images_read_back_in_the_kernel() {
        let dir = std::env::temp_dir().join(format!("moroso-image-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let elf = dir.join("tiny");
        std::fs::write(&elf, tiny_elf()).unwrap();
        validate(&elf).expect("the tiny ELF is loadable");
        let small = Limits { threads: 2, tasks: 1, async_per_mailbox: 1, ..Limits::DEFAULT };
        let programs = [
            Program {
                name: "first".into(),
                path: elf.clone(),
                grants: Grants::NONE,
                limits: Limits::DEFAULT,
                boot: Boot::NONE,
            },
            Program { name: "second".into(), path: elf.clone(), grants: Grants::COM1, limits: small, boot: Boot::NONE },
        ];
        let out = dir.join("boot.img");
        pack(&programs, &out).unwrap();
        let data = std::fs::read(&out).unwrap();
        let img = BootImage::parse(&data).unwrap();
        let names: Vec<_> = img.programs().map(|p| p.name).collect();
        assert_eq!(names, ["first", "second"]);
        assert_eq!(img.find("second").unwrap().elf, tiny_elf());
        assert_eq!(img.find("second").unwrap().grants, Grants::COM1);
        assert_eq!(img.find("first").unwrap().grants, Grants::NONE);
        assert_eq!(img.find("second").unwrap().limits, small);
        assert_eq!(img.find("first").unwrap().limits, Limits::DEFAULT);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_non_elf_and_bad_names() {
        let dir = std::env::temp_dir().join(format!("moroso-image-test2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("notes.txt");
        std::fs::write(&text, "not a program").unwrap();
        let err = validate(&text).unwrap_err();
        assert!(err.contains("not an ELF file"), "{err}");
        let err = validate(&dir.join("missing")).unwrap_err();
        assert!(err.contains("missing"), "{err}");
        let long = Program {
            name: "x".repeat(NAME_MAX + 1),
            path: text.clone(),
            grants: Grants::NONE,
            limits: Limits::DEFAULT,
            boot: Boot::NONE,
        };
        assert!(pack(&[long], &dir.join("o.img")).unwrap_err().contains("must be 1 to"));
        let no_thread = Limits { threads: 0, ..Limits::DEFAULT };
        let bad =
            Program { name: "p".into(), path: text.clone(), grants: Grants::NONE, limits: no_thread, boot: Boot::NONE };
        assert!(pack(&[bad], &dir.join("o.img")).unwrap_err().contains("cannot honour"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
