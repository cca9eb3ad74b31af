//! A range of a file, block by block, for the scan: each block ends at a newline, and the
//! block before it is kept (for inherited times). Two sources behind one trait:
//! [`ReadBlocks`] reads into two reused buffers; [`MappedBlocks`] slices a memory map
//! ([`super::map`]), so the file's bytes are not copied at all.
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Block size. Small enough that a block and the one before it stay in a core's L2 cache
/// while the literal search and the newline count each pass over it: 8 MiB blocks
/// (read from memory twice) scanned at 0.39-0.48 of ripgrep's speed, 512 KiB blocks at
/// 0.54 on one core and 0.80-0.84 on two (docs/benchmarks.md). A line longer than a
/// block grows the buffer, up to [`MAX_BLOCK`].
pub(super) const BLOCK: usize = 512 << 10;

/// Largest the buffer grows for one line without a newline. A longer line (a file of
/// one 10 GiB line is untrusted input too) makes the fast path give up: the slow path
/// reads lines with a bounded buffer and keeps the first `cap` bytes.
pub(super) const MAX_BLOCK: usize = 16 * BLOCK;

/// What [`Blocks::next_block`] found.
pub(super) enum Fill {
    /// A block of whole lines ([`Blocks::cur`]).
    Block,
    /// The range is read.
    Done,
    /// A line longer than [`MAX_BLOCK`]: give up.
    TooLong,
}

/// A range of a file, block by block: each block ends at a newline (the last may end at
/// the end of the file), and the block before it stays readable.
pub(super) trait Blocks {
    /// Moves to the next block of whole lines. A line longer than the block makes it
    /// grow, up to [`MAX_BLOCK`].
    fn next_block(&mut self) -> std::io::Result<Fill>;
    fn cur(&self) -> &[u8];
    /// The block before it.
    fn prev(&self) -> &[u8];
    /// No line precedes [`Blocks::prev`].
    fn prev_from_file_start(&self) -> bool;
    /// Done with [`Blocks::cur`]: it becomes `prev`.
    fn advance(&mut self);
}

/// [`Blocks`] read with `read()` into two buffers, zeroed once and reused: fresh
/// allocations per block cost page faults and zeroing that showed up as a third of the
/// scan's time.
pub(super) struct ReadBlocks {
    file: std::io::Take<File>,
    /// The block being scanned (`..end`), then the start of the next one (`end..filled`).
    cur: Vec<u8>,
    end: usize,
    filled: usize,
    /// The block before (`..prev_len`).
    prev: Vec<u8>,
    prev_len: usize,
    /// No line precedes `prev`.
    prev_from_file_start: bool,
    cur_from_file_start: bool,
    eof: bool,
    finished: bool,
}

impl ReadBlocks {
    /// The lines in `[start, end)` of `path`. A range after the first starts with the
    /// whole lines of the block before it as its `prev`, so its first lines can inherit
    /// a time from there.
    pub(super) fn open(path: &Path, start: u64, end: u64) -> std::io::Result<Self> {
        let mut file = File::open(path)?;
        let mut prev = vec![0u8; BLOCK];
        let (prev_len, prev_from_file_start) = if start == 0 {
            (0, true)
        } else {
            let seed_start = start.saturating_sub(BLOCK as u64);
            let want = (start - seed_start) as usize;
            file.seek(SeekFrom::Start(seed_start))?;
            file.read_exact(&mut prev[..want])?;
            if seed_start == 0 {
                (want, true)
            } else {
                // Drop the partial line at the front.
                let skip = memchr::memchr(b'\n', &prev[..want]).map_or(want, |i| i + 1);
                prev.copy_within(skip..want, 0);
                (want - skip, false)
            }
        };
        file.seek(SeekFrom::Start(start))?;
        Ok(Self {
            file: file.take(end - start),
            cur: vec![0u8; BLOCK],
            end: 0,
            filled: 0,
            prev,
            prev_len,
            prev_from_file_start,
            cur_from_file_start: start == 0,
            eof: false,
            finished: false,
        })
    }
}

impl Blocks for ReadBlocks {
    /// Reads the next block of whole lines (the last one may lack its newline at EOF).
    /// A line longer than the buffer grows it and is read on.
    fn next_block(&mut self) -> std::io::Result<Fill> {
        if self.finished {
            return Ok(Fill::Done);
        }
        loop {
            // Bytes at the front of `cur` are carried over from the last block.
            let mut filled = self.filled;
            while filled < self.cur.len() {
                let n = self.file.read(&mut self.cur[filled..])?;
                if n == 0 {
                    self.eof = true;
                    break;
                }
                filled += n;
            }
            self.filled = filled;
            self.end = filled;
            if self.eof {
                return Ok(Fill::Block);
            }
            if let Some(i) = memchr::memrchr(b'\n', &self.cur[..filled]) {
                self.end = i + 1;
                return Ok(Fill::Block);
            }
            if self.cur.len() >= MAX_BLOCK {
                return Ok(Fill::TooLong);
            }
            let grown = self.cur.len().saturating_mul(2).min(MAX_BLOCK);
            self.cur.resize(grown, 0);
        }
    }

    fn cur(&self) -> &[u8] {
        &self.cur[..self.end]
    }

