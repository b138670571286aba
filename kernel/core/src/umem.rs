//! User memory as the kernel sees it: every pointer a system call receives is an
//! allegation until checked against the caller's address space.
//!
//! A [`UserSlice`] is made only for a range inside user space that does not wrap
//! ([`UserSlice::new`] refuses anything else with `BadAddress`). A [`UserSlice<Unchecked>`]
//! can only be turned into a [`UserSlice<Readable>`] or [`UserSlice<Writable>`] by checking
//! that every page of the range is user memory of an address space, mapped, and writable if
//! it will be written; only those types can copy, and only with the address space they were
//! checked against (another is refused with `BadAddress`).
//! The copy itself goes through the address space again (page by page, through the
//! kernel's direct map), so it stays correct even if the memory is another task's or its
//! mappings changed since the check: then it fails with `BadAddress` instead of touching
//! anything else.
//!
//! A zero-length slice is valid whatever its address (the spec: "if the length is 0, the
//! pointer is ignored").

use abi::Error;
use core::marker::PhantomData;

/// Access to one address space's user memory.
pub trait UserMemory {
    /// Whether `[addr, addr + len)` is mapped user memory (and writable, if `write`).
    /// `len > 0`, and the range is already known to be inside user space.
    fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error>;
    /// Copies out of user memory. Fails with `BadAddress` on any unmapped byte.
    fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error>;
    /// Copies into user memory. Fails with `BadAddress` on any unmapped or read-only byte.
    fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error>;
    /// What tells this address space from every other live one (the machine's: its root
    /// table's frame), which checked slices remember.
    fn space_id(&self) -> u64;
}

/// Not yet checked.
#[derive(Clone, Copy, Debug)]
pub struct Unchecked;
/// Checked readable.
#[derive(Clone, Copy, Debug)]
pub struct Readable;
/// Checked readable and writable.
#[derive(Clone, Copy, Debug)]
pub struct Writable;

/// A range of user memory, `len` bytes at `addr`, in the state `A`; once checked, of the
/// address space with id `space`.
#[derive(Clone, Copy, Debug)]
pub struct UserSlice<A = Unchecked> {
    addr: u64,
    len: u64,
    space: u64,
    _access: PhantomData<A>,
}

impl<A> UserSlice<A> {
    pub fn addr(&self) -> u64 {
        self.addr
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn with<B>(self) -> UserSlice<B> {
        UserSlice { addr: self.addr, len: self.len, space: self.space, _access: PhantomData }
    }

    /// The address space this slice was checked against: `BadAddress` for another.
    fn same_space(&self, mem: &impl UserMemory) -> Result<(), Error> {
        if mem.space_id() == self.space {
            Ok(())
        } else {
            Err(Error::BadAddress)
        }
    }
}

impl UserSlice<Unchecked> {
    /// The allegation: `len` bytes at `addr`. `BadAddress` unless the range lies inside
    /// user space without wrapping (a zero-length one is valid anywhere).
    pub fn new(addr: u64, len: u64) -> Result<Self, Error> {
        if len != 0 && !abi::layout::is_user_range(addr, len) {
            return Err(Error::BadAddress);
        }
        Ok(UserSlice { addr, len, space: 0, _access: PhantomData })
    }

    fn check(self, mem: &impl UserMemory, write: bool) -> Result<Self, Error> {
        if self.len != 0 {
            mem.check(self.addr, self.len, write)?;
        }
        Ok(UserSlice { space: mem.space_id(), ..self })
    }

    pub fn readable(self, mem: &impl UserMemory) -> Result<UserSlice<Readable>, Error> {
        Ok(self.check(mem, false)?.with())
    }

    pub fn writable(self, mem: &impl UserMemory) -> Result<UserSlice<Writable>, Error> {
        Ok(self.check(mem, true)?.with())
    }
}

impl UserSlice<Readable> {
    /// The checked sub-range `[offset, offset + len)` of this range (clipped to it).
    pub fn sub(&self, offset: u64, len: u64) -> UserSlice<Readable> {
        let offset = offset.min(self.len);
        UserSlice { addr: self.addr + offset, len: len.min(self.len - offset), ..*self }
    }

