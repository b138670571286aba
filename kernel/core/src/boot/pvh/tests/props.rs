//! Property tests of the PVH hand-off parser (proptest, with shrinking): whatever the
//! start-info block, its tables and the command line say, parsing returns an error or a
//! bounded `BootInfo`, never a panic or a read outside memory.

use super::*;
use proptest::prelude::*;
use proptest::sample::Index;

const CASES: u32 = 100_000;

/// A field of the start-info block (offset, width) and the values that tend to hit limits.
const FIELDS: [(usize, usize); 8] =
    [(0x100, 4), (0x104, 4), (0x10c, 4), (0x110, 8), (0x118, 8), (0x128, 8), (0x130, 4), (0x134, 4)];

fn value() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(0x200),
        Just(0xff8),
        Just(0x1000),
        Just(u64::MAX),
        Just(u32::MAX as u64),
        any::<u64>()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn hostile_handoffs_never_panic(
        cmdline in prop::collection::vec(any::<u8>(), 0..300),
        fields in prop::collection::vec((any::<Index>(), value()), 0..4),
        bytes in prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        start in prop_oneof![Just(0x100u64), 0u64..0x1100, any::<u64>()],
    ) {
        let mut mem = qemu_like(b"\0");
        // The command line goes where the block says it is; it may be unterminated.
        let n = cmdline.len().min(mem.0.len() - 0x500);
        mem.0[0x500..0x500 + n].copy_from_slice(&cmdline[..n]);
        for (i, v) in &fields {
            let (at, width) = FIELDS[i.index(FIELDS.len())];
            mem.0[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
        }
        for (i, b) in &bytes {
            let at = i.index(mem.0.len());
            mem.0[at] = *b;
        }
        if let Ok(info) = BootInfo::parse(&mem, start) {
            prop_assert!(info.regions().len() <= MAX_REGIONS);
            prop_assert!(info.modules().len() <= MAX_MODULES);
            prop_assert!(info.cmdline().len() <= MAX_CMDLINE);
            let _ = (info.has_flag("selftest"), info.option("arg"));
        }
    }
}
