//! Downloading one layer blob into the content store, unpacking it while
//! the bytes arrive.
//!
//! Each chunk goes two ways: batched onto disk through a verifying ingest
//! (blocking threads, so a slow disk does not stall the runtime) and through
//! a bounded channel to a blocking unpack task that decompresses and unpacks
//! it into a temp snapshot dir, checking the diff id as it goes. The unpack
//! always runs to its end before the download returns (it must not outlive
//! the pull and its hold on the gc lock); its temp dir is removed on any
//! failure. A blob already in the store, or one another pull is fetching, is
//! not downloaded again (the per-digest claim makes the second pull wait and
//! reuse it). A download that receives nothing for the stall timeout is
//! cancelled. A download cut by the network (or stalled) keeps its bytes in
//! the blob's partial file, and the next pull asks only for the rest
//! (`Range`), replaying the partial into the unpack; every other failure
//! deletes the ingest file.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use futures::StreamExt;
use oci_client::Client;
use oci_client::client::BlobResponse;
use oci_client::manifest::OciDescriptor;
use tokio::sync::mpsc;

use crate::content::Ingest;
use crate::digest::Digest;
use crate::error::Error;
use crate::pull::{Pull, registry_error};
use crate::reference::ImageRef;
use crate::snapshots::LayerSnapshots;

/// Bytes gathered before one disk write.
const WRITE_BATCH: usize = 1 << 20;
/// Chunks buffered between the download and the unpack.
const UNPACK_QUEUE: usize = 64;
/// How often a running download logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Which blob, from where.
pub struct Blob<'a> {
    pub client: &'a Client,
    pub reference: &'a oci_client::Reference,
    pub desc: &'a OciDescriptor,
    pub image: &'a ImageRef,
    pub host: &'a str,
}

/// Streams one blob into the content store unless it is already there,
/// unpacking it as snapshot `diff_id` on the way when that snapshot does not
/// exist yet. Resumes a download an earlier pull left partial; if the
/// resumed blob fails its digest (a corrupt partial) or the registry refuses
/// the range, downloads it once more from the start. Returns the blob's digest and size.
pub async fn fetch_blob(
    pull: &Pull<'_>,
    blob: Blob<'_>,
    diff_id: Option<Digest>,
) -> Result<(Digest, u64), Error> {
    let digest = Digest::parse(&blob.desc.digest)?;
    let size = u64::try_from(blob.desc.size).unwrap_or(0);
    let _claim = pull.inflight.claim(&digest).await;
    if pull.content.contains(&digest) {
        return Ok((digest, size));
    }
    let offset = pull.content.partial_len(&digest, size);
    match attempt(pull, &blob, &digest, size, diff_id.clone(), offset).await {
        // A corrupt partial, or a registry refusing the range (416): start
        // over, once.
        Err(e @ (Error::DigestMismatch { .. } | Error::Registry { .. })) if offset > 0 => {
            tracing::warn!(image = %blob.image, layer = %digest, offset, error = %e, "resumed download failed; downloading from the start");
            attempt(pull, &blob, &digest, size, diff_id, 0).await?;
        }
        other => other?,
    }
    Ok((digest, size))
}

/// One download of the blob, continuing from byte `offset` of its partial
/// file (0: from the start), unpacking alongside.
async fn attempt(
    pull: &Pull<'_>,
    blob: &Blob<'_>,
    digest: &Digest,
    size: u64,
    diff_id: Option<Digest>,
    offset: u64,
) -> Result<(), Error> {
    // Always a range request: a registry that honours it answers 206 (for
    // offset 0 too, which spares oci-client's second hash of the stream:
    // the ingest verifies the digest anyway), one that does not answers 200
    // with the whole blob, and the download starts over.
    let response = blob
        .client
        .pull_blob_stream_partial(blob.reference, blob.desc, offset, None)
        .await
        .map_err(|e| registry_error(blob.image, blob.host, e))?;
    let (mut stream, offset) = match response {
        BlobResponse::Partial(stream) => (stream, offset),
        BlobResponse::Full(stream) => {
            if offset > 0 {
                tracing::info!(image = %blob.image, layer = %digest, offset, "registry ignored the range request; downloading from the start");
            }
            (stream, 0)
        }
    };
    if offset > 0 {
        tracing::info!(image = %blob.image, layer = %digest, offset, size, "resuming an interrupted download");
    }

    // The unpack side, unless the snapshot is already there.
    let mut unpack = None;
    if let Some(diff_id) = diff_id {
        let claim = pull.unpacks.claim(&diff_id).await;
        if pull.layers.usage(&diff_id, digest).is_none() {
            let (tx, rx) = mpsc::channel(UNPACK_QUEUE);
            let task = spawn_unpack(pull.layers.clone(), rx, digest.clone(), diff_id);
            unpack = Some((tx, task, claim));
        }
    }
    let tx = unpack.as_ref().map(|(tx, _, _)| tx.clone());
    let downloaded = async {
        let ingest = open_ingest(pull, digest, offset, tx.clone()).await?;
        receive(pull, blob, digest, size, &mut stream, ingest, tx).await
    }
    .await;
    // Always wait for the unpack: it ends once the channel closes.
    let unpacked = match unpack {
        Some((tx, task, claim)) => {
            drop(tx);
            let result = task
                .await
                .map_err(|e| Error::Task(format!("unpack of {digest}: {e}")))
                .and_then(|r| r);
            drop(claim);
            Some(result)
        }
        None => None,
    };
    downloaded?;
    if let Some(result) = unpacked {
        result?;
        crate::fault::point("pull.layer_unpacked");
    }
    Ok(())
}