    /// Copies the first `buf.len()` bytes (at most `len`) into `buf`.
    pub fn read(&self, mem: &impl UserMemory, buf: &mut [u8]) -> Result<(), Error> {
        debug_assert!(buf.len() as u64 <= self.len);
        if buf.is_empty() {
            return Ok(());
        }
        self.same_space(mem)?;
        mem.copy_in(self.addr, buf)
    }
}

impl UserSlice<Writable> {
    /// The checked sub-range `[offset, offset + len)` of this range (clipped to it).
    pub fn sub(&self, offset: u64, len: u64) -> UserSlice<Writable> {
        let offset = offset.min(self.len);
        UserSlice { addr: self.addr + offset, len: len.min(self.len - offset), ..*self }
    }

    pub fn read(&self, mem: &impl UserMemory, buf: &mut [u8]) -> Result<(), Error> {
        self.with::<Readable>().read(mem, buf)
    }

    /// Copies `data` (at most `len` bytes) to the start of the range.
    pub fn write(&self, mem: &mut impl UserMemory, data: &[u8]) -> Result<(), Error> {
        debug_assert!(data.len() as u64 <= self.len);
        if data.is_empty() {
            return Ok(());
        }
        self.same_space(mem)?;
        mem.copy_out(self.addr, data)
    }
}

/// A pointer to one `T` in user memory.
#[derive(Clone, Copy, Debug)]
pub struct UserPtr<T> {
    addr: u64,
    _t: PhantomData<T>,
}

impl<T: zerocopy::FromBytes + zerocopy::IntoBytes + zerocopy::Immutable> UserPtr<T> {
    pub fn new(addr: u64) -> Self {
        UserPtr { addr, _t: PhantomData }
    }

    fn slice(&self) -> Result<UserSlice, Error> {
        UserSlice::new(self.addr, size_of::<T>() as u64)
    }

