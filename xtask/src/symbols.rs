//! Symbolizing addresses in the guest's fault reports.
//!
//! The kernel prints raw addresses: `rip=0x...` for its own faults, `user rip 0x...` and a
//! `user backtrace:` for a user program's. The runner has the ELF files, so it adds what a
//! person wants: the function and `file:line` from the ELF's DWARF (through `addr2line`),
//! naming the function the code was inlined from when it was (a release build with LTO
//! inlines freely), with the kernel's symbol table as the fallback; for user programs the
//! ELF is found by program name in the boot image that was booted.

use object::{Object, ObjectSymbol, SymbolKind};
use std::path::Path;

pub struct Symbols {
    /// (start, size, demangled name), sorted by start.
    funcs: Vec<(u64, u64, String)>,
    /// The ELF's DWARF, when it has some.
    dwarf: Option<addr2line::Loader>,
}

impl Symbols {
    pub fn load(elf: &Path) -> Result<Symbols, String> {
        let data = std::fs::read(elf).map_err(|e| format!("{}: {e}", elf.display()))?;
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", elf.display()))?;
        let mut funcs: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                Some((s.address(), s.size(), format!("{:#}", rustc_demangle::demangle(name))))
            })
            .collect();
        funcs.sort_by_key(|f| f.0);
        Ok(Symbols { funcs, dwarf: addr2line::Loader::new(elf).ok() })
    }

    /// The function containing `addr`, as `name+0xoff`.
    pub fn lookup(&self, addr: u64) -> Option<String> {
        let i = self.funcs.partition_point(|f| f.0 <= addr).checked_sub(1)?;
        let (start, size, name) = &self.funcs[i];
        let off = addr - start;
        (off < (*size).max(1)).then(|| format!("{name}+{off:#x}"))
    }

    /// For a fault-report line with `rip=0x...`, a line naming the function: from the
    /// DWARF the innermost function of ours (not the standard library's) with its
    /// `file:line`, the functions it was inlined into, the library function the
    /// instruction came from if any, and the symbol
    /// (`rip is in f (src/a.rs:9), inlined into g; at core::ptr::read (...); in g+0x4c`);
    /// without DWARF the symbol alone.
    pub fn annotate(&self, line: &str) -> Option<String> {
        let hex = line.split_once("rip=0x")?.1;
        let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
        let addr = u64::from_str_radix(&hex, 16).ok()?;
        let symbol = self.lookup(addr);
        let frames = self.dwarf.as_ref().map(|d| frames(d, addr)).unwrap_or_default();
        if frames.is_empty() {
            return Some(format!("  rip is in {}", symbol?));
        }
        let ours = frames.iter().position(|f| !f.library).unwrap_or(0);
        let mut out = format!("  rip is in {}", frames[ours].describe());
        let outer: Vec<&str> = frames[ours + 1..].iter().map(|f| f.function.as_str()).collect();
        if !outer.is_empty() {
            out += &format!(", inlined into {}", outer.join(" in "));
        }
        if ours > 0 {
            out += &format!("; at {}", frames[0].describe());
        }
        if let Some(symbol) = symbol {
            out += &format!("; in {symbol}");
        }
        Some(out)
    }
}

/// One function an address is in, from the DWARF.
struct Frame {
    function: String,
    /// `file:line`, the file relative to the workspace or the standard library.
    at: Option<String>,
    /// The standard library's (`core`, `alloc`, `std`), inlined into our code.
    library: bool,
}

impl Frame {
    /// `function (file:line)`.
    fn describe(&self) -> String {
        match &self.at {
            Some(at) => format!("{} ({at})", self.function),
            None => self.function.clone(),
        }
    }
}

/// Every function `addr` is in, innermost (inlined) first, from the DWARF; empty when it
/// has nothing for `addr`.
fn frames(loader: &addr2line::Loader, addr: u64) -> Vec<Frame> {
    let mut found = Vec::new();
    if let Ok(mut frames) = loader.find_frames(addr) {
        while let Ok(Some(f)) = frames.next() {
            let function = f
                .function
                .as_ref()
                .and_then(|n| n.demangle().ok().map(|d| d.to_string()))
                .unwrap_or_else(|| "?".into());
            let file = f.location.as_ref().map(|l| short_path(l.file.unwrap_or("?")));
            let library = file.as_deref().is_some_and(|p| ["core/", "alloc/", "std/"].iter().any(|l| p.starts_with(l)));
            let at = f.location.as_ref().zip(file).map(|(l, file)| match l.line {
                Some(line) => format!("{file}:{line}"),
                None => file,
            });
            found.push(Frame { function, at, library });
        }
    }
    found
}

/// The user programs of one boot image, symbolized on demand.
pub struct UserSymbols {
    image: std::path::PathBuf,
    /// Program name -> its loader (None: could not be loaded) and its load bias.
    loaded: std::collections::HashMap<String, Option<(addr2line::Loader, u64)>>,
    /// The program of the last user-fault line: the backtrace lines that follow are its.
    current: Option<String>,
}

impl UserSymbols {
    pub fn new(image: &Path) -> UserSymbols {
        UserSymbols { image: image.to_path_buf(), loaded: Default::default(), current: None }
    }

