//! Read-only memory maps of a log file, for the scan's fast path
//! ([`super::blocks::MappedBlocks`]): the kernel then hands the page cache's pages to the
//! scan instead of copying them into a buffer (that copy was a fifth of a one-thread
//! scan's time; ripgrep maps files for the same reason).
//!
//! The one hazard: a mapped file that another process truncates while the scan reads it
//! (logrotate's `copytruncate`) makes the reads past the new end fault, and the process
//! gets `SIGBUS`. The scan faults each part of the map in before it reads it
//! (`MADV_POPULATE_READ`, [`Range::move_to`]), and a truncation found then is an error,
//! not a crash: what is left is a truncation in the moment between that and the read
//! (or any, on a kernel older than Linux 5.14). Appending (how logs grow) is harmless: a
//! map covers bytes the file had when it was mapped. Kubernetes rotates container logs
//! by renaming, which is harmless too. Where files may be truncated in place, turn maps
//! off (`FileLogSource::with_memory_map(false)`; the binary's `--memory-map false`,
//! `LOGLENS_MEMORY_MAP=false` or `[logs] memory_map = false`) and the scan reads them.
use std::fs::File;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};

/// Files smaller than this are read: a map's set-up and page faults cost more than the
/// copy they save.
pub(super) const MAP_MIN: u64 = 4 << 20;

/// Bytes of a mapped range a scan thread holds resident, about: the next half of this
/// ahead of the scan is faulted in at once, and the bytes it has passed are handed back
/// each time half of this has gathered ([`Range::move_to`]), so a thread's resident share
/// of the file stays about this (plus a huge page) however large the file is.
pub(super) const WINDOW: usize = 8 << 20;

/// Bytes handed back at a time are whole huge pages (2 MiB, the size of the page-cache
/// folios a file read back from disk sits in): the part still to be scanned keeps its
/// huge mappings.
const HUGE: usize = 2 << 20;

/// A read-only map of `len` bytes of a file from `offset`, faulted in as the scan reads
/// it, with the bytes it has passed handed back.
///
/// One map for the whole range rather than one per window: the kernel can then map a
/// file that sits in huge page-cache folios with huge pages (fewer page faults and TLB
/// misses), and no window is mapped and unmapped again (docs/benchmarks.md, session 10).
pub(super) struct Range {
    map: Mmap,
    /// Bytes before this offset in the map have been handed back.
    released: usize,
    /// Bytes before this offset in the map have been faulted in.
    populated: usize,
}

impl Range {
    /// Maps `len` (> 0) bytes of `file` from `offset` (any offset: the map is aligned
    /// inside).
    pub(super) fn open(file: &File, offset: u64, len: usize) -> std::io::Result<Self> {
        #[allow(unsafe_code)]
        // SAFETY: the map is read-only and private. What `Mmap::map` cannot promise is
        // that no other process changes the file while it is mapped. Bytes appended after
        // the map was made are outside it. Bytes rewritten in place are only ever searched
        // as bytes: the scan copies a line out of the map before it checks it is UTF-8 and
        // parses it (`Job::take`, `inherited`), so no text it validated can change under
        // it. A truncation below the mapped range faults (SIGBUS): the hazard this module
        // documents, with the setting that turns maps off. The length is checked again
        // after mapping, and each part is faulted in before it is read (`move_to`, which
        // reports a truncation as an error), which narrows (cannot close) the window for
        // that race.
        let map = unsafe { MmapOptions::new().offset(offset).len(len).map(file) }?;
        if file.metadata()?.len() < offset + len as u64 {
            return Err(std::io::Error::other(
                "the file shrank while it was being mapped",
            ));
        }
        // The scan reads front to back: more read-ahead from disk.
        let _ = map.advise(Advice::Sequential);
        Ok(Self {
            map,
            released: 0,
            populated: 0,
        })
    }

    /// The bytes `[a, b)` of the map (offsets in the map, not yet handed back).
    pub(super) fn bytes(&self, a: usize, b: usize) -> &[u8] {
        debug_assert!(a >= self.released || a >= b);
        self.map.get(a..b).unwrap_or(&[])
    }

