//! Thread and task ids: a table slot plus a generation, so an id outlives nothing.
//!
//! `id = generation * SLOTS + slot`, with slot 0 never used: ids are positive, fit in an
//! `i32` (the spec passes tids as `int`), start at 1, and a stale id names no thread even
//! after its slot is reused, until the generation wraps (after 2^31 / SLOTS reuses of one
//! slot).

/// Converts between ids and (slot, generation) for a table of `SLOTS` entries.
#[derive(Clone, Copy)]
pub struct IdSpace<const SLOTS: usize>;

impl<const SLOTS: usize> IdSpace<SLOTS> {
    /// Generations wrap here so that ids stay below 2^31.
    pub const GENERATIONS: u32 = (i32::MAX as u32) / SLOTS as u32;

    pub const fn make(slot: usize, generation: u32) -> u32 {
        generation * SLOTS as u32 + slot as u32
    }

    /// The slot an id names (`None` for 0 or out of range).
    pub const fn slot(id: u32) -> Option<usize> {
        let s = (id % SLOTS as u32) as usize;
        if s == 0 || id > i32::MAX as u32 {
            None
        } else {
            Some(s)
        }
    }

    pub const fn generation(id: u32) -> u32 {
        id / SLOTS as u32
    }

    pub const fn next_generation(g: u32) -> u32 {
        (g + 1) % Self::GENERATIONS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    type Ids = IdSpace<256>;

    #[test]
    fn ids_round_trip_and_zero_is_never_an_id() {
        assert_eq!(Ids::make(1, 0), 1);
        assert_eq!(Ids::slot(Ids::make(7, 3)), Some(7));
        assert_eq!(Ids::generation(Ids::make(7, 3)), 3);
        assert_eq!(Ids::slot(0), None);
        assert_eq!(Ids::slot(256), None);
        assert_eq!(Ids::slot(u32::MAX), None);
        let top = Ids::make(255, Ids::GENERATIONS - 1);
        assert!(top <= i32::MAX as u32);
        assert_eq!(Ids::next_generation(Ids::GENERATIONS - 1), 0);
    }
}
