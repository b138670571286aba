//! Property tests (proptest, with shrinking) of the decoders `#[derive(Message)]`
//! generates, on the shapes it accepts: arbitrary bytes decode to an error or a value,
//! never a panic; what decodes re-encodes to the same bytes; every value round-trips.

use libsys::abi::message::DecodeError;
use libsys::Message;
use proptest::prelude::*;

const CASES: u32 = 100_000;

#[derive(Message, Debug, PartialEq, Clone, Copy)]
#[repr(u8)]
enum Color {
    Red = 1,
    Green = 2,
    Blue = 7,
}

#[derive(Message, Debug, PartialEq, Clone, Copy)]
#[repr(u16)]
enum Op {
    Read,
    Write,
}

#[derive(Message, Debug, PartialEq, Clone)]
#[repr(C)]
struct Request {
    id: u64,
    points: [u32; 2],
    op: Op,
    color: Color,
    urgent: bool,
    flags: u8,
    data: [u8; 3],
}

#[derive(Message, Debug, PartialEq, Clone)]
#[repr(C)]
struct Nested {
    status: i32,
    ok: bool,
    colors: [Color; 3],
    ops: [Op; 2],
}

fn encode<M: Message>(m: &M) -> Vec<u8> {
    let mut v = vec![0u8; M::SIZE];
    m.encode_into(&mut v);
    v
}

/// Decodes `bytes` as `M`: an error that stays inside the input, or a value whose
/// encoding is exactly the bytes it came from.
fn decodes_canonically<M: Message + std::fmt::Debug>(bytes: &[u8]) -> Result<bool, TestCaseError> {
    match M::decode(bytes) {
        Ok(m) => {
            prop_assert!(bytes.len() >= M::SIZE);
            prop_assert_eq!(encode(&m), &bytes[..M::SIZE], "not canonical: {:?}", m);
            Ok(true)
        }
        Err(DecodeError::TooShort { need, got }) => {
            prop_assert_eq!((need, got), (M::SIZE, bytes.len()));
            Ok(false)
        }
        Err(DecodeError::Invalid { offset, .. }) => {
            prop_assert!(offset < bytes.len().min(M::SIZE), "offset {} outside the message", offset);
            Ok(false)
        }
    }
}

fn color() -> impl Strategy<Value = Color> {
    prop_oneof![Just(Color::Red), Just(Color::Green), Just(Color::Blue)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::Read), Just(Op::Write)]
}

/// Bytes near the shape of a message: random, but with the tag bytes often valid, so the
/// success path is covered as well as every way to fail.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u8>(), 0..40), prop::collection::vec((0usize..40, 0u8..8), 0..6)).prop_map(
        |(mut bytes, small)| {
            for (at, v) in small {
                if at < bytes.len() {
                    bytes[at] = v;
                }
            }
            bytes
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in message_bytes()) {
        decodes_canonically::<Request>(&bytes)?;
        decodes_canonically::<Nested>(&bytes)?;
        decodes_canonically::<Color>(&bytes)?;
        decodes_canonically::<Op>(&bytes)?;
        decodes_canonically::<bool>(&bytes)?;
        decodes_canonically::<[Color; 2]>(&bytes)?;
    }

    #[test]
    fn every_value_round_trips(
        id in any::<u64>(),
        points in any::<[u32; 2]>(),
        op in op(),
        color in color(),
        urgent in any::<bool>(),
        flags in any::<u8>(),
        data in any::<[u8; 3]>(),
        status in any::<i32>(),
        colors in [color(), color(), color()],
        ops in [op(), op()],
    ) {
        let r = Request { id, points, op, color, urgent, flags, data };
        prop_assert_eq!(Request::decode(&encode(&r)), Ok(r));
        let n = Nested { status, ok: urgent, colors, ops };
        prop_assert_eq!(Nested::decode(&encode(&n)), Ok(n));
    }
}