    fn prev(&self) -> &[u8] {
        &self.prev[..self.prev_len]
    }

    fn prev_from_file_start(&self) -> bool {
        self.prev_from_file_start
    }

    /// Moves on: the partial line after the block goes to the front of the other buffer,
    /// which becomes the next block; this block becomes `prev`.
    fn advance(&mut self) {
        let carried = self.filled - self.end;
        if self.prev.len() < self.cur.len() {
            self.prev.resize(self.cur.len(), 0);
        }
        self.prev[..carried].copy_from_slice(&self.cur[self.end..self.filled]);
        std::mem::swap(&mut self.cur, &mut self.prev);
        self.prev_len = self.end;
        self.filled = carried;
        self.end = 0;
        self.prev_from_file_start = self.cur_from_file_start;
        self.cur_from_file_start = false;
        self.finished = self.eof;
    }
}

/// [`Blocks`] sliced from a memory map of the range ([`super::map::Range`]): nothing is
/// copied. The range (with the block before it) is mapped once and faulted in as it is
/// read; the bytes before the block before the current one are handed back as the scan
/// moves on, so its resident memory stays about one [`super::map::WINDOW`] whatever the
/// file's size. The blocks are the same as [`ReadBlocks`]' (the same size, ending at the
/// same newlines), so a scan gives the same answer from either.
pub(super) struct MappedBlocks {
    /// The map, from the file's byte `mstart` on (`None`: nothing to map).
    map: Option<super::map::Range>,
    mstart: usize,
    /// About the bytes held resident ([`super::map::WINDOW`]; smaller in tests): half
    /// faulted in ahead of the scan, half gathered behind it before they are handed back.
    window: usize,
    /// The range's end.
    end: usize,
    /// The block being scanned, and the one before it (file offsets).
    cur: (usize, usize),
    prev: (usize, usize),
    /// Bytes a block spans before it ends at its last newline (grown for long lines).
    size: usize,
    prev_from_file_start: bool,
    cur_from_file_start: bool,
    finished: bool,
}

impl MappedBlocks {
    /// The lines in `[start, end)` of `path`, about `window` bytes of it resident at a
    /// time ([`super::map::Range::move_to`]); `prev` starts as the whole lines of the
    /// [`BLOCK`] bytes before `start`, as in [`ReadBlocks::open`].
    pub(super) fn open(path: &Path, start: u64, end: u64, window: usize) -> std::io::Result<Self> {
        let too_big = |_| std::io::Error::other("a file too large to map");
        let (start, end) = (
            usize::try_from(start).map_err(too_big)?,
            usize::try_from(end).map_err(too_big)?,
        );
        let seed = start.saturating_sub(BLOCK);
        let map = if end > seed {
            Some(super::map::Range::open(
                &File::open(path)?,
                seed as u64,
                end - seed,
            )?)
        } else {
            None
        };
        let mut me = Self {
            map,
            mstart: seed,
            window,
            end,
            cur: (start, start),
            prev: (seed, start),
            size: BLOCK,
            prev_from_file_start: true,
            cur_from_file_start: start == 0,
            finished: false,
        };
        if start > 0 && seed > 0 {
            // Drop the partial line at the front.
            let skip = memchr::memchr(b'\n', me.bytes(seed, start)).map_or(start - seed, |i| i + 1);
            me.prev = (seed + skip, start);
            me.prev_from_file_start = false;
        }
        Ok(me)
    }

    /// The file's bytes `[a, b)` (within the range, not before the block before the
    /// current one).
    fn bytes(&self, a: usize, b: usize) -> &[u8] {
        match &self.map {
            Some(m) if a < b => m.bytes(a - self.mstart, b - self.mstart),
            _ => &[],
        }
    }
}

impl Blocks for MappedBlocks {
    fn next_block(&mut self) -> std::io::Result<Fill> {
        if self.finished {
            return Ok(Fill::Done);
        }
        let from = self.cur.1;
        loop {
            let to = from.saturating_add(self.size).min(self.end);
            // What is before the block before this one is not read again; `..to` is
            // read next.
            if let Some(m) = &mut self.map {
                let keep = self.prev.0.min(from) - self.mstart;
                m.move_to(keep, to - self.mstart, self.window)?;
            }
            if to == self.end {
                self.cur = (from, to);
                self.finished = true;
                return Ok(Fill::Block);
            }
            if let Some(i) = memchr::memrchr(b'\n', self.bytes(from, to)) {
                self.cur = (from, from + i + 1);
                return Ok(Fill::Block);
            }
            if self.size >= MAX_BLOCK {
                return Ok(Fill::TooLong);
            }
            self.size = self.size.saturating_mul(2).min(MAX_BLOCK);
        }
    }

    fn cur(&self) -> &[u8] {
        self.bytes(self.cur.0, self.cur.1)
    }

    fn prev(&self) -> &[u8] {
        self.bytes(self.prev.0, self.prev.1)
    }

    fn prev_from_file_start(&self) -> bool {
        self.prev_from_file_start
    }

    fn advance(&mut self) {
        self.prev = self.cur;
        self.prev_from_file_start = self.cur_from_file_start;
        self.cur_from_file_start = false;
    }
}
