//! The fuzzer's random numbers: xorshift64*, seeded per thread from the run's seed and the
//! thread's place, so a seed replays the same calls in every thread.

pub struct Rng(u64);

impl Rng {
    /// The generator of thread `thread` of task slot `slot` (victims: of `generation`).
    pub fn for_thread(seed: u32, slot: u32, thread: u32, generation: u32) -> Rng {
        let mut x = (seed as u64) << 32 ^ (slot as u64) << 24 ^ (thread as u64) << 16 ^ generation as u64;
        // splitmix64, so nearby seeds start far apart.
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((x ^ (x >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}
