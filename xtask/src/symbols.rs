//! Symbolizing kernel addresses: fault reports print raw `rip=0x...` values; the runner
//! adds the function they fall in, from the kernel ELF's symbol table.

use object::{Object, ObjectSymbol, SymbolKind};
use std::path::Path;

pub struct Symbols {
    /// (start, size, demangled name), sorted by start.
    funcs: Vec<(u64, u64, String)>,
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
        Ok(Symbols { funcs })
    }

    /// The function containing `addr`, as `name+0xoff`.
    pub fn lookup(&self, addr: u64) -> Option<String> {
        let i = self.funcs.partition_point(|f| f.0 <= addr).checked_sub(1)?;
        let (start, size, name) = &self.funcs[i];
        let off = addr - start;
        (off < (*size).max(1)).then(|| format!("{name}+{off:#x}"))
    }

    /// For a fault-report line with `rip=0x...`, a line naming the function.
    pub fn annotate(&self, line: &str) -> Option<String> {
        let hex = line.split_once("rip=0x")?.1;
        let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
        let addr = u64::from_str_radix(&hex, 16).ok()?;
        Some(format!("  rip is in {}", self.lookup(addr)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_enclosing_function_only() {
        let s = Symbols { funcs: vec![(0x1000, 0x20, "a".into()), (0x1040, 0x10, "b".into())] };
        assert_eq!(s.lookup(0x1000).as_deref(), Some("a+0x0"));
        assert_eq!(s.lookup(0x101f).as_deref(), Some("a+0x1f"));
        assert_eq!(s.lookup(0x1020), None, "gap between functions");
        assert_eq!(s.lookup(0x104f).as_deref(), Some("b+0xf"));
        assert_eq!(s.lookup(0xfff), None);
        assert_eq!(s.annotate("  rip=0x0000000000001044 cs=0x8").as_deref(), Some("  rip is in b+0x4"));
        assert_eq!(s.annotate("no address here"), None);
    }
}
