//! Where RemoveContainer puts a container's files: its bundle dir goes to
//! `<root>/trash` (its writable layer to the image store's own trash), by
//! one rename each, and is deleted by a background task after the answer.
//! A crash before that deletion leaks nothing: the sweep at start empties
//! both trashes ([`empty`]).

use crate::core::context::Context;
use crate::core::error::Result;
use cradle_snapshotter::Trash;
use std::path::PathBuf;

/// The daemon's trash for container dirs, beside `<root>/containers` (so on
/// its filesystem).
pub(crate) fn open(ctx: &Context) -> Result<Trash> {
    Ok(Trash::open(&ctx.config.root.join("trash"))?)
}

/// Deletes the trashed `entries` of a container in a blocking task, in the
/// caller's span (the container's); failures are logged (the next start's
/// sweep retries).
pub(crate) fn delete_later(entries: Vec<PathBuf>) {
    if entries.is_empty() {
        return;
    }
    crate::core::log_span::spawn_blocking(move || {
        for entry in entries {
            if let Err(e) = Trash::delete(&entry) {
                tracing::warn!("deleting trashed files: {e}");
            }
        }
    });
}

/// Empties the daemon's and the image store's trash: what a crash left
/// between a RemoveContainer and its background deletion.
pub(crate) fn empty(ctx: &Context) {
    match open(ctx).and_then(|t| Ok(t.empty()?)) {
        Ok(()) => {}
        Err(e) => tracing::error!(
            "sweep: emptying {}: {}",
            ctx.config.root.join("trash").display(),
            e.chain()
        ),
    }
    match ctx.images().and_then(|images| Ok(images.empty_trash()?)) {
        Ok(()) => {}
        Err(e) => tracing::warn!("sweep: emptying the image store's trash: {}", e.chain()),
    }
}