    /// Checks and reads the value. A null pointer is `BadAddress`, as is any address
    /// outside the caller's mapped user memory.
    pub fn read(&self, mem: &impl UserMemory) -> Result<T, Error> {
        let mut v = T::new_zeroed();
        self.slice()?.readable(mem)?.read(mem, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Checks that the value can be written, without writing it.
    pub fn check_writable(&self, mem: &impl UserMemory) -> Result<(), Error> {
        self.slice()?.writable(mem).map(|_| ())
    }

    pub fn write(&self, mem: &mut impl UserMemory, value: T) -> Result<(), Error> {
        self.slice()?.writable(mem)?.write(mem, value.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const P: u64 = abi::PAGE_SIZE as u64;

    /// Pages at given addresses, each readable or read-write.
    struct Fake(BTreeMap<u64, (Vec<u8>, bool)>, u64);

    impl Fake {
        fn page(&self, a: u64) -> Option<&(Vec<u8>, bool)> {
            self.0.get(&(a & !(P - 1)))
        }
    }

    impl UserMemory for Fake {
        fn check(&self, addr: u64, len: u64, write: bool) -> Result<(), Error> {
            let mut p = addr & !(P - 1);
            while p < addr + len {
                match self.page(p) {
                    Some((_, w)) if *w || !write => p += P,
                    _ => return Err(Error::BadAddress),
                }
            }
            Ok(())
        }
        fn copy_in(&self, addr: u64, buf: &mut [u8]) -> Result<(), Error> {
            for (i, b) in buf.iter_mut().enumerate() {
                let a = addr + i as u64;
                *b = self.page(a).ok_or(Error::BadAddress)?.0[(a % P) as usize];
            }
            Ok(())
        }
        fn copy_out(&mut self, addr: u64, data: &[u8]) -> Result<(), Error> {
            for (i, b) in data.iter().enumerate() {
                let a = addr + i as u64;
                let (page, w) = self.0.get_mut(&(a & !(P - 1))).ok_or(Error::BadAddress)?;
                if !*w {
                    return Err(Error::BadAddress);
                }
                page[(a % P) as usize] = *b;
            }
            Ok(())
        }
        fn space_id(&self) -> u64 {
            self.1
        }
    }

    fn mem() -> Fake {
        let mut m = BTreeMap::new();
        m.insert(0x50_0000, (vec![7; P as usize], true));
        m.insert(0x50_1000, (vec![8; P as usize], false));
        Fake(m, 1)
    }

    #[test]
    fn reads_and_writes_across_pages_after_checking() {
        let mut m = mem();
        let s = UserSlice::new(0x50_0ffe, 4).unwrap().readable(&m).unwrap();
        let mut buf = [0; 4];
        s.read(&m, &mut buf).unwrap();
        assert_eq!(buf, [7, 7, 8, 8]);
        let w = UserSlice::new(0x50_0000, 16).unwrap().writable(&m).unwrap();
        w.write(&mut m, &[1, 2, 3]).unwrap();
        assert_eq!(UserPtr::<u16>::new(0x50_0001).read(&m), Ok(0x0302));
    }

    #[test]
    fn refuses_what_is_not_the_callers_user_memory() {
        let m = mem();
        let bad = |a: u64, l: u64, w: bool| {
            let s = match UserSlice::new(a, l) {
                Ok(s) => s,
                Err(e) => return Some(e),
            };
            if w {
                s.writable(&m).err()
            } else {
                s.readable(&m).err()
            }
        };
        assert_eq!(bad(0, 4, false), Some(Error::BadAddress), "null");
        assert_eq!(bad(0x3f_fff0, 4, false), Some(Error::BadAddress), "null guard below USER_MIN");
        assert_eq!(bad(0xffff_8000_0000_0000, 4, false), Some(Error::BadAddress), "kernel address");
        assert_eq!(bad(u64::MAX - 2, 8, false), Some(Error::BadAddress), "wraps");
        assert_eq!(bad(0x50_2000, 1, false), Some(Error::BadAddress), "unmapped");
        assert_eq!(bad(0x50_0ff0, 0x20, true), Some(Error::BadAddress), "second page read-only");
        assert_eq!(bad(0x50_1fff, 2, false), Some(Error::BadAddress), "runs off the end");
        assert_eq!(bad(0x50_0ff0, 0x20, false), None);
        assert_eq!(bad(0, 0, true), None, "zero length: pointer ignored");
        assert_eq!(UserPtr::<u64>::new(0x50_1000).write(&mut mem(), 1), Err(Error::BadAddress));
    }

    #[test]
    fn a_checked_slice_copies_only_with_the_space_it_was_checked_against() {
        let mut m = mem();
        let mut other = mem();
        other.1 = 2;
        let r = UserSlice::new(0x50_0000, 4).unwrap().readable(&m).unwrap();
        let mut buf = [0; 4];
        assert_eq!(r.read(&other, &mut buf), Err(Error::BadAddress), "checked against m");
        assert_eq!(r.read(&m, &mut buf), Ok(()));
        let w = UserSlice::new(0x50_0000, 4).unwrap().writable(&m).unwrap();
        assert_eq!(w.sub(1, 2).write(&mut other, &[1]), Err(Error::BadAddress), "a sub-slice keeps its space");
        assert_eq!(w.sub(1, 2).write(&mut m, &[1]), Ok(()));
    }

    #[test]
    fn a_slice_outside_user_space_or_wrapping_is_never_made() {
        assert_eq!(UserSlice::new(u64::MAX - 2, 8).err(), Some(Error::BadAddress), "wraps");
        assert_eq!(UserSlice::new(abi::layout::USER_END - 4, 8).err(), Some(Error::BadAddress), "past the end");
        assert_eq!(UserSlice::new(0, 1).err(), Some(Error::BadAddress), "null");
        assert!(UserSlice::new(u64::MAX, 0).is_ok(), "zero length: the pointer is ignored");
    }
}