    /// The scan reads `[keep, upto)` (offsets in the map) next and never before `keep`
    /// again: faults in what is not yet, up to `upto` and at least `window / 2` bytes
    /// past `keep`, in calls of `window / 2` bytes (rather than a page fault at a time),
    /// and hands back the whole huge pages before `keep` once `window / 2` bytes or more
    /// have gathered there: the process's resident memory drops by them. `window` is
    /// [`WINDOW`] (smaller in tests).
    ///
    /// An error where the bytes could not be faulted in: the file was truncated below
    /// them since it was mapped (reading them would have raised `SIGBUS`), or cannot be
    /// read. A kernel without `MADV_POPULATE_READ` (before Linux 5.14) faults pages in as
    /// they are read, and that check is lost.
    pub(super) fn move_to(
        &mut self,
        keep: usize,
        upto: usize,
        window: usize,
    ) -> std::io::Result<()> {
        let half = (window / 2).max(1);
        let want = upto.max(keep + half).min(self.map.len());
        while self.populated < want {
            let len = half.min(self.map.len() - self.populated);
            match self
                .map
                .advise_range(Advice::PopulateRead, self.populated, len)
            {
                Err(e) if e.raw_os_error() == Some(libc::EFAULT) => {
                    return Err(std::io::Error::other(
                        "the file shrank while it was being scanned",
                    ));
                }
                Err(e) if e.raw_os_error() != Some(libc::EINVAL) => return Err(e),
                _ => {}
            }
            self.populated += len;
        }
        let base = self.map.as_ptr() as usize;
        // The huge-page boundary at or before `keep`, as an offset in the map.
        let to = ((base + keep) & !(HUGE - 1)).saturating_sub(base);
        if to <= self.released || to - self.released < half {
            return Ok(());
        }
        #[allow(unsafe_code)]
        // SAFETY: `MADV_DONTNEED` on a private read-only file map drops the process's
        // page-table entries for the range; the pages stay in the page cache and a later
        // read faults them back in with the file's bytes (memmap2 marks it unsafe because on
        // a writable private map it discards writes; this map is never written). No slice of
        // the range is alive: `move_to` takes `&mut self`, and `bytes` borrows `self`.
        let _ = unsafe {
            self.map.unchecked_advise_range(
                UncheckedAdvice::DontNeed,
                self.released,
                to - self.released,
            )
        };
        self.released = to;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The resident kilobytes of the map that holds `addr`, from `/proc/self/smaps`.
    fn resident_kib(addr: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_map = false;
        for line in smaps.lines() {
            let head = line.split_whitespace().next().unwrap_or("");
            if let Some((a, b)) = head.split_once('-')
                && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
            {
                in_map = (a..b).contains(&addr);
            } else if in_map && let Some(v) = line.strip_prefix("Rss:") {
                return v.trim().trim_end_matches("kB").trim().parse().unwrap();
            }
        }
        panic!("no map holds {addr:#x}");
    }

    #[test]
    fn a_range_read_front_to_back_stays_about_a_window_resident() {
        let mib = 1 << 20;
        let mut file = tempfile::tempfile().unwrap();
        let bytes: Vec<u8> = (0..48 * mib).map(|i| (i % 251) as u8).collect();
        file.write_all(&bytes).unwrap();
        // From an offset that is not page-aligned, as a scan's second range starts.
        let offset = 3 * mib + 12_345;
        let mut range = Range::open(&file, offset as u64, bytes.len() - offset).unwrap();
        let addr = range.map.as_ptr() as usize;
        let (step, window) = (512 << 10, 8 * mib);
        let mut most = 0;
        let mut at = 0;
        while at < range.map.len() {
            range
                .move_to(at.saturating_sub(step), at + step, window)
                .unwrap();
            let end = (at + step).min(range.map.len());
            // What is read is the file's bytes, also after the bytes before were handed back.
            assert!(
                range.bytes(at, end) == &bytes[offset + at..offset + end],
                "at {at}"
            );
            most = most.max(resident_kib(addr));
            at = end;
        }
        // Half a window ahead, half a window behind, a huge page of rounding and the block
        // before: 48 MiB read, about 14 MiB at most resident.
        assert!(most <= 16 << 10, "{most} KiB resident");
        assert!(resident_kib(addr) < 16 << 10);
    }

    #[test]
    fn a_file_truncated_under_the_map_is_an_error_not_a_crash() {
        let mib = 1 << 20;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; 16 * mib]).unwrap();
        let mut range = Range::open(&file, 0, 16 * mib).unwrap();
        range.move_to(0, mib, 2 * mib).unwrap();
        assert_eq!(range.bytes(0, 4), b"xxxx");
        // logrotate's copytruncate, between two blocks of the scan.
        file.set_len(4 * mib as u64).unwrap();
        let err = range.move_to(mib, 12 * mib, 2 * mib).unwrap_err();
        assert!(err.to_string().contains("shrank"), "{err}");
    }
}