/// Opens the blob's resumable ingest at `offset`, feeding the bytes already
/// there to the unpack first (on a blocking thread: it re-reads the file).
async fn open_ingest(
    pull: &Pull<'_>,
    digest: &Digest,
    offset: u64,
    tx: Option<mpsc::Sender<Bytes>>,
) -> Result<Ingest, Error> {
    let content = pull.content.clone();
    let d = digest.clone();
    tokio::task::spawn_blocking(move || {
        content.resume(&d, offset, |chunk| {
            // A closed channel: the unpack failed; its error is reported.
            if let Some(tx) = &tx {
                let _ = tx.blocking_send(Bytes::copy_from_slice(chunk));
            }
        })
    })
    .await
    .map_err(|e| Error::Task(format!("resume of {digest}: {e}")))?
}

fn spawn_unpack(
    layers: LayerSnapshots,
    rx: mpsc::Receiver<Bytes>,
    blob: Digest,
    diff_id: Digest,
) -> tokio::task::JoinHandle<Result<(), Error>> {
    tokio::task::spawn_blocking(move || {
        let reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        layers.unpack_from(reader, &blob, &diff_id).map(|_| ())
    })
}

/// The download loop: every chunk to the ingest (in batches) and to the
/// unpack channel; commits the blob at the end. When the connection fails
/// or stalls, what arrived is written and kept for the next pull to resume;
/// any other failure deletes the ingest file.
async fn receive(
    pull: &Pull<'_>,
    blob: &Blob<'_>,
    digest: &Digest,
    size: u64,
    stream: &mut oci_client::client::SizedStream,
    mut ingest: Ingest,
    mut tx: Option<mpsc::Sender<Bytes>>,
) -> Result<(), Error> {
    let stall = pull.settings.stall_timeout();
    let image = blob.image;
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let started = Instant::now();
    let mut last_report = started;
    let resumed_from = ingest.written();
    let mut received: u64 = resumed_from;
    let row = pull
        .progress
        .start(&image.to_string(), digest, size, resumed_from);
    let network_failure = loop {
        let next = match tokio::time::timeout(stall, stream.next()).await {
            Ok(next) => next,
            Err(_) => {
                break Some(Error::Stalled {
                    reference: image.to_string(),
                    digest: digest.to_string(),
                    received,
                    secs: stall.as_secs(),
                });
            }
        };
        let chunk = match next {
            None => break None,
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => {
                break Some(Error::Download {
                    reference: image.to_string(),
                    digest: digest.to_string(),
                    received,
                    source: e,
                });
            }
        };
        received += chunk.len() as u64;
        row.update(received);
        batch.extend_from_slice(&chunk);
        // A closed channel means the unpack failed; the download still
        // completes, and the caller reports the unpack's error.
        if let Some(sender) = &tx
            && sender.send(chunk).await.is_err()
        {
            tx = None;
        }
        if batch.len() >= WRITE_BATCH {
            ingest = write_batch(ingest, std::mem::take(&mut batch), digest).await?;
        }
        if last_report.elapsed() >= PROGRESS_EVERY {
            last_report = Instant::now();
            tracing::info!(image = %image, layer = %digest, received, size, rate_mib_s = rate(received - resumed_from, started), "downloading");
        }
    };
    drop(tx);
    ingest = write_batch(ingest, batch, digest).await?;
    if let Some(e) = network_failure {
        tracing::warn!(image = %image, layer = %digest, received, size, "download interrupted; keeping {received} bytes to resume from");
        tokio::task::spawn_blocking(move || ingest.keep_partial())
            .await
            .map_err(|e| Error::Task(format!("keeping partial {digest}: {e}")))?;
        return Err(e);
    }
    let d = digest.clone();
    tokio::task::spawn_blocking(move || ingest.commit())
        .await
        .map_err(|e| Error::Task(format!("commit of {d}: {e}")))??;
    crate::fault::point("pull.blob_fetched");
    let fetched = received - resumed_from;
    tracing::info!(image = %image, layer = %digest, bytes = fetched, resumed_from, secs = started.elapsed().as_secs_f64(), rate_mib_s = rate(fetched, started), "layer downloaded");
    Ok(())
}

/// MiB/s since `started`, rounded to 0.1.
fn rate(bytes: u64, started: Instant) -> f64 {
    let secs = started.elapsed().as_secs_f64().max(0.001);
    (bytes as f64 / (1024.0 * 1024.0) / secs * 10.0).round() / 10.0
}

/// Appends `batch` to `ingest` on a blocking thread.
async fn write_batch(mut ingest: Ingest, batch: Vec<u8>, digest: &Digest) -> Result<Ingest, Error> {
    if batch.is_empty() {
        return Ok(ingest);
    }
    tokio::task::spawn_blocking(move || ingest.write(&batch).map(|()| ingest))
        .await
        .map_err(|e| Error::Task(format!("download of {digest}: {e}")))?
}

/// A blocking reader over the chunks of a download; EOF when the sender is
/// gone (download finished or failed: the diff id check tells which).
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_reader_yields_chunks_in_order_then_eof() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Bytes::from_static(b"hello ")).unwrap();
        tx.try_send(Bytes::new()).unwrap();
        tx.try_send(Bytes::from_static(b"world")).unwrap();
        drop(tx);
        let mut reader = ChannelReader {
            rx,
            current: Bytes::new(),
        };
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello world");
    }
}
