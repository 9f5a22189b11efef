//! Sending an archive's rows to a store in batches, with a progress bar, and saying how far it
//! got when it fails.

use anyhow::{anyhow, Result};

use crate::archive::read::Archive;
use crate::input::Record;
use crate::output::grouped;
use crate::progress;

/// Points or documents per request when none is given.
pub const DEFAULT_BATCH: usize = 256;

/// Turns every row of `archive` into an item with `item` and hands them to `send` in batches of
/// `size`, in row order; gives how many rows were sent. When anything fails, the error ends with
/// how many of the rows the store had acknowledged (`exported 512 of 10,000 points; re-run with
/// --upsert to continue`): the batches before the failed one are in the store.
pub fn send_rows<T>(
    archive: &Archive,
    size: usize,
    noun: &str,
    mut item: impl FnMut(&Record, &[f32]) -> Result<T>,
    mut send: impl FnMut(Vec<T>) -> Result<()>,
) -> Result<u64> {
    let total = archive.manifest.count;
    let bar = progress::bar(total, "export", noun);
    let mut sent = 0u64;
    let mut batch = Vec::with_capacity(size);
    let mut flush = |batch: &mut Vec<T>, sent: &mut u64| -> Result<()> {
        let n = batch.len() as u64;
        send(std::mem::replace(batch, Vec::with_capacity(size)))?;
        *sent += n;
        bar.inc(n);
        Ok(())
    };
    let result = archive
        .for_each_row(|_, record, vector| {
            batch.push(item(record, vector)?);
            if batch.len() == size {
                flush(&mut batch, &mut sent)?;
            }
            Ok(())
        })
        .and_then(|()| match batch.is_empty() {
            true => Ok(()),
            false => flush(&mut batch, &mut sent),
        });
    bar.finish_and_clear();
    match result {
        Ok(()) => Ok(sent),
        Err(e) => Err(anyhow!(
            "{e:#}; exported {} of {} {noun}; re-run with --upsert to continue",
            grouped(sent),
            grouped(total)
        )),
    }
}
