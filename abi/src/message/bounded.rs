//! Variable-length data in fixed-size messages: [`Bytes<N>`] (at most `N` bytes) and
//! [`Text<N>`] (at most `N` bytes of UTF-8), for names, paths and small payloads of
//! interface calls.
//!
//! Encoding: the length as a little-endian `u16`, then `N` bytes, the used ones first and
//! the rest zero. Decoding checks the length against `N`, the text against UTF-8, and
//! ignores the unused bytes (a value reads back the same whatever a sender put there).
//! The in-memory layout is the encoding's size (`2 + N`, alignment 1), so these can be
//! fields of `#[derive(Message)]` structs without padding.

use super::{need, DecodeError, Message, NoReply};

/// At most `N` bytes (`N` ≤ `u16::MAX`), with their length.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bytes<const N: usize> {
    len: [u8; 2],
    data: [u8; N],
}

impl<const N: usize> Bytes<N> {
    /// The most bytes a value holds.
    pub const CAPACITY: usize = N;

    /// No bytes.
    pub const EMPTY: Self = Bytes { len: [0; 2], data: [0; N] };

    /// A copy of `bytes`; `None` if it is longer than `N`.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > N || bytes.len() > u16::MAX as usize {
            return None;
        }
        let mut b = Self::EMPTY;
        b.data[..bytes.len()].copy_from_slice(bytes);
        b.len = (bytes.len() as u16).to_le_bytes();
        Some(b)
    }

    /// As many bytes of `bytes` as fit.
    pub fn truncated(bytes: &[u8]) -> Self {
        let n = bytes.len().min(N).min(u16::MAX as usize);
        Self::new(&bytes[..n]).unwrap_or(Self::EMPTY)
    }

    /// The bytes held.
    pub fn as_slice(&self) -> &[u8] {
        &self.data[..self.len()]
    }

    /// How many bytes are held.
    pub fn len(&self) -> usize {
        (u16::from_le_bytes(self.len) as usize).min(N)
    }

    /// Whether no bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<const N: usize> core::fmt::Debug for Bytes<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<const N: usize> Message for Bytes<N> {
    const SIZE: usize = {
        assert!(N <= u16::MAX as usize, "Bytes<N> and Text<N> hold at most u16::MAX bytes");
        2 + N
    };
    type Reply = NoReply;

    fn encode_into(&self, out: &mut [u8]) {
        let n = self.len();
        out[..2].copy_from_slice(&(n as u16).to_le_bytes());
        out[2..2 + n].copy_from_slice(&self.data[..n]);
        out[2 + n..Self::SIZE].fill(0);
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        need(bytes, Self::SIZE)?;
        let n = u16::from_le_bytes([bytes[0], bytes[1]]) as usize;
        if n > N {
            return Err(DecodeError::Invalid { type_name: "Bytes length", offset: 0 });
        }
        // Only the used bytes are taken: the rest of the value is zero.
        Ok(Self::new(&bytes[2..2 + n]).unwrap_or(Self::EMPTY))
    }
}

/// At most `N` bytes of UTF-8 text (`N` ≤ `u16::MAX`): a name, a path, a short line.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text<const N: usize> {
    bytes: Bytes<N>,
}

impl<const N: usize> Text<N> {
    /// The most bytes a value holds.
    pub const CAPACITY: usize = N;

    /// The empty text.
    pub const EMPTY: Self = Text { bytes: Bytes::EMPTY };

    /// A copy of `text`; `None` if it is longer than `N` bytes.
    pub fn new(text: &str) -> Option<Self> {
        Bytes::new(text.as_bytes()).map(|bytes| Text { bytes })
    }

    /// The text held.
    pub fn as_str(&self) -> &str {
        // Every way to make a value (`new`, `decode`) checked that the bytes are UTF-8.
        core::str::from_utf8(self.bytes.as_slice()).unwrap_or("")
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl<const N: usize> core::fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> core::fmt::Display for Text<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> Message for Text<N> {
    const SIZE: usize = <Bytes<N> as Message>::SIZE;
    type Reply = NoReply;

    fn encode_into(&self, out: &mut [u8]) {
        self.bytes.encode_into(out);
    }

    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let b = Bytes::<N>::decode(bytes)?;
        match core::str::from_utf8(b.as_slice()) {
            Ok(_) => Ok(Text { bytes: b }),
            Err(_) => Err(DecodeError::Invalid { type_name: "Text (not UTF-8)", offset: 2 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::encode_array;

    #[test]
    fn bytes_round_trip_and_zero_the_rest() {
        let b = Bytes::<6>::new(b"abc").expect("fits");
        let wire: [u8; 8] = encode_array(&b);
        assert_eq!(wire, [3, 0, b'a', b'b', b'c', 0, 0, 0]);
        assert_eq!(Bytes::<6>::decode(&wire), Ok(b));
        assert_eq!(Bytes::<6>::SIZE, 8);
        assert_eq!(core::mem::size_of::<Bytes<6>>(), 8, "no padding: usable as a derived field");
        assert_eq!(Bytes::<2>::new(b"abc"), None, "too long");
        assert_eq!(Bytes::<2>::truncated(b"abc").as_slice(), b"ab");
    }

    #[test]
    fn bytes_decoding_is_checked() {
        assert_eq!(
            Bytes::<2>::decode(&[3, 0, 1, 2]),
            Err(DecodeError::Invalid { type_name: "Bytes length", offset: 0 }),
            "a length past N"
        );
        assert_eq!(Bytes::<2>::decode(&[1, 0]), Err(DecodeError::TooShort { need: 4, got: 2 }));
        // Garbage past the length is not part of the value.
        assert_eq!(Bytes::<4>::decode(&[1, 0, 9, 8, 7, 6]), Ok(Bytes::new(&[9]).expect("fits")));
    }

    #[test]
    fn text_is_checked_utf8() {
        let t = Text::<8>::new("héllo").expect("fits");
        let wire: [u8; 10] = encode_array(&t);
        assert_eq!(Text::<8>::decode(&wire).map(|t| t.as_str().len()), Ok(6));
        assert_eq!(Text::<8>::decode(&wire), Ok(t));
        assert_eq!(Text::<4>::new("hello"), None);
        assert!(matches!(Text::<4>::decode(&[2, 0, 0xff, 0xfe, 0, 0]), Err(DecodeError::Invalid { offset: 2, .. })));
        assert_eq!(Text::<4>::EMPTY.as_str(), "");
    }
}
