//! Property tests of the ELF loader (proptest, with shrinking): no input panics the parser;
//! whatever it accepts loads, inside the span it reported, without mapping a page twice.

use super::*;
use proptest::prelude::*;
use proptest::sample::Index;

/// Cases per property: enough to reach deep into the headers' combinations in seconds.
const CASES: u32 = 100_000;

/// One change to a file: a byte anywhere, a byte in the headers, or a whole word in the
/// headers set to a value that tends to hit limits.
#[derive(Clone, Debug)]
enum Mutation {
    Byte(Index, u8),
    HeaderByte(Index, u8),
    HeaderWord(Index, u64),
}

/// The bytes that describe the file: the ELF header and its four program headers.
const HEADERS: usize = 64 + 4 * 56;

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(0x1000),
        Just(0x8000_0000_0000),
        Just(i64::MAX as u64),
        any::<u64>(),
    ];
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Byte(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::HeaderByte(i, b)),
        (any::<Index>(), word).prop_map(|(i, w)| Mutation::HeaderWord(i, w)),
    ]
}

fn apply(file: &mut [u8], m: &Mutation) {
    match m {
        Mutation::Byte(i, b) => file[i.index(file.len())] = *b,
        Mutation::HeaderByte(i, b) => file[i.index(HEADERS)] = *b,
        Mutation::HeaderWord(i, w) => {
            let at = i.index(HEADERS / 8) * 8;
            file[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
    }
}

fn checks_out(file: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(img) = ElfImage::parse(file) {
        let mut space = FakeSpace::default();
        prop_assert!(load(&img, &mut space).is_ok(), "a validated image must load");
        let (lo, hi) = img.span();
        let bias = img.load_bias();
        prop_assert!(space.pages.keys().all(|&p| p >= lo + bias && p < hi + bias), "a page outside the span");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Mutations of a valid PIE (cut short, maybe) never panic, and what is accepted loads.
    #[test]
    fn mutated_pies_never_panic(
        mutations in prop::collection::vec(mutation(), 1..6),
        cut in prop::option::weighted(0.1, any::<Index>()),
    ) {
        let mut file = pie_with(R_X86_64_RELATIVE, 0x2008);
        for m in &mutations {
            apply(&mut file, m);
        }
        if let Some(cut) = cut {
            file.truncate(cut.index(file.len()));
        }
        checks_out(&file)?;
    }

    /// Arbitrary bytes behind a valid identification never panic either.
    #[test]
    fn arbitrary_bodies_never_panic(tail in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut file = b"\x7fELF\x02\x01\x01".to_vec();
        file.extend_from_slice(&tail);
        checks_out(&file)?;
    }
}

/// Shrinking works on these strategies: a property that fails once a file has two
/// mutations is reduced to exactly two, however many the failing case had.
#[test]
fn failures_shrink_to_a_minimal_case() {
    use proptest::test_runner::{Config, TestError, TestRunner};
    let mut runner = TestRunner::new(Config { cases: 1000, failure_persistence: None, ..Config::default() });
    let result = runner.run(&prop::collection::vec(mutation(), 1..6), |ms| {
        prop_assert!(ms.len() < 2);
        Ok(())
    });
    match result {
        Err(TestError::Fail(_, minimal)) => assert_eq!(minimal.len(), 2, "{minimal:?}"),
        other => panic!("the property should have failed: {other:?}"),
    }
}
