//! Property tests of the boot-image reader (proptest, with shrinking): no input panics it,
//! and every program it accepts lies inside the image and is found by its name.

use super::*;
use proptest::prelude::*;
use proptest::sample::Index;

const CASES: u32 = 100_000;

/// Programs for a well-formed image: printable names, small bodies.
fn programs() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec(("[a-z][a-z0-9_-]{0,31}", prop::collection::vec(any::<u8>(), 0..24)), 0..5)
}

fn checks_out(data: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(img) = BootImage::parse(data) {
        prop_assert!(img.len() <= abi::image::MAX_PROGRAMS);
        let range = data.as_ptr_range();
        for p in img.programs() {
            let elf = p.elf.as_ptr_range();
            prop_assert!(p.elf.is_empty() || (elf.start >= range.start && elf.end <= range.end));
            prop_assert!(!p.name.is_empty() && p.name.len() <= abi::image::NAME_MAX);
            prop_assert!(img.find(p.name).is_some());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Well-formed images, then changed byte by byte or word by word and maybe cut short.
    #[test]
    fn mutated_images_never_panic(
        programs in programs(),
        bytes in prop::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        words in prop::collection::vec((any::<Index>(), any::<u64>()), 0..3),
        cut in prop::option::weighted(0.1, any::<Index>()),
    ) {
        let list: Vec<(&str, &[u8])> = programs.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        let mut data = build(&list);
        for (i, b) in &bytes {
            let at = i.index(data.len());
            data[at] = *b;
        }
        for (i, w) in &words {
            if data.len() >= 8 {
                let at = i.index(data.len() / 8) * 8;
                data[at..at + 8].copy_from_slice(&w.to_le_bytes());
            }
        }
        if let Some(cut) = cut {
            data.truncate(cut.index(data.len() + 1));
        }
        checks_out(&data)?;
    }

    /// Arbitrary bytes after a valid magic never panic.
    #[test]
    fn arbitrary_images_never_panic(tail in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut data = abi::image::MAGIC.to_vec();
        data.extend_from_slice(&tail);
        checks_out(&data)?;
    }
}
