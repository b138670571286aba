//! Typed IPC messages: [`Message`], the codec `#[derive(Message)]` implements (crate
//! `moroso-derive`, re-exported by `libsys`).
//!
//! A message has a fixed encoded size ([`Message::SIZE`]), the concatenation of its fields
//! in declaration order, little-endian, with no padding; it is written straight into the
//! IPC buffer and decoded with every byte checked: a short buffer, a `bool` that is not 0
//! or 1, or an enum tag that names no variant is a [`DecodeError`], never undefined
//! behaviour and never a panic.
//!
//! A message that is sent as a call names its reply type ([`Message::Reply`]); the typed
//! API uses it so that a reply of the wrong type does not compile.

mod bounded;
pub use bounded::{Bytes, Text};

/// Bytes of message that fit the register fast path (`abi::ipc::fast`): five registers.
pub const FAST_PATH_MAX: usize = 40;

/// Why bytes could not be decoded as a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the message's size.
    TooShort {
        /// Bytes the message needs.
        need: usize,
        /// Bytes there were.
        got: usize,
    },
    /// A field whose bytes are not a valid value (a `bool` not 0 or 1, an unknown enum
    /// tag), at this byte offset.
    Invalid {
        /// The field's type.
        type_name: &'static str,
        /// Where its bytes start in the message.
        offset: usize,
    },
}

impl DecodeError {
    /// The same error, for a field at `offset` inside a larger message.
    pub fn at(self, offset: usize) -> DecodeError {
        match self {
            DecodeError::Invalid { type_name, offset: o } => DecodeError::Invalid { type_name, offset: o + offset },
            e => e,
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::TooShort { need, got } => write!(f, "message too short: {got} bytes, need {need}"),
            DecodeError::Invalid { type_name, offset } => write!(f, "invalid {type_name} at byte {offset}"),
        }
    }
}

/// A typed IPC message. Derive it: `#[derive(Message)]` on a `#[repr(C)]` struct of message
/// fields, or a `#[repr(u8/u16/u32/u64)]` enum without fields.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Moroso message",
    label = "not a message",
    note = "message fields must be messages themselves: integers, `bool`, arrays of messages, or types with `#[derive(Message)]`"
)]
pub trait Message: Sized {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// What a call carrying this message gets back ([`NoReply`] if it is not a call).
    type Reply: Message;
    /// Whether a call with this message, and its reply, fit the register fast path.
    const FITS_FAST_PATH: bool = Self::SIZE <= FAST_PATH_MAX && <Self::Reply as Message>::SIZE <= FAST_PATH_MAX;
    /// Writes the encoding into `out[..SIZE]` (`out` is at least `SIZE` bytes).
    fn encode_into(&self, out: &mut [u8]);
    /// Decodes `bytes[..SIZE]`, checking every field.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// The reply type of messages that are not calls: nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NoReply;

impl Message for NoReply {
    const SIZE: usize = 0;
    type Reply = NoReply;
    fn encode_into(&self, _: &mut [u8]) {}
    fn decode(_: &[u8]) -> Result<Self, DecodeError> {
        Ok(NoReply)
    }
}

impl Message for () {
    const SIZE: usize = 0;
    type Reply = NoReply;
    fn encode_into(&self, _: &mut [u8]) {}
    fn decode(_: &[u8]) -> Result<Self, DecodeError> {
        Ok(())
    }
}

fn need(bytes: &[u8], n: usize) -> Result<(), DecodeError> {
    if bytes.len() < n {
        Err(DecodeError::TooShort { need: n, got: bytes.len() })
    } else {
        Ok(())
    }
}

macro_rules! integers {
    ($($t:ty),*) => {$(
        impl Message for $t {
            const SIZE: usize = size_of::<$t>();
            type Reply = NoReply;
            fn encode_into(&self, out: &mut [u8]) {
                out[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
            fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                need(bytes, Self::SIZE)?;
                let mut b = [0u8; size_of::<$t>()];
                b.copy_from_slice(&bytes[..Self::SIZE]);
                Ok(<$t>::from_le_bytes(b))
            }
        }
    )*};
}
integers!(u8, u16, u32, u64, i8, i16, i32, i64);

impl Message for bool {
    const SIZE: usize = 1;
    type Reply = NoReply;
    fn encode_into(&self, out: &mut [u8]) {
        out[0] = *self as u8;
    }
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        need(bytes, 1)?;
        match bytes[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid { type_name: "bool", offset: 0 }),
        }
    }
}

impl<T: Message, const N: usize> Message for [T; N] {
    const SIZE: usize = N * T::SIZE;
    type Reply = NoReply;
    fn encode_into(&self, out: &mut [u8]) {
        for (i, x) in self.iter().enumerate() {
            x.encode_into(&mut out[i * T::SIZE..]);
        }
    }
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        need(bytes, Self::SIZE)?;
        let mut err = None;
        let out = core::array::from_fn(|i| match T::decode(&bytes[i * T::SIZE..]) {
            Ok(v) => Some(v),
            Err(e) => {
                err.get_or_insert(e.at(i * T::SIZE));
                None
            }
        });
        match err {
            Some(e) => Err(e),
            None => Ok(out.map(|v| v.expect("no error, so every element decoded"))),
        }
    }
}

/// Encodes `m` into a new `N`-byte array (`N >= M::SIZE`).
pub fn encode_array<M: Message, const N: usize>(m: &M) -> [u8; N] {
    assert!(N >= M::SIZE);
    let mut out = [0u8; N];
    m.encode_into(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_little_endian() {
        let b: [u8; 4] = encode_array(&0x1122_3344u32);
        assert_eq!(b, [0x44, 0x33, 0x22, 0x11]);
        assert_eq!(u32::decode(&b), Ok(0x1122_3344));
        assert_eq!(i16::decode(&[0xff, 0xff]), Ok(-1));
        assert_eq!(u64::decode(&[1, 2, 3]), Err(DecodeError::TooShort { need: 8, got: 3 }));
    }

    #[test]
    fn bools_are_checked() {
        assert_eq!(bool::decode(&[1]), Ok(true));
        assert_eq!(bool::decode(&[2]), Err(DecodeError::Invalid { type_name: "bool", offset: 0 }));
        assert_eq!(<[bool; 3]>::decode(&[0, 1, 7]), Err(DecodeError::Invalid { type_name: "bool", offset: 2 }));
    }

    #[test]
    fn arrays_round_trip() {
        let a = [1u16, 2, 3];
        let b: [u8; 6] = encode_array(&a);
        assert_eq!(<[u16; 3]>::decode(&b), Ok(a));
        assert_eq!(<[u16; 3]>::SIZE, 6);
    }

    #[test]
    fn fast_path_fit() {
        const { assert!(<u64 as Message>::FITS_FAST_PATH) };
        const { assert!(<[u8; 40] as Message>::FITS_FAST_PATH) };
        const { assert!(!<[u8; 41] as Message>::FITS_FAST_PATH) };
    }
}