    /// Loads program `name` from the image: writes its ELF out (the loader reads files)
    /// and computes where the kernel loaded it, exactly as the kernel's loader does.
    fn load(&self, name: &str) -> Option<(addr2line::Loader, u64)> {
        let data = std::fs::read(&self.image).ok()?;
        let image = moroso_kernel::loader::image::BootImage::parse(&data).ok()?;
        let program = image.find(name)?;
        let bias = moroso_kernel::loader::elf::ElfImage::parse(program.elf).ok()?.load_bias();
        let dir = self.image.with_extension("symbols");
        std::fs::create_dir_all(&dir).ok()?;
        let path = dir.join(name);
        std::fs::write(&path, program.elf).ok()?;
        Some((addr2line::Loader::new(&path).ok()?, bias))
    }

    /// `function (file:line)` for address `addr` of program `name`; when the code was
    /// inlined, the inlined functions follow, innermost last
    /// (`f (src/main.rs:9), inlined: core::ptr::read_volatile (core/src/ptr/mod.rs:2091)`).
    pub fn describe(&mut self, name: &str, addr: u64) -> Option<String> {
        if !self.loaded.contains_key(name) {
            let l = self.load(name);
            self.loaded.insert(name.to_string(), l);
        }
        let (loader, bias) = self.loaded.get(name)?.as_ref()?;
        let probe = addr.checked_sub(*bias)?;
        // Innermost first, as the DWARF gives them; the last is the function the code
        // really is in, which is what a person looks for first.
        let mut frames_found: Vec<String> = frames(loader, probe).iter().map(Frame::describe).collect();
        let Some(outer) = frames_found.pop() else {
            return loader.find_symbol(probe).map(|s| format!("{:#}", rustc_demangle::demangle(s)));
        };
        if frames_found.is_empty() {
            return Some(outer);
        }
        frames_found.reverse();
        Some(format!("{outer}, inlined: {}", frames_found.join(" in ")))
    }

    /// Lines to add after a console line of a user fault report.
    pub fn annotate(&mut self, line: &str) -> Vec<String> {
        if let Some((name, rip)) = parse_user_fault(line) {
            self.current = Some(name.clone());
            return self.describe(&name, rip).map(|d| format!("  at {d}")).into_iter().collect();
        }
        let (Some(rest), Some(name)) = (line.trim_start().strip_prefix("user backtrace:"), self.current.clone()) else {
            return Vec::new();
        };
        rest.split_whitespace()
            .filter_map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).ok())
            .enumerate()
            // A return address points after the call: look up the call itself.
            .map(|(i, ret)| match self.describe(&name, ret - 1) {
                Some(d) => format!("    #{i} {ret:#x} in {d}"),
                None => format!("    #{i} {ret:#x}"),
            })
            .collect()
    }
}

/// A source path as a person wants it: relative to the workspace for our files, and
/// `core/src/...` for the standard library's (not `/rustc/<hash>/library/core/...`).
fn short_path(file: &str) -> String {
    let root = crate::build::root();
    if let Ok(rel) = Path::new(file).strip_prefix(&root) {
        return rel.display().to_string();
    }
    match file.split_once("/library/") {
        Some((prefix, rest)) if prefix.starts_with("/rustc/") => rest.to_string(),
        _ => file.to_string(),
    }
}

/// `task N (NAME) thread T killed: ... at user rip 0xADDR, ...` -> (NAME, ADDR).
fn parse_user_fault(line: &str) -> Option<(String, u64)> {
    let rest = line.trim_start().strip_prefix("task ")?;
    if !rest.contains(" killed: ") {
        return None;
    }
    let name = rest.split_once(" (")?.1.split_once(") thread ")?.0.to_string();
    let hex = rest.split_once("at user rip 0x")?.1;
    let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    Some((name, u64::from_str_radix(&hex, 16).ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_fault_lines_name_the_program_and_rip() {
        let l = "task 3 (nullderef) thread 258 killed: #PF page fault at user rip 0x401740, error code 0x4";
        assert_eq!(parse_user_fault(l), Some(("nullderef".into(), 0x401740)));
        assert_eq!(parse_user_fault("task 3 (x) ended"), None);
        let mut u = UserSymbols::new(Path::new("/nonexistent.img"));
        assert!(u.annotate(l).is_empty(), "no image: nothing to add, no panic");
        assert!(u.annotate("  user backtrace: 0x401000").len() == 1, "an unknown frame is still listed");
    }

    use super::*;

    #[test]
    fn lookup_finds_the_enclosing_function_only() {
        let s = Symbols { funcs: vec![(0x1000, 0x20, "a".into()), (0x1040, 0x10, "b".into())], dwarf: None };
        assert_eq!(s.lookup(0x1000).as_deref(), Some("a+0x0"));
        assert_eq!(s.lookup(0x101f).as_deref(), Some("a+0x1f"));
        assert_eq!(s.lookup(0x1020), None, "gap between functions");
        assert_eq!(s.lookup(0x104f).as_deref(), Some("b+0xf"));
        assert_eq!(s.lookup(0xfff), None);
        assert_eq!(s.annotate("  rip=0x0000000000001044 cs=0x8").as_deref(), Some("  rip is in b+0x4"));
        assert_eq!(s.annotate("no address here"), None);
    }

    #[test]
    fn dwarf_names_the_function_and_line() {
        // This test binary has DWARF: a function of ours is named with its file and line.
        let exe = std::env::current_exe().expect("the test binary");
        let s = Symbols::load(&exe).expect("its symbols");
        let (start, _, name) =
            s.funcs.iter().find(|f| f.2.ends_with("symbols::short_path")).expect("short_path").clone();
        let line = s.annotate(&format!("  rip={start:#018x} cs=0x8")).expect("annotated");
        assert!(line.starts_with(&format!("  rip is in {name} (xtask/src/symbols.rs:")), "{line}");
        assert!(line.ends_with(&format!("; in {name}+0x0")), "{line}");
    }
}
