//! `#[derive(Message)]` on every shape it accepts: encodings are exact, round trips are
//! lossless, and decoding arbitrary bytes returns an error or a value, never a panic.

use libsys::abi::message::{DecodeError, NoReply};
use libsys::Message;

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
#[message(reply = Reply)]
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
struct Reply {
    status: i32,
    ok: bool,
    pad: [u8; 3],
}

#[derive(Message, Debug, PartialEq)]
#[repr(C)]
struct Tuple(u16, u16);

#[derive(Message, Debug, PartialEq)]
#[repr(C)]
struct Unit;

#[derive(Message, Debug, PartialEq)]
#[repr(C)]
struct Nested {
    head: Reply,
    colors: [Color; 4],
}

#[derive(Message, Debug, PartialEq)]
#[repr(C)]
struct Big {
    bytes: [u8; 4096],
}

fn encode<M: Message>(m: &M) -> Vec<u8> {
    let mut v = vec![0u8; M::SIZE];
    m.encode_into(&mut v);
    v
}

fn request() -> Request {
    Request {
        id: 0x0102_0304_0506_0708,
        points: [1, 2],
        op: Op::Write,
        color: Color::Blue,
        urgent: true,
        flags: 0xaa,
        data: *b"abc",
    }
}

#[test]
fn sizes_are_the_sum_of_the_fields() {
    assert_eq!(Request::SIZE, 8 + 8 + 2 + 1 + 1 + 1 + 3); // id, points, op, color, urgent, flags, data
    assert_eq!(Request::SIZE, core::mem::size_of::<Request>());
    assert_eq!(Reply::SIZE, 8);
    assert_eq!(Tuple::SIZE, 4);
    assert_eq!(Unit::SIZE, 0);
    assert_eq!(Nested::SIZE, 12);
    assert_eq!(Big::SIZE, 4096);
}

#[test]
fn the_encoding_is_the_fields_in_order_little_endian() {
    let bytes = encode(&request());
    assert_eq!(&bytes[..8], &0x0102_0304_0506_0708u64.to_le_bytes());
    assert_eq!(&bytes[8..16], &[1, 0, 0, 0, 2, 0, 0, 0]);
    assert_eq!(&bytes[16..18], &[1, 0], "Op::Write = 1 as u16");
    assert_eq!(bytes[18], 7, "Color::Blue");
    assert_eq!(bytes[19], 1, "urgent");
    assert_eq!(bytes[20], 0xaa);
    assert_eq!(&bytes[21..24], b"abc");
}

#[test]
fn every_shape_round_trips() {
    let r = request();
    assert_eq!(Request::decode(&encode(&r)), Ok(r));
    let p = Reply { status: -5, ok: false, pad: [0; 3] };
    assert_eq!(Reply::decode(&encode(&p)), Ok(p.clone()));
    assert_eq!(Tuple::decode(&encode(&Tuple(1, 65535))), Ok(Tuple(1, 65535)));
    assert_eq!(Unit::decode(&[]), Ok(Unit));
    let n = Nested { head: p, colors: [Color::Red, Color::Green, Color::Blue, Color::Red] };
    assert_eq!(Nested::decode(&encode(&n)), Ok(n));
    let b = Big { bytes: [9; 4096] };
    assert_eq!(Big::decode(&encode(&b)), Ok(b));
    for c in [Color::Red, Color::Green, Color::Blue] {
        assert_eq!(Color::decode(&encode(&c)), Ok(c));
    }
}

#[test]
fn replies_are_paired_at_the_type_level() {
    fn reply_of<M: Message>() -> usize {
        <M::Reply as Message>::SIZE
    }
    assert_eq!(reply_of::<Request>(), Reply::SIZE);
    let _: fn() -> NoReply = || NoReply;
    assert_eq!(reply_of::<Reply>(), 0, "not a call: NoReply");
    const { assert!(Request::FITS_FAST_PATH, "24 and 8 bytes fit the registers") };
    const { assert!(!Big::FITS_FAST_PATH) };
}

#[test]
fn bad_bytes_are_errors_that_say_where() {
    let mut bytes = encode(&request());
    assert_eq!(Request::decode(&bytes[..10]), Err(DecodeError::TooShort { need: 24, got: 10 }));
    bytes[18] = 3; // no Color has tag 3
    assert_eq!(Request::decode(&bytes), Err(DecodeError::Invalid { type_name: "Color", offset: 18 }));
    bytes[18] = 7;
    bytes[19] = 2; // bool
    assert_eq!(Request::decode(&bytes), Err(DecodeError::Invalid { type_name: "bool", offset: 19 }));
    bytes[19] = 1;
    bytes[16] = 9; // no Op has tag 9
    assert_eq!(Request::decode(&bytes), Err(DecodeError::Invalid { type_name: "Op", offset: 16 }));
    let n = encode(&Nested { head: Reply { status: 0, ok: true, pad: [0; 3] }, colors: [Color::Red; 4] });
    let mut bad = n.clone();
    bad[8 + 2] = 0;
    assert_eq!(Nested::decode(&bad), Err(DecodeError::Invalid { type_name: "Color", offset: 10 }));
}

/// Property: decoding random bytes never panics; whatever decodes re-encodes to the same
/// bytes (the encoding is canonical).
#[test]
fn random_bytes_never_panic_and_valid_ones_round_trip() {
    let mut seed = 0xdead_beefu64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut decoded = 0;
    for _ in 0..200_000 {
        let len = (next() % 30) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Bias toward plausible messages so the success path is exercised too.
        if len >= 24 && next() % 2 == 0 {
            bytes[16] = (next() % 2) as u8;
            bytes[17] = 0;
            bytes[18] = [1, 2, 7][(next() % 3) as usize];
            bytes[19] = (next() % 2) as u8;
        }
        if let Ok(m) = Request::decode(&bytes) {
            assert_eq!(encode(&m), bytes[..Request::SIZE], "canonical");
            decoded += 1;
        }
        let _ = Nested::decode(&bytes);
        let _ = Color::decode(&bytes);
    }
    assert!(decoded > 1000, "only {decoded} random messages decoded: the property test lost coverage");
}
