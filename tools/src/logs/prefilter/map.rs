//! Read-only memory maps of a log file, for the scan's fast path
//! ([`super::blocks::MappedBlocks`]): the kernel then hands the page cache's pages to the
//! scan instead of copying them into a buffer (that copy was a fifth of a one-thread
//! scan's time; ripgrep maps files for the same reason).
//!
//! The one hazard: a mapped file that another process truncates while the scan reads it
//! (logrotate's `copytruncate`) makes the reads past the new end fault, and the process
//! gets `SIGBUS`. Appending (how logs grow) is harmless: a map covers bytes the file had
//! when it was mapped. Kubernetes rotates container logs by renaming, which is harmless
//! too. Where files may be truncated in place, turn maps off
//! (`FileLogSource::with_memory_map(false)`; the binary's `--memory-map false`,
//! `LOGLENS_MEMORY_MAP=false` or `[logs] memory_map = false`) and the scan reads them.
use std::fs::File;

use memmap2::{Advice, Mmap, MmapOptions};

/// Files smaller than this are read: a map's set-up and page faults cost more than the
/// copy they save.
pub(super) const MAP_MIN: u64 = 4 << 20;

/// Bytes mapped at a time: a scan thread's resident share of the file stays about this
/// (16 blocks; a window grows to hold the block before the current one and the current
/// one when a long line makes them larger, up to twice `MAX_BLOCK`). Each new window
/// maps the block before again: one block in 16 is faulted in twice.
pub(super) const WINDOW: usize = 8 << 20;

/// Maps `len` bytes of `file` from `offset` (any offset: the map is aligned inside).
pub(super) fn map_window(file: &File, offset: u64, len: usize) -> std::io::Result<Mmap> {
    #[allow(unsafe_code)]
    // SAFETY: the map is read-only and private. What `Mmap::map` cannot promise is that
    // no other process changes the file while it is mapped. Bytes appended after the
    // map was made are outside it. Bytes rewritten in place are only ever searched as
    // bytes: the scan copies a line out of the map before it checks it is UTF-8 and
    // parses it (`Job::take`, `inherited`), so no text it validated can change under
    // it. A truncation below the mapped range faults (SIGBUS): the hazard this module
    // documents, with the setting that turns maps off. The length is checked again
    // after mapping, which narrows (cannot close) the window for that race.
    let map = unsafe {
        MmapOptions::new()
            .offset(offset)
            .len(len)
            .populate()
            .map(file)
    }?;
    if file.metadata()?.len() < offset + len as u64 {
        return Err(std::io::Error::other(
            "the file shrank while it was being mapped",
        ));
    }
    // The scan reads front to back: more read-ahead, pages dropped behind it.
    let _ = map.advise(Advice::Sequential);
    Ok(map)
}
